"""Task steps: the small task-specific pieces the one training engine calls, one module per kind of task
(as torchvision splits its datasets): ``classification``, ``generative``, ``sequence``, and ``..dqn``."""

from __future__ import annotations

from .base import Context, Step, build_optimizer, build_scheduler, eval_mode, learned
from .classification import BinaryClassificationStep, ClassificationStep
from .finetune import FinetuneStep
from .generative import CurveGANStep, GANStep, ReconstructionStep, VAEStep
from .sequence import (
    RegressionStep,
    SequenceRegressionStep,
    StatefulRegressionStep,
    TaggingStep,
)
from .speed import SpeedStep

__all__ = ["Context", "Step", "build_optimizer", "build_scheduler", "eval_mode", "learned", "STEPS", "get_step"]

STEPS: dict[str, type[Step]] = {
    "classification": ClassificationStep,
    "finetune": FinetuneStep,
    "speed": SpeedStep,
    "binary-classification": BinaryClassificationStep,
    "regression": RegressionStep,
    "reconstruction": ReconstructionStep,
    "vae": VAEStep,
    "gan": GANStep,
    "curve-gan": CurveGANStep,
    "tagging": TaggingStep,
    "sequence-regression": SequenceRegressionStep,
    "stateful-regression": StatefulRegressionStep,
}


def get_step(name: str) -> type[Step]:
    if name == "dqn":
        from .dqn import DQNStep

        return DQNStep
    return STEPS[name]
