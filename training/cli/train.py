"""``zoo-train``: one run, a recipe's variants, a sweep or a search (``torchrun -m training.cli`` for DDP)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from zoo.errors import ZooCommand, ZooError

from ..checkpoint import CheckpointError, load_checkpoint
from ..data import DataNotFoundError
from ..engine import TrainConfig, Trainer
from ..finetune import class_weights_override, profile_for
from ..finetune import prepare as prepare_finetune
from ..recipes import get_recipe
from ..trials import convert_model_arg
from .common import CONTEXT, fail, fixed, pairs, print_recipes


@click.command(cls=ZooCommand, context_settings=CONTEXT)
@click.version_option(package_name="torch-model-zoo")
@click.argument("recipe", required=False)
@click.option("--list", "list_", is_flag=True, help="List the recipes and exit.")
@click.option(
    "--profile",
    help="Default: the recipe's default (the tutorial's `seed` hyper-parameters, except where they do not "
    "learn; `zoo-train --list` says where). seed: the tutorial's. fast: the faster GPU recipe.",
)
@click.option("--epochs", type=int, help="Override the profile's epochs.")
@click.option("--batch-size", type=int, help="Override the profile's batch size.")
@click.option("--lr", type=float, help="Override the profile's learning rate.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any profile field (optimizer, momentum, weight_decay, precision, ...).",
)
@click.option(
    "--model-arg",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Pass a builder argument to the model (see `zoo info MODEL`).",
)
@click.option("--dataset", help="Train on another compatible dataset (e.g. `digits`, built in, for MNIST recipes).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Folder holding the datasets (default: $ZOO_DATA_DIR, else ./data).",
)
@click.option("--download", is_flag=True, help="Let torchvision download a missing dataset into --data-dir.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default runs/<recipe>/<time>/).")
@click.option("--resume", type=click.Path(path_type=Path), help="Continue from a checkpoint (or a run folder).")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Train into an --out folder that already holds a run, replacing that run's files (without it, "
    "such a folder is refused: two runs' histories would mix).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (data order, init, augmentation).")
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many optimiser steps (smoke runs).")
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=0),
    default=0,
    help="Also checkpoint every N steps (default: at each evaluation, i.e. each epoch for most recipes).",
)
@click.option(
    "--eval-samples",
    type=click.IntRange(min=1),
    help="Evaluate on a fixed random subset of N test samples (quick smoke runs).",
)
@click.option(
    "--holdout",
    type=click.IntRange(min=1),
    help="Evaluate on N samples held out of the train split instead of the test split (to choose "
    "hyper-parameters without looking at the test split).",
)
@click.option("--eval-first", is_flag=True, help='Also evaluate the untrained model (reported as "initial").')
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--tensorboard", is_flag=True, help="Write TensorBoard logs (scalars, histograms, images, graph).")
@click.option(
    "--sweep",
    multiple=True,
    metavar="KEY=V1,V2",
    help="Run the cartesian product of values (repeatable), in order, as an Optuna grid study (resumable, "
    "shareable with --storage); results in sweep.csv/json and comparison.png.",
)
@click.option(
    "--search",
    multiple=True,
    metavar="SPACE",
    help="Optuna search over FIELD=log:LOW:HIGH | LOW:HIGH | V1,V2,... (comma-separated fields, or repeat "
    'the flag), e.g. "lr=log:1e-4:1e-1,batch_size=32,64,128"; model.ARG for builder arguments.',
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="--search: finished (completed or pruned) trials the study should have, across all its workers.",
)
@click.option("--sampler", type=click.Choice(["tpe", "random", "grid"]), default="tpe", show_default=True)
@click.option(
    "--pruner",
    type=click.Choice(["median", "hyperband", "none"]),
    default="median",
    show_default=True,
    help="Stops trials whose metric (reported after every evaluation) cannot win.",
)
@click.option(
    "--storage",
    metavar="URL",
    help="Where the study lives: sqlite:///PATH, postgresql://..., mysql://..., or journal:PATH (a file "
    "several processes on one machine share). Default: sqlite in the run folder. Workers given the same "
    "URL and --study share one study.",
)
@click.option("--study", "study_name", help="Study name (default: the recipe's name).")
@click.option("--keep-all", is_flag=True, help="Keep every trial's checkpoints (default: only the best trial's).")
@click.option(
    "--set-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read --set values (and model arguments) from a JSON file: a search's best.json.",
)
@click.option(
    "--from",
    "base",
    metavar="WEIGHTS|CHECKPOINT|none",
    help="finetune: what to start from: a shipped or local card (resnet18.cifar10), a run's checkpoint or "
    "folder, or `none` (random weights, for comparison). --data-dir is then your photo folder.",
)
@click.option("--arch", help="finetune --from none: the architecture to train from random weights (default resnet18).")
@click.option(
    "--size",
    type=click.IntRange(min=1),
    help="finetune: the side, in pixels, photos are read at (default: the model's own size, or 64 for models "
    "that take any size and were trained smaller).",
)
@click.option(
    "--val-split",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="finetune, a folder without val/: the fraction of each class held out for validation (seeded by --seed).",
)
@click.option(
    "--on-bad-image",
    type=click.Choice(["skip", "fail"]),
    default="skip",
    show_default=True,
    help="finetune: photos that do not decode are listed (bad_images.csv) and skipped, or stop the run.",
)
@click.option("--class-weights", is_flag=True, help="finetune: weight the loss by class (unbalanced folders).")
@click.option("--json", "as_json", is_flag=True, help="Print the final metrics as JSON on the last stdout line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_main(
    recipe: str | None,
    list_: bool,
    profile: str | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    sets: tuple[str, ...],
    model_args: tuple[str, ...],
    dataset: str | None,
    data_dir: Path | None,
    download: bool,
    device: str,
    out: Path | None,
    resume: Path | None,
    overwrite: bool,
    seed: int,
    max_steps: int | None,
    checkpoint_every: int,
    eval_samples: int | None,
    holdout: int | None,
    eval_first: bool,
    compile_: bool,
    tensorboard: bool,
    sweep: tuple[str, ...],
    search: tuple[str, ...],
    trials: int,
    sampler: str,
    pruner: str,
    storage: str | None,
    study_name: str | None,
    keep_all: bool,
    set_file: Path | None,
    base: str | None,
    arch: str | None,
    size: int | None,
    val_split: float,
    on_bad_image: str,
    class_weights: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Train RECIPE (e.g. resnet-cifar10) and write checkpoints, metrics and plots to a run folder.

    \b
    zoo-train --list                                  all recipes
    zoo-train mnist-cnn-mnist --dataset digits        offline, on the built-in digits
    zoo-train resnet-cifar10 --profile fast           the faster GPU recipe
    zoo-train resnet-cifar10 --resume runs/resnet-cifar10/<time>
    zoo-train mnist-cnn-mnist --sweep lr=0.01,0.001 --sweep batch_size=32,64
    zoo-train simple-cnn-cifar10 --search "lr=log:1e-4:1e-1,batch_size=32,64,128" --trials 12
    zoo-train simple-cnn-cifar10 --set-file runs/simple-cnn-cifar10/search-<time>/best.json
    zoo-train finetune --from resnet18.cifar10 --data-dir PHOTOS     your own photos
    torchrun --nproc-per-node 2 -m training.cli mnist-cnn-mnist     data-parallel (DDP)
    """
    if list_:
        print_recipes(as_json)
        return
    if recipe is None and resume is None:
        raise click.UsageError("give a RECIPE (see `zoo-train --list`) or --resume PATH")
    if sweep and search:
        raise click.UsageError("--sweep runs a grid and --search samples a space: give one of them")
    finetuning = recipe == "finetune" and resume is None
    given = [
        f for f, v in (("--from", base), ("--arch", arch), ("--size", size), ("--class-weights", class_weights)) if v
    ]
    if given and not finetuning:
        raise click.UsageError(f"{', '.join(given)}: options of `zoo-train finetune` only")
    if finetuning and (base is None or data_dir is None):
        raise click.UsageError("zoo-train finetune needs --from (e.g. resnet18.cifar10, or none) and --data-dir PHOTOS")
    overrides: dict[str, Any] = {}
    file_model_args: dict[str, Any] = {}
    if set_file is not None:
        try:
            saved = json.loads(set_file.read_text())
            overrides.update(saved["set"])
            file_model_args = dict(saved.get("model_args") or {})
        except (ValueError, KeyError, TypeError) as e:
            raise click.BadParameter(
                f"not a settings file with a 'set' object ({e})", param_hint="--set-file"
            ) from None
    overrides.update(pairs(sets, "--set"))
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            overrides[key] = value
    try:
        finetune_fields: dict[str, Any] = {}
        if finetuning:
            assert base is not None and data_dir is not None
            finetune_fields = prepare_finetune(
                base,
                data_dir,
                arch=arch,
                size=size,
                val_fraction=val_split,
                split_seed=seed,
                on_bad_image=on_bad_image,
                progress=not quiet,
                log=lambda m: click.echo(m, err=as_json),
            )
            profile = profile_for(base, profile)
            if class_weights:
                overrides.update(class_weights_override(profile))
        name = recipe or load_checkpoint(resume)["recipe"]  # type: ignore[arg-type]
        rec = get_recipe(name)
        model_kwargs = {
            k: convert_model_arg(rec, k, v) for k, v in {**file_model_args, **pairs(model_args, "--model-arg")}.items()
        }
        model_kwargs = {**finetune_fields.pop("model_kwargs", {}), **model_kwargs}
        cfg = TrainConfig(
            recipe=name,
            profile=profile,
            overrides=overrides,
            model_kwargs=model_kwargs,
            dataset=dataset,
            data_dir=data_dir,
            download=download,
            device=device,
            out=out,
            seed=seed,
            max_steps=max_steps,
            compile=compile_,
            tensorboard=tensorboard,
            resume=resume,
            checkpoint_every=checkpoint_every,
            eval_samples=eval_samples,
            eval_first=eval_first,
            holdout=holdout,
            overwrite=overwrite,
            quiet=quiet,
            **finetune_fields,
        )
        if sweep or search:
            from ..search import search as run_search

            # a search's default folder is fixed, so that the same command again resumes its study
            default = (
                f"sweep-{datetime.now().strftime('%Y%m%d-%H%M%S')}" if sweep else f"search-{study_name or 'study'}"
            )
            result = run_search(
                replace(cfg, out=None),
                sweep or search,
                trials,
                out or Path("runs") / name / default,
                sampler=sampler,
                pruner=pruner,
                storage=storage,
                study_name=study_name,
                grid=bool(sweep),
                keep_all=keep_all or bool(sweep),
                log=(lambda m: None) if as_json else click.echo,
            )
        elif rec.variants and resume is None and not all(fixed(v, overrides, model_kwargs) for v in rec.variants):
            from ..sweep import run_many

            base_out = out or Path("runs") / name / datetime.now().strftime("%Y%m%d-%H%M%S")
            result = run_many(replace(cfg, out=None), [dict(v) for v in rec.variants], base_out)
        else:
            result = Trainer(cfg).fit()
    except (DataNotFoundError, CheckpointError, ZooError, ValueError, RuntimeError) as e:
        fail(e)
        return
    if as_json:
        click.echo(json.dumps(result, default=str))
    else:
        click.echo(f"done: {result.get('out_dir')}")
