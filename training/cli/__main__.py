"""``python -m training.cli RECIPE`` (and ``torchrun -m training.cli RECIPE``): ``zoo-train``."""

from .train import train_main

if __name__ == "__main__":
    train_main()
