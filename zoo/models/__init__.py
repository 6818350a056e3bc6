"""Built-in models. Importing this package registers every one of them."""

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
    toy,
    transfer,
    vae,
    vgg,
)
