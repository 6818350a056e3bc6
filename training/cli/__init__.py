"""The training CLIs: ``zoo-train`` (:mod:`.train`), ``zoo-eval``/``zoo-predict``/``zoo-dream`` (:mod:`.tools`) and
the ``zoo weights build/verify`` commands (:mod:`.weights`). ``python -m training.cli RECIPE`` is ``zoo-train``
(what ``torchrun -m training.cli`` runs on each process)."""

from __future__ import annotations

from .tools import dream_main, eval_main, predict_main
from .train import train_main
from .weights import weights_build_cmd, weights_verify_cmd

__all__ = [
    "dream_main",
    "eval_main",
    "predict_main",
    "train_main",
    "weights_build_cmd",
    "weights_verify_cmd",
]
