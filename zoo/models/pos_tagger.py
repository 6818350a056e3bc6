"""The character-augmented LSTM part-of-speech tagger (S3 L2542-2581)."""

from __future__ import annotations

import torch
from torch import nn

from .._api import Part, TensorSpec, register_model

PAD, UNK = 0, 1


class CharLSTM(nn.Module):
    """Embedding(n_char, 10) → LSTM(10, 50); the output at each word's last character."""

    def __init__(self, n_char: int, char_dim: int, char_hidden: int) -> None:
        super().__init__()
        self.char_embed = nn.Embedding(n_char, char_dim)
        self.lstm = nn.LSTM(char_dim, char_hidden, batch_first=True)
        self.pad: int = PAD

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """chars (W, C) padded with 0 → (W, char_hidden)."""
        out, _ = self.lstm(self.char_embed(chars))
        last = ((chars != self.pad).sum(1) - 1).clamp(min=0)
        index = last.reshape(-1, 1, 1).expand(-1, 1, out.shape[2])
        return out.gather(1, index).squeeze(1)


class LSTMTagger(nn.Module):
    """Word embedding ⊕ char-LSTM feature → LSTM(150, 128) → Linear(128, n_tag) per word."""

    def __init__(
        self,
        n_word: int,
        n_char: int,
        n_tag: int,
        char_dim: int = 10,
        word_dim: int = 100,
        char_hidden: int = 50,
        word_hidden: int = 128,
    ) -> None:
        super().__init__()
        self.word_embed = nn.Embedding(n_word, word_dim)
        self.char_lstm = CharLSTM(n_char, char_dim, char_hidden)
        self.word_lstm = nn.LSTM(word_dim + char_hidden, word_hidden, batch_first=True)
        self.classify = nn.Linear(word_hidden, n_tag)

    def forward(self, words: torch.Tensor, chars: torch.Tensor) -> torch.Tensor:
        """words (N, T), chars (N, T, C), both padded with 0 → tag logits (N, T, n_tag)."""
        n, t, c = chars.shape
        char_features = self.char_lstm(chars.reshape(n * t, c)).reshape(n, t, -1)
        x = torch.cat((self.word_embed(words), char_features), dim=2)
        x, _ = self.word_lstm(x)
        return self.classify(x)


@register_model(
    "pos-tagger",
    task="tagging",
    parts=(
        Part(
            "model",
            (
                TensorSpec("words", (2, 5), dtype="int64", dynamic={0: "batch", 1: "seq"}, high="n_word"),
                TensorSpec(
                    "chars", (2, 5, 7), dtype="int64", dynamic={0: "batch", 1: "seq", 2: "chars"}, high="n_char"
                ),
            ),
            (TensorSpec("tag_logits", (2, 5, "n_tag"), dynamic={0: "batch", 1: "seq"}),),
        ),
    ),
    source="S3 L2542-2581",
    preprocessing={"kind": "tagging", "lowercase": True, "pad": PAD, "unk": UNK},
    recipes=("pos-tagger-toy", "pos-tagger-ud"),
    reference_params={"model": 157_207},
    reference_kwargs={"n_word": 8, "n_char": 26, "n_tag": 3},
)
def pos_tagger(n_word: int = 10, n_char: int = 28, n_tag: int = 3) -> nn.Module:
    """Part-of-speech tagger: a word LSTM over word embeddings and per-word char-LSTM features.

    Interface (replaces the seed's Python strings): ``words`` (N, T) word indices
    and ``chars`` (N, T, C) character indices, both padded with 0 (PAD); index 1 is
    UNK for words or characters not in the vocabulary (the seed raised KeyError).
    Vocabulary sizes include PAD and UNK: the defaults are the seed's toy
    vocabulary (8 words, 26 letters, 3 tags) plus those two. Both LSTMs run
    batch-first; being one-directional, trailing padding does not change real
    positions' outputs. 157,207 parameters for the seed's own 8/26/3.
    """
    return LSTMTagger(n_word, n_char, n_tag)
