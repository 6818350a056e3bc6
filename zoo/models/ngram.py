"""The n-gram language model (S3 L2407-2426)."""

from __future__ import annotations

import torch
from torch import nn

from .._api import Part, TensorSpec, register_model
from ._common import vector


class NGram(nn.Module):
    """Embedding(V, 10) of the context words → concatenated → Linear(.., 128) ReLU → Linear(128, V)."""

    def __init__(self, vocab_size: int = 97, context_size: int = 2, embedding_dim: int = 10) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embedding_dim)
        self.classify = nn.Sequential(
            nn.Linear(context_size * embedding_dim, 128), nn.ReLU(True), nn.Linear(128, vocab_size)
        )

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(context).flatten(1))


@register_model(
    "ngram",
    task="language-model",
    parts=(
        Part(
            "model",
            (TensorSpec("context", (2, "context_size"), dtype="int64", high="vocab_size"),),
            (vector("logits", "vocab_size"),),
        ),
    ),
    source="S3 L2407-2426",
    preprocessing={"kind": "tokens", "lowercase": False, "split": "whitespace"},
    recipes=("ngram-sonnet",),
    reference_params={"model": 16_171},
)
def ngram(vocab_size: int = 97, context_size: int = 2, embedding_dim: int = 10) -> nn.Module:
    """Predicts the next word from the previous two (trigram model).

    Departure: batched. The seed flattens with ``view(1, -1)``, one context at a
    time; here (N, context) → (N, V). The default V=97 is the sonnet's vocabulary.
    """
    return NGram(vocab_size, context_size, embedding_dim)
