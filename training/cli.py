"""``zoo-train``, ``zoo-eval`` and ``zoo-predict``."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from zoo.errors import ZooCommand

from .checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from .data import DataNotFoundError
from .engine import TrainConfig, Trainer
from .evaluate import evaluate_checkpoint
from .recipes import RECIPES, get_recipe, list_recipes
from .trials import convert_model_arg

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint=what)
        key, _, value = item.partition("=")
        out[key.strip()] = value.strip()
    return out


def _fixed(variant: dict[str, Any], overrides: dict[str, Any], model_kwargs: dict[str, Any]) -> bool:
    """Whether the command line sets every setting a recipe variant varies (then it trains that one run:
    ``zoo-train bn-demo --model-arg batch_norm=true``)."""
    keys = [k for k in variant if k != "label"]
    return all(k.removeprefix("model.") in model_kwargs if k.startswith("model.") else k in overrides for k in keys)


def _fail(e: Exception) -> None:
    raise click.ClickException(str(e)) from None


def _print_recipes(as_json: bool) -> None:
    rows = [
        {"name": r.name, "model": r.model, "step": r.step, "dataset": r.dataset, "profiles": list(r.profiles),
         "default_profile": r.default, "description": r.description, "source": r.source, "target": r.target,
         "departure": r.departure}
        for r in (RECIPES[n] for n in list_recipes())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        profiles = "/".join(f"{p}*" if p == r["default_profile"] else p for p in r["profiles"])
        click.echo(f"{r['name']:<{width}}  {r['model']:<18} {r['dataset']:<14} {profiles:<24} {r['description']}")
        if r["departure"]:
            click.echo(f"{'':<{width}}    default departs from the seed: {r['departure']}")
    click.echo("\n* = the default profile (what `zoo-train NAME` runs)")


@click.command(cls=ZooCommand, context_settings=CONTEXT)
@click.version_option(package_name="torch-model-zoo")
@click.argument("recipe", required=False)
@click.option("--list", "list_", is_flag=True, help="List the recipes and exit.")
@click.option("--profile",
              help="Default: the recipe's default (the tutorial's `seed` hyper-parameters, except where they do not "
                   "learn; `zoo-train --list` says where). seed: the tutorial's. fast: the faster GPU recipe.")
@click.option("--epochs", type=int, help="Override the profile's epochs.")
@click.option("--batch-size", type=int, help="Override the profile's batch size.")
@click.option("--lr", type=float, help="Override the profile's learning rate.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override any profile field (optimizer, momentum, weight_decay, precision, ...).")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Pass a builder argument to the model (see `zoo info MODEL`).")
@click.option("--dataset", help="Train on another compatible dataset (e.g. `digits`, built in, for MNIST recipes).")
@click.option("--data-dir", type=click.Path(path_type=Path),
              help="Folder holding the datasets (default: $ZOO_DATA_DIR, else ./data).")
@click.option("--download", is_flag=True, help="Let torchvision download a missing dataset into --data-dir.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default runs/<recipe>/<time>/).")
@click.option("--resume", type=click.Path(path_type=Path), help="Continue from a checkpoint (or a run folder).")
@click.option("--overwrite", is_flag=True,
              help="Train into an --out folder that already holds a run, replacing that run's files (without it, "
                   "such a folder is refused: two runs' histories would mix).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (data order, init, augmentation).")
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many optimiser steps (smoke runs).")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, help="Also checkpoint every N steps (default: at each evaluation, i.e. each epoch for most recipes).")
@click.option("--eval-samples", type=click.IntRange(min=1), help="Evaluate on a fixed random subset of N test samples (quick smoke runs).")
@click.option("--holdout", type=click.IntRange(min=1),
              help="Evaluate on N samples held out of the train split instead of the test split (to choose "
                   "hyper-parameters without looking at the test split).")
@click.option("--eval-first", is_flag=True, help="Also evaluate the untrained model (reported as \"initial\").")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--tensorboard", is_flag=True, help="Write TensorBoard logs (scalars, histograms, images, graph).")
@click.option("--sweep", multiple=True, metavar="KEY=V1,V2",
              help="Run the cartesian product of values (repeatable), in order, as an Optuna grid study (resumable, "
                   "shareable with --storage); results in sweep.csv/json and comparison.png.")
@click.option("--search", multiple=True, metavar="SPACE",
              help="Optuna search over FIELD=log:LOW:HIGH | LOW:HIGH | V1,V2,... (comma-separated fields, or repeat "
                   "the flag), e.g. \"lr=log:1e-4:1e-1,batch_size=32,64,128\"; model.ARG for builder arguments.")
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
              help="--search: finished (completed or pruned) trials the study should have, across all its workers.")
@click.option("--sampler", type=click.Choice(["tpe", "random", "grid"]), default="tpe", show_default=True)
@click.option("--pruner", type=click.Choice(["median", "hyperband", "none"]), default="median", show_default=True,
              help="Stops trials whose metric (reported after every evaluation) cannot win.")
@click.option("--storage", metavar="URL",
              help="Where the study lives: sqlite:///PATH, postgresql://..., mysql://..., or journal:PATH (a file "
                   "several processes on one machine share). Default: sqlite in the run folder. Workers given the same "
                   "URL and --study share one study.")
@click.option("--study", "study_name", help="Study name (default: the recipe's name).")
@click.option("--keep-all", is_flag=True, help="Keep every trial's checkpoints (default: only the best trial's).")
@click.option("--set-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read --set values (and model arguments) from a JSON file: a search's best.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the final metrics as JSON on the last stdout line.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_main(recipe: str | None, list_: bool, profile: str | None, epochs: int | None, batch_size: int | None,
               lr: float | None, sets: tuple[str, ...], model_args: tuple[str, ...], dataset: str | None,
               data_dir: Path | None, download: bool, device: str, out: Path | None, resume: Path | None,
               overwrite: bool, seed: int,
               max_steps: int | None, checkpoint_every: int, eval_samples: int | None, holdout: int | None, eval_first: bool, compile_: bool, tensorboard: bool, sweep: tuple[str, ...],
               search: tuple[str, ...], trials: int, sampler: str, pruner: str, storage: str | None,
               study_name: str | None, keep_all: bool, set_file: Path | None, as_json: bool, quiet: bool) -> None:
    """Train RECIPE (e.g. resnet-cifar10) and write checkpoints, metrics and plots to a run folder.

    \b
    zoo-train --list                                  all recipes
    zoo-train mnist-cnn-mnist --dataset digits        offline, on the built-in digits
    zoo-train resnet-cifar10 --profile fast           the faster GPU recipe
    zoo-train resnet-cifar10 --resume runs/resnet-cifar10/<time>
    zoo-train mnist-cnn-mnist --sweep lr=0.01,0.001 --sweep batch_size=32,64
    zoo-train simple-cnn-cifar10 --search "lr=log:1e-4:1e-1,batch_size=32,64,128" --trials 12
    zoo-train simple-cnn-cifar10 --set-file runs/simple-cnn-cifar10/search-<time>/best.json
    torchrun --nproc-per-node 2 -m training.cli mnist-cnn-mnist     data-parallel (DDP)
    """
    if list_:
        _print_recipes(as_json)
        return
    if recipe is None and resume is None:
        raise click.UsageError("give a RECIPE (see `zoo-train --list`) or --resume PATH")
    if sweep and search:
        raise click.UsageError("--sweep runs a grid and --search samples a space: give one of them")
    overrides: dict[str, Any] = {}
    file_model_args: dict[str, Any] = {}
    if set_file is not None:
        try:
            saved = json.loads(set_file.read_text())
            overrides.update(saved["set"])
            file_model_args = dict(saved.get("model_args") or {})
        except (ValueError, KeyError, TypeError) as e:
            raise click.BadParameter(f"not a settings file with a 'set' object ({e})", param_hint="--set-file") from None
    overrides.update(_pairs(sets, "--set"))
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            overrides[key] = value
    try:
        name = recipe or load_checkpoint(resume)["recipe"]  # type: ignore[arg-type]
        rec = get_recipe(name)
        model_kwargs = {k: convert_model_arg(rec, k, v) for k, v in {**file_model_args, **_pairs(model_args, "--model-arg")}.items()}
        cfg = TrainConfig(
            recipe=name, profile=profile, overrides=overrides, model_kwargs=model_kwargs, dataset=dataset,
            data_dir=data_dir, download=download, device=device, out=out, seed=seed, max_steps=max_steps,
            compile=compile_, tensorboard=tensorboard, resume=resume, checkpoint_every=checkpoint_every, eval_samples=eval_samples,
            eval_first=eval_first, holdout=holdout, overwrite=overwrite,
            quiet=quiet,
        )
        if sweep or search:
            from .search import search as run_search

            # a search's default folder is fixed, so that the same command again resumes its study
            default = (f"sweep-{datetime.now().strftime('%Y%m%d-%H%M%S')}" if sweep else f"search-{study_name or 'study'}")
            result = run_search(replace(cfg, out=None), sweep or search, trials, out or Path("runs") / name / default,
                                sampler=sampler, pruner=pruner, storage=storage, study_name=study_name,
                                grid=bool(sweep), keep_all=keep_all or bool(sweep),
                                log=(lambda m: None) if as_json else click.echo)
        elif rec.variants and resume is None and not all(_fixed(v, overrides, model_kwargs) for v in rec.variants):
            from .sweep import run_many

            base_out = out or Path("runs") / name / datetime.now().strftime("%Y%m%d-%H%M%S")
            result = run_many(replace(cfg, out=None), [dict(v) for v in rec.variants], base_out)
        else:
            result = Trainer(cfg).fit()
    except (DataNotFoundError, CheckpointError, ValueError, RuntimeError) as e:
        _fail(e)
        return
    if as_json:
        click.echo(json.dumps(result, default=str))
    else:
        click.echo(f"done: {result.get('out_dir')}")


@click.command(cls=ZooCommand, context_settings=CONTEXT)
@click.version_option(package_name="torch-model-zoo")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data).")
@click.option("--dataset", help="Evaluate on another compatible dataset than the one trained on.")
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Where plots go (default: <run>/eval/).")
@click.option("--tsne", "tsne_samples", type=click.IntRange(min=0), default=0, is_flag=False, flag_value=1000, metavar="[N]",
              help="Also draw tsne.png: t-SNE of the features before the last linear layer for N test samples "
                   "(default 1000), coloured by class; reports a 5-NN accuracy in the picture.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def eval_main(checkpoint: Path, data_dir: Path | None, dataset: str | None, device: str, out: Path | None,
              tsne_samples: int, as_json: bool) -> None:
    """Evaluate CHECKPOINT (a checkpoint, a run folder, or trained weights such as lenet.mnist) on its test
    data: metrics, per-class accuracy, confusion-matrix PNG (and t-SNE)."""
    try:
        ckpt = load_checkpoint(checkpoint)
        if "weights" in ckpt:  # a registry name: plots go to runs/eval/NAME
            out = out or Path("runs") / "eval" / ckpt["weights"]["name"]
        else:
            path = checkpoint if checkpoint.is_file() else checkpoint / "checkpoints" / "last.pt"
            out = out or path.resolve().parent.parent / "eval"
        metrics = evaluate_checkpoint(ckpt, data_dir, dataset, device, out, tsne_samples)
    except (DataNotFoundError, CheckpointError, ValueError, RuntimeError) as e:
        _fail(e)
        return
    metrics["plots"] = str(out)
    if as_json:
        click.echo(json.dumps(metrics))
        return
    for k, v in metrics.items():
        if k == "per_class_accuracy":
            click.echo("per-class accuracy:")
            for label, acc in v.items():
                click.echo(f"  {label:>14}  {acc:.4f}")
        elif k != "confusion_matrix":
            click.echo(f"{k}: {v}")


@click.command(cls=ZooCommand, context_settings=CONTEXT)
@click.version_option(package_name="torch-model-zoo")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True, help="How many labels to show per image.")
@click.option("--invert", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True,
              help="Single-channel models: invert dark-on-light photos (auto looks at the border).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
def predict_main(checkpoint: Path, files: tuple[Path, ...], top_k: int, invert: str, as_json: bool) -> None:
    """Classify image FILES with an image-classifier CHECKPOINT (or trained weights: mnist-cnn.mnist).

    Images are converted as the model was trained: grayscale or RGB, resized, normalised; for digit
    models a photo of a dark digit on light paper is inverted (as the seed's predict script does).
    """
    import numpy as np
    import torch

    from handlers.imaging import BadImage, decode_image, preprocess, softmax

    try:
        ckpt = load_checkpoint(checkpoint)
    except CheckpointError as e:
        _fail(e)
        return
    if ckpt["model"]["task"] != "image-classification":
        raise click.ClickException(
            f"zoo-predict classifies images; {ckpt['model']['name']} is a {ckpt['model']['task']} model "
            f"(serve it with `zoo-serve` for its own endpoint)")
    model = model_from_checkpoint(ckpt)
    labels = ckpt["labels"] or [str(i) for i in range(1000)]
    failed = 0
    for path in files:
        try:
            x = preprocess(decode_image(Path(path).read_bytes()), ckpt["preprocessing"], invert)
        except (OSError, BadImage) as e:
            failed += 1
            click.echo(f"{path}: error: {e}", err=True)
            continue
        with torch.no_grad():
            probs = softmax(model(torch.from_numpy(x)[None]).numpy())[0]
        order = np.argsort(-probs)[:top_k]
        top = [{"label": labels[i], "probability": round(float(probs[i]), 6)} for i in order]
        if as_json:
            click.echo(json.dumps({"file": str(path), "top": top}))
        else:
            click.echo(f"{path}: " + ", ".join(f"{t['label']} ({t['probability']:.3f})" for t in top))
    if failed:
        sys.exit(1)


@click.command(cls=ZooCommand, context_settings=CONTEXT)
@click.version_option(package_name="torch-model-zoo")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--layer", help="The layer to amplify (default: a convolution two thirds of the way in; see --list-layers).")
@click.option("--list-layers", is_flag=True, help="Print the model's convolutional layers and exit.")
@click.option("--octaves", type=click.IntRange(1, 10), default=4, show_default=True, help="Scales to dream at.")
@click.option("--octave-scale", type=click.FloatRange(1.05, 4), default=1.4, show_default=True,
              help="Size ratio between octaves.")
@click.option("--steps", type=click.IntRange(1, 1000), default=20, show_default=True, help="Gradient steps per octave.")
@click.option("--lr", type=click.FloatRange(0, 10, min_open=True), default=0.02, show_default=True,
              help="Step size (the gradient is normalised to a mean absolute value of 1).")
@click.option("--max-size", type=click.IntRange(16, 4096), default=512, show_default=True,
              help="Shrink larger images so that their longer side is this many pixels.")
@click.option("--out", type=click.Path(path_type=Path), help="PNG to write (default: IMAGE's name + .dream.png, here).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def dream_main(checkpoint: Path, image: Path, layer: str | None, list_layers: bool, octaves: int, octave_scale: float,
               steps: int, lr: float, max_size: int, out: Path | None, as_json: bool, quiet: bool) -> None:
    """Deep Dream: amplify what one layer of an image CHECKPOINT (or weights name) sees in IMAGE; write a PNG.

    \b
    zoo-dream runs/resnet-cifar10/<time>/checkpoints/best.pt photo.jpg --octaves 4 --steps 20
    zoo-dream best.pt photo.jpg --list-layers          the layers to choose from
    zoo-dream best.pt photo.jpg --layer layer3.0.conv2 --out dream.png
    """
    import numpy as np
    import torch
    from PIL import Image
    from tqdm import tqdm

    from handlers.imaging import BadImage, decode_image, denormalize, normalize, to_png

    from .dream import default_layer, dream, feature_layers

    try:
        ckpt = load_checkpoint(checkpoint)
        pre = ckpt.get("preprocessing") or {}
        if pre.get("kind") != "image":
            raise ValueError(f"Deep Dream needs an image model; {ckpt['model']['name']} takes "
                             f"{pre.get('kind', 'non-image')} input")
        model = model_from_checkpoint(ckpt)
        if list_layers:
            click.echo("\n".join(feature_layers(model)) or "(no convolutional layers)")
            return
        picture = decode_image(Path(image).read_bytes())
    except (CheckpointError, ValueError, BadImage) as e:
        _fail(e)
        return
    except OSError as e:
        raise click.ClickException(f"cannot read {image}: {e.strerror or e}") from None
    channels = int(pre.get("channels", 3))
    picture = picture.convert("L" if channels == 1 else "RGB")
    if max(picture.size) > max_size:
        picture.thumbnail((max_size, max_size), Image.BILINEAR)
    pixels = np.asarray(picture)
    pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    x = torch.from_numpy(normalize(pixels, pre))[None]
    mean = torch.tensor(pre.get("mean", [0.0] * channels), dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(pre.get("std", [1.0] * channels), dtype=torch.float32).view(1, -1, 1, 1)
    bounds = ((0 - mean) / std, (1 - mean) / std)
    bar = tqdm(total=octaves * steps, unit="step", disable=quiet or None, file=sys.stderr)

    def progress(it):
        for i in it:
            yield i
            bar.update(1)

    try:
        result = dream(model, x, layer or default_layer(model), octaves=octaves, octave_scale=octave_scale,
                       steps=steps, lr=lr, bounds=bounds, progress=progress)
    except ValueError as e:
        _fail(e)
        return
    finally:
        bar.close()
    out = out or Path(Path(image).stem + ".dream.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(to_png(denormalize(result.image[0].numpy(), pre)))
    summary = {"out": str(out), "layer": result.layer, "size": list(picture.size[::-1]), "octaves": octaves,
               "steps": steps, "activation_before": result.activation_before,
               "activation_after": result.activation_after}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"{out}: layer {result.layer}, mean squared activation "
                   f"{result.activation_before:.4g} -> {result.activation_after:.4g}")


@click.command("build", cls=ZooCommand, context_settings=CONTEXT)
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data).")
@click.option("--device", default="cpu", show_default=True, help="Where to train (cpu, cuda, auto); measuring runs on the CPU.")
@click.option("--run", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Package a finished `zoo-train` run instead of training (its settings must be the card's).")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder for the training (default $ZOO_HOME/builds/NAME/<time>).")
@click.option("--ship", is_flag=True, help="Maintainers: write the file into the package (zoo/weights/files) and its "
              "card into the packaged registry, instead of $ZOO_HOME.")
@click.option("--trained-on", metavar="DEVICE",
              help="With --run: the machine that trained it (e.g. \"NVIDIA H200\"), for runs that do not record it "
                   "(made before runs did). Never guessed from the machine that builds.")
@click.option("--trained-commit", metavar="SHA", help="With --run: the project commit it was trained at, for runs that "
              "do not record it.")
@click.option("--notes", help="A sentence to add to the card's notes (where it was trained and measured is written anyway).")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def weights_build_cmd(name: str, data_dir: Path | None, device: str, run: Path | None, out: Path | None, ship: bool,
                      trained_on: str | None, trained_commit: str | None, notes: str | None, as_json: bool) -> None:
    """Train weights NAME with its card's recipe and settings (what `zoo-train` runs), or take a finished run (--run:
    its profile and hyper-parameters become the card's), store the final weights as safetensors (fp16 where the
    metric holds within 0.1 point), measure them on the evaluation split, write the card."""
    from .weights import build

    if run is None and (trained_on or trained_commit):
        raise click.UsageError("--trained-on and --trained-commit describe a finished run: give --run too")
    card = build(name, data_dir=data_dir, device=device, run=run, out=out, ship=ship,
                 log=lambda m: click.echo(m, err=True), trained_on=trained_on, trained_commit=trained_commit,
                 notes=notes)
    click.echo(json.dumps(card, indent=2) if as_json else f"built {name}: {card['file']['name']} "
               f"({card['file']['size']:,} bytes, {card['file']['dtype']})")


@click.command("verify", cls=ZooCommand, context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@click.option("--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data).")
@click.option("--device", default="cpu", show_default=True)
@click.option("--full", is_flag=True, help="Measure on the whole evaluation split, also where the card has a fixed "
              "verify subset (the big CIFAR-10 networks: 2,000 test images by default, minutes on a CPU in full).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def weights_verify_cmd(names: tuple[str, ...], data_dir: Path | None, device: str, full: bool, as_json: bool) -> None:
    """Recompute each card's metrics (default: every built weights) and print card vs measured; exits 1 when one is
    outside its tolerance. Cards with a verify subset are measured on it (its figure is on the card beside the
    whole split's) unless --full."""
    from zoo.weights import get_weights, list_weights

    from .weights import format_value, verify

    chosen = list(names) or [n for n in list_weights() if get_weights(n).built]

    def show(row: dict[str, Any]) -> None:
        if as_json:
            return
        status = {True: "ok", False: "FAIL", None: row.get("note", "not built")}[row["ok"]]
        click.echo(f"{row['name']:<28} {row['metric']:<18} card {format_value(row['card']):>10}  "
                   f"measured {format_value(row['measured']):>10}  {status}"
                   + (f"  ({row['split']})" if row.get("split", "").startswith("verify") else ""))

    rows = verify(chosen, data_dir, device, log=show, full=full)
    failed = [r["name"] for r in rows if r["ok"] is False]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        checked = [r for r in rows if r["ok"] is not None]
        click.echo(f"{len(checked) - len(failed)} of {len(checked)} within tolerance"
                   + (f"; {len(rows) - len(checked)} not checked" if len(checked) < len(rows) else "")
                   + (f"; failed: {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


def zoo_cli() -> click.Group:
    """``zoo``: the catalogue CLI of :mod:`zoo.cli`, with the weights commands that need training."""
    from zoo.cli import main as catalogue
    from zoo.cli import weights_group

    weights_group.add_command(weights_build_cmd)
    weights_group.add_command(weights_verify_cmd)
    return catalogue


def zoo_main() -> None:
    zoo_cli()()


if __name__ == "__main__":  # torchrun -m training.cli RECIPE
    train_main()
