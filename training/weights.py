"""Build the zoo's trained weights: ``zoo weights build NAME`` (``verify`` lives in :mod:`training.verify`).

``build`` runs the card's recipe with its recorded settings through the one training engine (what
``zoo-train`` runs), or takes a finished ``zoo-train`` run with the same settings (``--run``), stores the
final weights as safetensors (fp16 where the headline metric holds within 0.1 point, else fp32), measures
them on the evaluation split and writes the card.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import zoo
from zoo.weights import (
    FILES_DIR,
    REGISTRY_FILE,
    WeightsError,
    get_weights,
    list_weights,
    registry_path,
    save_file,
    serialize,
    weights_dir,
    write_card,
    zoo_home,
)

from .checkpoint import load_checkpoint, rebuild_kwargs
from .commands import train_command
from .data.sources import DATASETS, GENERATED
from .engine import TrainConfig, Trainer
from .evaluate import evaluate_checkpoint
from .machine import device_name
from .provenance import run_provenance
from .recipes import get_recipe
from .steps import get_step

#: fp16 is kept when the headline metric moves by at most this: 0.1 point of an accuracy (0.001), 0.1 % else.
FP16_ACCURACY_TOLERANCE = 1e-3
FP16_RELATIVE_TOLERANCE = 1e-3
#: ``verify`` passes when |measured - card| <= atol + rtol * |card| (per card: ``verify_tolerance``).
DEFAULT_TOLERANCE = {"atol": 2e-3, "rtol": 2e-3}
#: ``zoo weights verify`` (and so CI) measures classifiers with larger test splits on a fixed draw of this many
#: samples, whose figure the card carries beside the whole split's (``--full`` measures the whole split).
VERIFY_SUBSET = 2000
#: The steps whose cards carry that subset's figure (a class-balanced draw needs a class label per sample).
SUBSET_STEPS = ("classification", "speed")
SUBSET_DRAW = (
    "a seeded random draw (seed 0) across the whole test split, every class in it (training.data.random_subset)"
)
#: What the package may carry: 24 MiB a file (an 11 M-parameter network in fp16 is 22 MB), 96 MiB in all.
MAX_FILE_BYTES = 24 * 2**20
MAX_TOTAL_BYTES = 96 * 2**20


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (round(v, 6) if isinstance(v, float) else v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k.startswith("test_")
    }


def headline_of(recipe: str) -> tuple[str, str]:
    name, mode, _ = get_step(get_recipe(recipe).step).headline
    return name, mode


# --------------------------------------------------------------------------- build


def read_run(run: Path) -> dict[str, Any]:
    """A finished zoo-train run's ``config.json``; WeightsError when ``run`` is not one."""
    try:
        config = json.loads((run / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise WeightsError(f"{run} is not a zoo-train run folder (no readable config.json)") from None
    if not (run / "metrics.json").is_file() or not (run / "checkpoints" / "last.pt").is_file():
        raise WeightsError(
            f"{run} holds no finished run (metrics.json and checkpoints/last.pt); let it finish "
            f"(`zoo-train --resume {run / 'checkpoints' / 'last.pt'}`)"
        )
    return config


def take_run_settings(run: Path, config: dict[str, Any], card: dict[str, Any]) -> None:
    """Set the card's training settings from a finished run: the run is the truth.

    The run must train the card's weights (its recipe, dataset and model arguments) on the whole train split to
    the end of its profile. Its profile, seed and hyper-parameters are taken as they are; where the hyper-parameters
    differ from what the profile says today (a default changed since, or ``--set`` was given), the differences
    become the card's overrides, so that the card's command reproduces the run.
    """
    t = card["training"]
    rec = get_recipe(t["recipe"])
    expected = {
        "recipe": t["recipe"],
        "dataset": t.get("dataset") or rec.dataset,
        "model_kwargs": {**rec.model_kwargs, **(t.get("model_args") or {})},
    }
    got = {k: config.get(k) for k in expected}
    got["model_kwargs"] = {k: v for k, v in (config.get("model_kwargs") or {}).items() if k in expected["model_kwargs"]}
    differ = [f"{k} {got[k]!r}, the card's {expected[k]!r}" for k in expected if got[k] != expected[k]]
    if differ:
        raise WeightsError(
            f"{run} did not train {card['name']} ({'; '.join(differ)}); train it with `{train_command(card)}`"
        )
    if config.get("max_steps"):
        raise WeightsError(f"{run} stopped at --max-steps {config['max_steps']}; a build runs the whole profile")
    if config.get("holdout"):
        raise WeightsError(
            f"{run} trained on part of the train split (--holdout {config['holdout']}); a build trains on all of it"
        )
    profile = str(config.get("profile") or rec.default)
    try:
        defined = rec.profile(profile).to_dict()
    except (KeyError, ValueError):
        raise WeightsError(f"{run} used profile {profile!r}, which {rec.name} no longer has") from None
    ran = dict(config.get("hyperparameters") or {})
    overrides = {
        k: v
        for k, v in ran.items()
        if k != "notes" and k in defined and json.dumps(v, sort_keys=True) != json.dumps(defined[k], sort_keys=True)
    }
    t.update({"profile": profile, "seed": int(config.get("seed", 0)), "overrides": overrides})


def shared_with_start(ckpt: dict[str, Any], dtype: str, ship: bool) -> dict[str, Any] | None:
    """The tensors a run kept exactly as the weights it started from (a frozen backbone), as a ``file.shares``
    record plus their ``keys``; None where nothing is shared. Shared tensors must be bit-identical and stored in the
    same dtype (what loads is then exactly what was measured); shipped weights share only shipped ones."""
    spec = zoo.get_spec(ckpt["model"]["name"])
    for kwarg, prefix in spec.start_kwargs.items():
        source = ckpt["model"]["kwargs"].get(kwarg)
        if not isinstance(source, str) or source not in list_weights():
            continue
        base = get_weights(source)
        if (ship and not base.shipped) or (base.card.get("file") or {}).get("dtype") != dtype:
            continue
        base_state = base.state_dict()
        own = ckpt["state_dict"]
        keys = [
            k
            for k, v in base_state.items()
            if prefix + k in own and own[prefix + k].shape == v.shape and torch.equal(own[prefix + k], v)
        ]
        if keys:
            return {"weights": base.name, "sha256": base.sha256, "prefix": prefix, "keys": keys}
    return None


def run_history(run: Path) -> list[dict[str, float]]:
    """The run's evaluations, epoch by epoch (``metrics.jsonl``: its losses, metrics and times), for the card's
    training curves."""
    rows = []
    path = run / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.is_file() else []:
        record = json.loads(line)
        rows.append(
            {
                k: round(float(v), 6)
                for k, v in record.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            }
        )
    return rows


#: A confusion matrix is kept for classifiers of at most this many named classes (a picture a person reads).
MAX_CONFUSION_CLASSES = 50


def evaluation_record(metrics: dict[str, Any], split: str, labels: list[str] | None) -> dict[str, Any] | None:
    """What a full evaluation found beyond its scalars: the confusion matrix (rows: true class) on ``split``; None
    where there is none to draw (no named classes, or more than :data:`MAX_CONFUSION_CLASSES`)."""
    matrix = metrics.get("confusion_matrix")
    if not matrix or not labels or len(matrix) > MAX_CONFUSION_CLASSES:
        return None
    return {
        "split": split,
        "confusion_matrix": metrics["confusion_matrix"],
        "per_class_accuracy": {
            k: round(v, 6) for k, v in metrics.get("per_class_accuracy", {}).items() if math.isfinite(v)
        },
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _holds(metric: str, reference: float, candidate: float) -> bool:
    if metric.endswith("accuracy"):
        return abs(candidate - reference) <= FP16_ACCURACY_TOLERANCE
    return abs(candidate - reference) <= FP16_RELATIVE_TOLERANCE * max(abs(reference), 1e-12)


def build(
    name: str,
    data_dir: Path | None = None,
    device: str = "cpu",
    run: Path | None = None,
    out: Path | None = None,
    ship: bool = False,
    log: Callable[[str], None] = print,
    trained_on: str | None = None,
    trained_commit: str | None = None,
    notes: str | None = None,
) -> dict[str, Any]:
    """Train (or take ``run``), store, measure and card the weights ``name``; return the card.

    ``trained_on``/``trained_commit`` name the machine and commit of a run that does not record them (runs made
    before they did); ``notes`` adds a sentence to the card's notes."""
    if run is not None and name not in list_weights():
        card: dict[str, Any] = card_for_run(name, run)  # a fine-tuned run makes a card of its own
    else:
        card = json.loads(json.dumps(dict(get_weights(name).card)))
    card["name"] = name
    model_name = str(card["model"])
    t = card["training"]
    rec = get_recipe(t["recipe"])
    if run is None:
        run = out or zoo_home() / "builds" / name / datetime.now().strftime("%Y%m%d-%H%M%S")
        log(f"training {name}: {train_command(card)} → {run}")
        if t["recipe"] == "finetune":
            from .finetune import finetune

            finetune(
                str(t["from"]),
                str(t["photos"]),
                size=t.get("size"),
                profile=t["profile"],
                overrides=dict(t.get("overrides") or {}),
                device=device,
                out=run,
                seed=int(t.get("seed", 0)),
            )
        else:
            Trainer(
                TrainConfig(
                    recipe=t["recipe"],
                    profile=t["profile"],
                    overrides=dict(t.get("overrides") or {}),
                    model_kwargs=dict(t.get("model_args") or {}),
                    dataset=t.get("dataset"),
                    data_dir=data_dir,
                    device=device,
                    out=run,
                    seed=int(t.get("seed", 0)),
                )
            ).fit()
    config = read_run(run)
    take_run_settings(run, config, card)
    where = run_provenance(config, trained_on, trained_commit)
    summary = json.loads((run / "metrics.json").read_text())
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    metric, mode = headline_of(t["recipe"])

    log(f"measuring {name} in fp32 and fp16 on its evaluation split ...")
    with tempfile.TemporaryDirectory() as plots:  # the evaluation's artifacts: its confusion matrix
        fp32 = evaluate_checkpoint(ckpt, data_dir, device="cpu", out=Path(plots) / "fp32")
        half = {k: (v.half().float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()}
        fp16 = evaluate_checkpoint({**ckpt, "state_dict": half}, data_dir, device="cpu", out=Path(plots) / "fp16")
    use_fp16 = _holds(metric, float(fp32[metric]), float(fp16[metric]))
    dtype = "float16" if use_fp16 else "float32"
    measured = fp16 if use_fp16 else fp32
    log(f"  {metric}: fp32 {fp32[metric]:.6g}, fp16 {fp16[metric]:.6g} → stored as {dtype}")
    subset: dict[str, Any] | None = None
    if rec.step in SUBSET_STEPS and int(measured.get("eval_samples") or 0) > VERIFY_SUBSET:
        stored = {**ckpt, "state_dict": half} if use_fp16 else ckpt
        subset = {
            "samples": VERIFY_SUBSET,
            "seed": 0,
            "draw": SUBSET_DRAW,
            "metrics": _scalars(evaluate_checkpoint(stored, data_dir, device="cpu", eval_samples=VERIFY_SUBSET)),
        }
        log(f"  {metric} on the fixed {VERIFY_SUBSET:,}-image verify subset: {subset['metrics'][metric]:.6g}")

    target = (FILES_DIR if ship else weights_dir()) / f"{name}.safetensors"
    header: dict[str, Any] = {
        "weights": name,
        "model": model_name,
        "model_kwargs": ckpt["model"]["kwargs"],
        "meta": ckpt.get("meta") or {},
    }
    stored, shares = ckpt["state_dict"], shared_with_start(ckpt, dtype, ship)
    if shares is not None:  # a frozen backbone equal to other weights' tensors: stored once, in those weights
        keys = shares.pop("keys")
        prefix, shares["tensors"] = shares["prefix"], len(keys)
        header["shared_keys"] = keys
        stored = {k: v for k, v in stored.items() if not (k.startswith(prefix) and k[len(prefix) :] in set(keys))}
        log(f"  {len(keys)} frozen tensors are {shares['weights']}'s own: the file holds the other {len(stored)}")
    size = len(serialize(stored, header, dtype))
    if ship and size > MAX_FILE_BYTES:
        raise WeightsError(
            f"{name}: {size / 2**20:.1f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB a shipped file "
            f"may take; build it into the cache instead (without --ship)"
        )
    if ship:
        others = sum(p.stat().st_size for p in FILES_DIR.glob("*.safetensors") if p.name != target.name)
        if others + size > MAX_TOTAL_BYTES:
            raise WeightsError(
                f"{name}: shipping {size / 2**20:.1f} MiB would take the package's weights to "
                f"{(others + size) / 2**20:.1f} MiB, over the {MAX_TOTAL_BYTES // 2**20} MiB they may "
                "take in all; build it into the cache instead (without --ship)"
            )
    try:
        sha = save_file(stored, target, header, dtype=dtype)
    except OSError as e:
        raise WeightsError(f"cannot write {target} ({e.strerror}); set ZOO_HOME to a writable folder") from None

    with torch.device("meta"):
        params = zoo.count_parameters(zoo.get_model(model_name, **rebuild_kwargs(ckpt)))
    data = {
        "name": ckpt["dataset"],
        **DATASETS.get(ckpt["dataset"], GENERATED),
        "split": "test",
        "split_description": _split_description(rec.name, ckpt["dataset"], measured),
        "samples": measured.get("eval_samples"),
    }
    meta = ckpt.get("meta") or {}
    if ckpt["dataset"] == "photo-folder":  # which photos, exactly: the folder's content and the split
        options = meta.get("dataset_options") or {}
        data.update(
            {
                "folder": options.get("photos"),
                "content_sha256": meta.get("content_sha256"),
                "split_seed": options.get("split_seed"),
                "val_fraction": options.get("val_fraction") if meta.get("layout") == "flat" else None,
                "validation_folder": meta.get("validation_folder"),
                "class_counts": meta.get("class_counts"),
            }
        )
    card.update(
        {
            "model": model_name,
            "task": ckpt["model"]["task"],
            "model_kwargs": ckpt["model"]["kwargs"],
            "file": {
                "name": target.name,
                "sha256": sha,
                "size": size,
                "dtype": dtype,
                "parameters": params,
                **({"shares": shares} if shares else {}),
            },
            "in_package": bool(ship),
            "dataset": data,
            "headline": {"metric": metric, "mode": mode},
            "metrics": _scalars(measured),
            "preprocessing": ckpt.get("preprocessing"),
            "labels": ckpt.get("labels"),
        }
    )
    card.pop("evaluation", None)
    evaluation = evaluation_record(measured, data["split_description"], ckpt.get("labels"))
    if evaluation is not None:
        card["evaluation"] = evaluation
    card.pop("int8", None)  # measured on the file this build replaces: `zoo weights int8 NAME --record` again
    if subset is not None:
        card["verify_subset"] = subset
    else:
        card.pop("verify_subset", None)
    hyper = ckpt["hyperparameters"]
    precision = (
        ckpt.get("precision") or config.get("precision") or summary.get("precision") or hyper.get("precision") or "fp32"
    )
    here = device_name("cpu")  # the machine that measures (the build), not necessarily the one that trained
    t.update(
        {
            "hyperparameters": hyper,
            "epochs": summary.get("epoch"),
            "steps": summary.get("global_step"),
            "device": summary.get("device"),
            "device_name": where["device_name"],
            "wall_time_s": summary.get("wall_time_s"),
            "precision": precision,
            "final_metrics_fp32": _scalars(fp32),
            # the run's own record, never the building machine's: not recorded is said as such
            "versions": config.get("versions") or ckpt.get("versions") or {},
            "commit": where["commit"],
            "segments": [
                {k: v for k, v in segment.items() if k not in ("command", "precision_reason")}
                for segment in config.get("segments") or []
            ],
            "provenance": {
                **where["sources"],
                "versions": "recorded by the run"
                if config.get("versions") or ckpt.get("versions")
                else "not recorded by the run",
                "measured_on": "the build",
            },
            "created": ckpt.get("created"),
            "history": run_history(run),
            "command": train_command(card),
            "run_command": " ".join(
                [Path(str(c)).name if i == 0 else str(c) for i, c in enumerate(config.get("command", []))]
            ),
            "checkpoint": "last (the weights after the final epoch; never chosen on the test split)",
            "measured_on": f"{here} (the build)",
        }
    )
    card["training"] = t
    wall = summary.get("wall_time_s")
    card["build_time"] = (
        f"{summary.get('epoch')} epochs: {wall:.0f} s on {where['device_name']}" if wall else card.get("build_time")
    )
    card["notes"] = " ".join(
        filter(
            None,
            [
                f"Trained on {where['device_name']} ({precision}; torch {t['versions'].get('torch', 'not recorded')}, commit {where['commit']}) "
                f"by `{t['run_command']}`; measured on {here} from the stored {dtype} file "
                f"(fp32 {fp32[metric]:.6g}, {dtype} {measured[metric]:.6g}).",
                notes,
            ],
        )
    )
    card["built_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_card(name, card, REGISTRY_FILE if ship else registry_path(local=True))
    log(f"{name}: {metric} {measured[metric]:.6g} ({data['split_description']}); card written")
    return card


def card_for_run(name: str, run: Path) -> dict[str, Any]:
    """A new card for a fine-tuned run (``zoo weights build resnet18.flowers --run RUN``): what it started from,
    the photos it read and how; ``build`` fills in the file, the metrics and the provenance."""
    config = read_run(run)
    if config.get("recipe") != "finetune":
        raise WeightsError(
            f"no card named {name!r}; only a fine-tuned run (`zoo-train finetune`) makes a new card, and {run} ran "
            f"{config.get('recipe')!r} (see `zoo weights list` for the cards it can build)"
        )
    model, _, tag = name.partition(".")
    if model != config.get("model") or not tag:
        raise WeightsError(
            f"name the card {config.get('model')}.TAG (e.g. {config.get('model')}.my-photos), not {name!r}"
        )
    base = dict(config.get("base") or {})
    photos = json.loads((run / "photos.json").read_text())["root"]  # the folder the run read (its scan)
    start = base.get("name") or base.get("path")
    return {
        "model": model,
        "task": "image-classification",
        "default": False,
        "base": base,
        "summary": f"{model} fine-tuned on the photos of {photos} from {start or 'random weights'}",
        "training": {
            "recipe": "finetune",
            "profile": config.get("profile"),
            "dataset": "photo-folder",
            "from": start or "none",
            "photos": photos,
            "size": base.get("size"),
        },
    }


def _split_description(recipe: str, dataset: str, measured: dict[str, Any]) -> str:
    if recipe == "dqn-cartpole":
        return "100 greedy CartPole-v1 episodes (seeds 1,000,000+)"
    if recipe == "gan-curves":
        return "10,000 fresh samples (seed 12345)"
    where = DATASETS.get(dataset, GENERATED)["evaluated_on"]
    if get_recipe(recipe).step == "gan":
        return f"1,000 samples (seed 0) against 1,000 {where} images"
    n = measured.get("eval_samples")
    unit = " sentences" if dataset == "ud-english" else ""
    return f"{where}, {n:,}{unit}" if isinstance(n, int) and n > 2 else where
