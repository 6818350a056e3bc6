"""The DQN Q-network (S1 L1815-1827)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import labels
from .._api import Part, register_model
from ._common import vector


class QNet(nn.Module):
    """Linear(states, 10) ReLU Linear(10, actions); weights drawn from N(0, 0.1)."""

    def __init__(self, n_states: int = 4, n_actions: int = 2, hidden: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_states, hidden)
        self.fc1.weight.data.normal_(0, 0.1)
        self.out = nn.Linear(hidden, n_actions)
        self.out.weight.data.normal_(0, 0.1)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.fc1(state)))


@register_model(
    "dqn",
    task="q-network",
    parts=(Part("model", (vector("state", "n_states"),), (vector("q_values", "n_actions"),)),),
    source="S1 L1815-1827",
    preprocessing={"kind": "vector", "env": "CartPole-v1"},
    labels=labels.CARTPOLE_ACTIONS,
    recipes=("dqn-cartpole",),
    reference_params={"model": 72},
)
def dqn(n_states: int = 4, n_actions: int = 2, hidden: int = 10) -> nn.Module:
    """S1's CartPole Q-network: state (N, 4) → Q-values (N, 2)."""
    return QNet(n_states, n_actions, hidden)
