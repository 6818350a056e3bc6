"""``zoo-eval``, ``zoo-predict`` and ``zoo-dream``: what a checkpoint does on data, files and pictures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zoo.errors import ZooCommand

from ..checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from ..data import DataNotFoundError
from ..evaluate import evaluate_checkpoint
from .common import CONTEXT, fail


@click.command(cls=ZooCommand, context_settings=CONTEXT)
@click.version_option(package_name="torch-model-zoo")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data)."
)
@click.option("--dataset", help="Evaluate on another compatible dataset than the one trained on.")
@click.option("--device", default="auto", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Where plots go (default: <run>/eval/).")
@click.option(
    "--tsne",
    "tsne_samples",
    type=click.IntRange(min=0),
    default=0,
    is_flag=False,
    flag_value=1000,
    metavar="[N]",
    help="Also draw tsne.png: t-SNE of the features before the last linear layer for N test samples "
    "(default 1000), coloured by class; reports a 5-NN accuracy in the picture.",
)
@click.option(
    "--tta",
    type=click.IntRange(0, 2),
    default=None,
    help="Image classifiers: average test-time views (0: the image; 1: and its mirror; 2: and 1-pixel translations "
    "of both, six views) instead of the recipe's own; the single view's accuracy is reported beside it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def eval_main(
    checkpoint: Path,
    data_dir: Path | None,
    dataset: str | None,
    device: str,
    out: Path | None,
    tsne_samples: int,
    tta: int | None,
    as_json: bool,
) -> None:
    """Evaluate CHECKPOINT (a checkpoint, a run folder, or trained weights such as lenet.mnist) on its test
    data: metrics, per-class accuracy, confusion-matrix PNG (and t-SNE)."""
    try:
        ckpt = load_checkpoint(checkpoint)
        if "weights" in ckpt:  # a registry name: plots go to runs/eval/NAME
            out = out or Path("runs") / "eval" / ckpt["weights"]["name"]
        else:
            path = checkpoint if checkpoint.is_file() else checkpoint / "checkpoints" / "last.pt"
            out = out or path.resolve().parent.parent / "eval"
        metrics = evaluate_checkpoint(ckpt, data_dir, dataset, device, out, tsne_samples, tta=tta)
    except (DataNotFoundError, CheckpointError, ValueError, RuntimeError) as e:
        fail(e)
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
@click.option(
    "--top-k", type=click.IntRange(min=1), default=1, show_default=True, help="How many labels to show per image."
)
@click.option(
    "--invert",
    type=click.Choice(["auto", "yes", "no"]),
    default="auto",
    show_default=True,
    help="Single-channel models: invert dark-on-light photos (auto looks at the border).",
)
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
        fail(e)
        return
    if ckpt["model"]["task"] != "image-classification":
        raise click.ClickException(
            f"zoo-predict classifies images; {ckpt['model']['name']} is a {ckpt['model']['task']} model "
            f"(serve it with `zoo-serve` for its own endpoint)"
        )
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
@click.option(
    "--layer", help="The layer to amplify (default: a convolution two thirds of the way in; see --list-layers)."
)
@click.option("--list-layers", is_flag=True, help="Print the model's convolutional layers and exit.")
@click.option("--octaves", type=click.IntRange(1, 10), default=4, show_default=True, help="Scales to dream at.")
@click.option(
    "--octave-scale", type=click.FloatRange(1.05, 4), default=1.4, show_default=True, help="Size ratio between octaves."
)
@click.option("--steps", type=click.IntRange(1, 1000), default=20, show_default=True, help="Gradient steps per octave.")
@click.option(
    "--lr",
    type=click.FloatRange(0, 10, min_open=True),
    default=0.02,
    show_default=True,
    help="Step size (the gradient is normalised to a mean absolute value of 1).",
)
@click.option(
    "--max-size",
    type=click.IntRange(16, 4096),
    default=512,
    show_default=True,
    help="Shrink larger images so that their longer side is this many pixels.",
)
@click.option("--out", type=click.Path(path_type=Path), help="PNG to write (default: IMAGE's name + .dream.png, here).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def dream_main(
    checkpoint: Path,
    image: Path,
    layer: str | None,
    list_layers: bool,
    octaves: int,
    octave_scale: float,
    steps: int,
    lr: float,
    max_size: int,
    out: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
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

    from ..dream import default_layer, dream, feature_layers

    try:
        ckpt = load_checkpoint(checkpoint)
        pre = ckpt.get("preprocessing") or {}
        if pre.get("kind") != "image":
            raise ValueError(
                f"Deep Dream needs an image model; {ckpt['model']['name']} takes {pre.get('kind', 'non-image')} input"
            )
        model = model_from_checkpoint(ckpt)
        if list_layers:
            click.echo("\n".join(feature_layers(model)) or "(no convolutional layers)")
            return
        picture = decode_image(Path(image).read_bytes())
    except (CheckpointError, ValueError, BadImage) as e:
        fail(e)
        return
    except OSError as e:
        raise click.ClickException(f"cannot read {image}: {e.strerror or e}") from None
    channels = int(pre.get("channels", 3))
    picture = picture.convert("L" if channels == 1 else "RGB")
    if max(picture.size) > max_size:
        picture.thumbnail((max_size, max_size), Image.Resampling.BILINEAR)
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
        result = dream(
            model,
            x,
            layer or default_layer(model),
            octaves=octaves,
            octave_scale=octave_scale,
            steps=steps,
            lr=lr,
            bounds=bounds,
            progress=progress,
        )
    except ValueError as e:
        fail(e)
        return
    finally:
        bar.close()
    out = out or Path(Path(image).stem + ".dream.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(to_png(denormalize(result.image[0].numpy(), pre)))
    summary = {
        "out": str(out),
        "layer": result.layer,
        "size": list(picture.size[::-1]),
        "octaves": octaves,
        "steps": steps,
        "activation_before": result.activation_before,
        "activation_after": result.activation_after,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{out}: layer {result.layer}, mean squared activation "
            f"{result.activation_before:.4g} -> {result.activation_after:.4g}"
        )
