"""Built-in models. Importing this package registers every one of them.

The preprocessing presets the models (and the training recipes) share are public here.
"""

from . import (  # noqa: F401
    alexnet,
    autoencoder,
    dqn,
    gan,
    inception,
    lenet,
    mnist_nets,
    ngram,
    pos_tagger,
    resnet,
    sequence,
    simple_cnn,
    speednet,
    toy,
    transfer,
    vae,
    vgg,
)
from ._common import CIFAR_HALF, CIFAR_STATS, IMAGENET, MNIST_HALF, MNIST_TO_TENSOR

__all__ = ["CIFAR_HALF", "CIFAR_STATS", "IMAGENET", "MNIST_HALF", "MNIST_TO_TENSOR"]
