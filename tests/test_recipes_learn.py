"""Every recipe learns under its default profile: a short run on real data (built-in or generated where the
recipe has no files) must move its headline metric clearly away from the untrained model's value
(``training.steps.learned``), and its checkpoint must load and run. A recipe whose learning rate does not
learn fails here: ``test_a_dead_recipe_is_caught`` runs one and checks that.

Recipes with a dataset train on a fixed random subset of it and are evaluated on that same subset: a
healthy recipe fits a few hundred samples in a few dozen steps, a dead or diverging one does not. The
measured held-out results are ``benchmarks/recipes.py``'s job.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

import zoo
from training.checkpoint import load_checkpoint, model_from_checkpoint
from training.data import DataBundle, load_dataset, random_subset
from training.engine import TrainConfig, Trainer
from training.recipes import RECIPES, get_recipe, list_recipes
from training.steps import get_step, learned

#: Recipes whose data is generated or built in; the rest need $ZOO_DATA_DIR.
NO_FILES = {
    "none",
    "sonnet",
    "pos-toy",
    "sin-cos",
    "quadratic",
    "quadratic-1000",
    "gaussians",
    "linear-points",
    "poly",
    "logistic",
    "bn-quadratic",
    "digits",
}

#: Per recipe: optimiser steps, the subset size (None: the whole built-in data), profile overrides
#: (epochs; a smaller batch for the big CIFAR-10 networks), builder arguments. Profiles' optimisers and
#: learning rates are never changed here: a learning rate that does not learn fails its recipe's test.
BUDGET: dict[str, dict[str, Any]] = {
    "mnist-cnn-mnist": dict(steps=40, subset=256),
    "lenet-mnist": dict(steps=40, subset=256),
    "lenet-s3-mnist": dict(steps=40, subset=256),
    "mnist-lstm-mnist": dict(steps=40, subset=256),
    "mnist-cnn-bn-mnist": dict(steps=50, subset=256),
    "mlp-bn-mnist": dict(steps=40, subset=256),
    "mnist-cnn-wide-mnist": dict(steps=40, subset=256),
    "fashion-net-fashion-mnist": dict(steps=40, subset=256),
    "simple-cnn-cifar10": dict(steps=60, subset=128),
    # the big CIFAR-10 networks fit 16 images in batches of 8 (same optimiser and learning rate)
    "resnet-cifar10": dict(steps=40, subset=16, overrides={"batch_size": 8}),
    "resnet18-cifar10": dict(steps=40, subset=16, overrides={"batch_size": 8}),
    "inception-cifar10": dict(steps=60, subset=16, overrides={"batch_size": 8}),
    "vgg16-cifar10": dict(steps=160, subset=16, overrides={"batch_size": 8}),
    "alexnet-cifar10": dict(steps=80, subset=16, overrides={"batch_size": 8}),
    "transfer-cats-dogs": dict(steps=30, subset=32, model_kwargs={"backbone_weights": None}),
    "speednet-cifar10": dict(steps=30, subset=512, overrides={"batch_size": 128}),
    "autoencoder-mnist": dict(steps=60, subset=256),
    "conv-autoencoder-mnist": dict(steps=60, subset=256),
    "vae-mnist": dict(steps=60, subset=256),
    "gan-mnist": dict(steps=600, subset=512),
    "lsgan-mnist": dict(steps=600, subset=512),
    "dcgan-mnist": dict(steps=300, subset=256),
    "gan-curves": dict(steps=2000),
    "ngram-sonnet": dict(overrides={"epochs": 20}),
    "pos-tagger-toy": dict(overrides={"epochs": 60}),
    "pos-tagger-ud": dict(steps=20, subset=64),
    "dqn-cartpole": dict(),  # the whole profile: CartPole returns take ~300 episodes to climb
    "lstm-airline": dict(overrides={"epochs": 300}),
    "logistic-regression": dict(overrides={"epochs": 3000}),
    "bn-demo": dict(overrides={"epochs": 4}),
    "optimizer-comparison": dict(overrides={"epochs": 3}),
}

#: Too slow for the default suite on a 2-core CPU (a minute or more each): ``make test-all`` runs them,
#: and ``benchmarks/recipes.py`` measures each of them on the real test split.
SLOW = {
    "resnet-cifar10",
    "resnet18-cifar10",
    "inception-cifar10",
    "vgg16-cifar10",
    "alexnet-cifar10",
    "dqn-cartpole",
    "gan-mnist",
    "lsgan-mnist",
    "dcgan-mnist",
}

_BUNDLES: dict[tuple[str, int | None], DataBundle] = {}


def _bundle(recipe: str, data_dir: Path | None, subset: int | None) -> DataBundle | None:
    """The recipe's data cut to a fixed random subset, used as both splits (None: the recipe's own data)."""
    rec = get_recipe(recipe)
    dataset = rec.dataset
    if subset is None:
        return None
    key = (recipe, subset)
    if key not in _BUNDLES:
        full = load_dataset(dataset, data_dir, **rec.dataset_options)
        part = random_subset(full.train, subset)
        _BUNDLES[key] = replace(
            full, train=part, test=part, description=f"{full.description}, {subset} random training samples"
        )
    return _BUNDLES[key]


def _data_dir_for(recipe: str, request: pytest.FixtureRequest) -> Path | None:
    rec = RECIPES[recipe]
    return None if rec.dataset in NO_FILES else request.getfixturevalue("data_dir")


def run_short(recipe: str, out: Path, data_dir: Path | None, profile: str | None = None) -> list[dict[str, Any]]:
    """Run the recipe's budget; one summary per run (variant recipes run each variant)."""
    b = BUDGET.get(recipe, {})
    overrides = dict(b.get("overrides", {}))
    rec = get_recipe(recipe)
    prof = rec.profile(profile or rec.default)
    if b.get("subset") and b.get("steps"):  # enough passes over the subset for the steps (same lr)
        batch = overrides.get("batch_size", prof.batch_size)
        overrides.setdefault("epochs", max(prof.epochs, math.ceil(b["steps"] / math.ceil(b["subset"] / batch))))
    cfg = TrainConfig(
        recipe=recipe,
        profile=profile,
        data_dir=data_dir,
        device="cpu",
        out=out,
        quiet=True,
        max_steps=b.get("steps"),
        overrides=overrides,
        model_kwargs=dict(b.get("model_kwargs", {})),
        eval_first=True,
        data=_bundle(recipe, data_dir, b.get("subset")),
    )
    if rec.variants:
        from training.sweep import run_many

        result = run_many(cfg, [dict(v) for v in rec.variants], out, log=lambda m: None)
        return [{**r, "out_dir": str(out / r["label"])} for r in result["runs"]]
    return [Trainer(cfg, log=lambda m: None).fit()]


def test_every_recipe_has_a_budget_and_a_headline_metric():
    assert set(BUDGET) <= set(list_recipes())
    for name in list_recipes():
        headline = get_step(get_recipe(name).step).headline
        assert headline[1] in ("max", "min"), name


#: ``finetune`` starts from a card and reads a photo folder (``--from``, ``--data-dir``): tests/test_finetune.py
#: checks that it learns, on generated photos and on a slice of the real flowers.
@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in list_recipes() if n != "finetune"],
)
def test_recipe_learns(name, tmp_path, request):
    recipe = RECIPES[name]
    runs = run_short(name, tmp_path / "run", _data_dir_for(name, request))
    headline = get_step(recipe.step).headline
    verdicts = {r.get("label", name): learned(headline, r["initial"], r) for r in runs}
    if name == "bn-demo":  # the demo's point: the plain net learns less than the batch-normalised one
        plain, bn = runs
        assert verdicts["batch_norm=True"][0], verdicts
        assert bn["test_loss"] < plain["test_loss"] < plain["initial"]["test_loss"], verdicts
    else:
        assert all(ok for ok, _ in verdicts.values()), verdicts
    # what a run leaves behind loads and runs
    run_dir = Path(runs[0]["out_dir"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["recipe"] == name and "initial" in metrics
    ckpt = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert ckpt["model"]["name"] == recipe.model and ckpt["recipe"] == name
    model = model_from_checkpoint(ckpt)
    part = zoo.get_spec(recipe.model).resolved(**ckpt["model"]["kwargs"]).parts[0]
    with torch.no_grad():
        out = part.get(model)(*part.example_inputs())
    out = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape) for o in out] == [t.concrete_shape() for t in part.outputs]
    assert (run_dir / "curves.png").is_file() and (run_dir / "metrics.jsonl").is_file()


def test_a_dead_recipe_is_caught(tmp_path, request):
    """The bounds above fail a recipe that does not learn: SimpleCNN under ResNet's Adam 0.01 (the old default)."""
    [summary] = run_short(
        "simple-cnn-cifar10", tmp_path, _data_dir_for("simple-cnn-cifar10", request), profile="resnet-seed"
    )
    ok, how = learned(get_step("classification").headline, summary["initial"], summary)
    assert not ok, how


@pytest.mark.skipif(not os.environ.get("ZOO_TEST_LR"), reason="manual check: ZOO_TEST_LR=RECIPE=LR")
def test_recipe_with_a_chosen_learning_rate(tmp_path, request):
    """``ZOO_TEST_LR=vgg16-cifar10=0.01 pytest -k chosen`` runs one recipe's learn test at another lr."""
    name, _, lr = os.environ["ZOO_TEST_LR"].partition("=")
    BUDGET[name] = {**BUDGET.get(name, {}), "overrides": {**BUDGET.get(name, {}).get("overrides", {}), "lr": float(lr)}}
    test_recipe_learns(name, tmp_path, request)
