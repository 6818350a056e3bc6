"""The shipped CIFAR-10 cards, reproduced by a loop that shares nothing with the training engine's data path:
the JPEG files read one by one with Pillow, the weights' own transform (``Weights.transforms()``), the model
from ``zoo.get_model(..., weights=...)``, plain fp32 PyTorch. Each card's test accuracy must hold within 0.5 point.

The default suite reads the card's fixed verify subset (2,000 of the 10,000 test images, a seeded draw across
every class, its figure on the card); ``-m slow`` reads all 10,000 against the card's whole-split figure."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import zoo
from zoo.weights import get_weights, list_weights

CIFAR = [n for n in list_weights() if n.endswith(".cifar10") and get_weights(n).built and get_weights(n).shipped]


def _test_files(data_dir: Path) -> list[tuple[Path, int]]:
    from training.data import locate_image_tree  # only to find (and if needed unpack) the JPEG tree

    tree = locate_image_tree(data_dir, ("cifar10", "cifar-10"))
    if tree is None:
        pytest.skip(f"no CIFAR-10 image tree under {data_dir}")
    classes = sorted(p.name for p in (tree / "test").iterdir() if p.is_dir())
    return [(f, i) for i, c in enumerate(classes) for f in sorted((tree / "test" / c).iterdir())]


def _accuracy(name: str, files: list[tuple[Path, int]]) -> float:
    weights = get_weights(name)
    labels = weights.labels
    assert labels is not None and [labels[i] for i in range(10)] == sorted(labels), "labels are the class folders"
    model = zoo.get_model(weights.model, weights=name).eval()
    transform = weights.transforms()
    assert transform is not None
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(files), 500):
            chunk = files[start : start + 500]
            x = torch.stack([transform(Image.open(f)) for f, _ in chunk])
            predicted = model(x).argmax(1)
            correct += int((predicted == torch.tensor([y for _, y in chunk])).sum())
    return correct / len(files)


def _one_view(metrics: dict) -> float:
    """The card's accuracy of one view per image, as this loop (and a served model) reads: a card whose recipe
    evaluates with test-time augmentation (speednet) records it beside its headline."""
    return float(metrics.get("test_accuracy_single_view", metrics["test_accuracy"]))


# CI: the ResNets; Inception's loop (50 s) with `make test-all`, to keep CI within its 20 minutes
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n.startswith("inception") else n for n in CIFAR]
)
def test_an_independent_loop_reproduces_the_card_on_its_verify_subset(name, data_dir):
    files = _test_files(data_dir)
    assert len(files) == 10_000
    subset = get_weights(name).card.get("verify_subset")
    if subset is None:  # small networks: their card has only the whole split, which is quick to read
        accuracy, card = _accuracy(name, files), _one_view(get_weights(name).metrics)
    else:  # the card's draw: seed 0 over the test split in class-folder order
        index = torch.randperm(len(files), generator=torch.Generator().manual_seed(subset["seed"]))[: subset["samples"]]
        accuracy = _accuracy(name, [files[i] for i in sorted(index.tolist())])
        card = _one_view(subset["metrics"])
    assert abs(accuracy - card) <= 0.005, f"{name}: independent loop {accuracy:.4f}, card {card:.4f}"


@pytest.mark.slow
@pytest.mark.parametrize("name", CIFAR)
def test_an_independent_loop_reproduces_the_card_on_all_10000_test_images(name, data_dir):
    files = _test_files(data_dir)
    accuracy, card = _accuracy(name, files), _one_view(get_weights(name).metrics)
    assert abs(accuracy - card) <= 0.005, f"{name}: independent loop {accuracy:.4f}, card {card:.4f}"
