"""Sequence regressors: S1's RNN (sin → cos) and S3's LSTM (airline passengers)."""

from __future__ import annotations

import torch
from torch import nn

from .._api import Part, TensorSpec, register_model

SEQ = {0: "batch", 1: "seq"}


class RNNRegressor(nn.Module):
    """RNN(1, 32, tanh) + Linear(32, 1) on every step, with the hidden state passed in and out."""

    def __init__(self, input_size: int = 1, hidden_size: int = 32) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size=input_size, hidden_size=hidden_size, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor, h_state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r_out, h_state = self.rnn(x, h_state)
        return self.out(r_out), h_state


@register_model(
    "rnn-regressor",
    task="sequence-regression",
    parts=(
        Part(
            "model",
            (
                TensorSpec("x", (2, 10, "input_size"), dynamic=SEQ),
                TensorSpec("h0", (1, 2, "hidden_size"), dynamic={1: "batch"}),
            ),
            (TensorSpec("y", (2, 10, 1), dynamic=SEQ), TensorSpec("hn", (1, 2, "hidden_size"), dynamic={1: "batch"})),
        ),
    ),
    source="S1 L1410-1432",
    preprocessing={"kind": "sequence", "features": 1, "stateful": True},
    recipes=("rnn-sin-cos",),
    reference_params={"model": 1_153},
)
def rnn_regressor(input_size: int = 1, hidden_size: int = 32) -> nn.Module:
    """S1's RNN that reads sin(t) and predicts cos(t), carrying its state across calls.

    Interface: the hidden state is an explicit input and output, (1, N, 32); pass
    zeros to start (the seed passes ``None``). The seed applies the Linear layer in
    a Python loop over steps; here to all steps at once (same function).
    """
    return RNNRegressor(input_size, hidden_size)


class LSTMRegressor(nn.Module):
    """LSTM(2, 4, 2 layers) + Linear(4, 1) on every step."""

    def __init__(self, input_size: int = 2, hidden_size: int = 4, num_layers: int = 2) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.reg = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.reg(out)


@register_model(
    "lstm-regressor",
    task="sequence-regression",
    parts=(
        Part(
            "model",
            (TensorSpec("x", (2, 12, "input_size"), dynamic=SEQ),),
            (TensorSpec("y", (2, 12, 1), dynamic=SEQ),),
        ),
    ),
    source="S3 L2268-2281",
    preprocessing={"kind": "sequence", "features": 2, "look_back": 2},
    recipes=("lstm-airline",),
    reference_params={"model": 293},
)
def lstm_regressor(input_size: int = 2, hidden_size: int = 4, num_layers: int = 2) -> nn.Module:
    """S3's two-layer LSTM that predicts next month's passengers from the previous two.

    Interface: batch-first (N, steps, look_back) instead of the seed's (steps, N, look_back).
    """
    return LSTMRegressor(input_size, hidden_size, num_layers)
