"""Spec helpers shared by the model files."""

from __future__ import annotations

from .._api import Part, TensorSpec

BATCH = {0: "batch"}

#: Preprocessing of MNIST-like digits as the seeds' ``ToTensor()`` does it: [0, 1], no shift.
MNIST_TO_TENSOR = {"kind": "image", "height": 28, "width": 28, "channels": 1, "mean": [0.0], "std": [1.0]}
#: ``ToTensor()`` then ``Normalize(0.5, 0.5)``: [-1, 1].
MNIST_HALF = {**MNIST_TO_TENSOR, "mean": [0.5], "std": [0.5]}
#: CIFAR-10 as the seeds normalise it.
CIFAR_HALF = {"kind": "image", "height": 32, "width": 32, "channels": 3, "mean": [0.5] * 3, "std": [0.5] * 3}
#: CIFAR-10 normalised with its own channel statistics (the speed recipe).
CIFAR_STATS = {**CIFAR_HALF, "mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}
#: Images at 224 with ImageNet statistics (transfer learning).
IMAGENET = {
    "kind": "image",
    "height": 224,
    "width": 224,
    "channels": 3,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}


def image_in(name: str = "image", channels: int | str = 1, height: int | str = 28, width: int | str = 28) -> TensorSpec:
    return TensorSpec(name, (2, channels, height, width), dynamic=BATCH)


def vector(name: str, size: int | str) -> TensorSpec:
    return TensorSpec(name, (2, size), dynamic=BATCH)


def classifier_part(channels: int | str = 1, height: int | str = 28, width: int | str = 28) -> tuple[Part, ...]:
    """The one part of an image classifier: ``image`` (N,C,H,W) → ``logits`` (N,num_classes)."""
    return (Part("model", (image_in("image", channels, height, width),), (vector("logits", "num_classes"),)),)
