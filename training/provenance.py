"""Where a run was trained, segment by segment.

A run that is resumed is trained in *segments*: one per ``fit`` (the first, then each ``--resume``), each on its
own machine, precision, commit and library versions. Every segment is recorded (in the run's ``config.json`` and
in each checkpoint's training state, so that a checkpoint carried elsewhere and resumed keeps its history), and a
card built from the run names all of them.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from zoo.weights import WeightsError

from .checkpoint import library_versions
from .machine import NOT_A_CHECKOUT, device_name, project_commit

#: The per-segment fields a card takes from a run.
MACHINE_FIELDS = ("device", "device_name", "precision", "commit", "versions")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def commit_recorded(commit: Any) -> bool:
    """Whether ``commit`` names a commit (a run outside a checkout records :data:`NOT_A_CHECKOUT`, older runs
    recorded ``unknown``)."""
    return bool(commit) and str(commit) != "unknown" and not str(commit).startswith(NOT_A_CHECKOUT.split(":")[0] + ":")


def earlier_segments(resume_state: dict[str, Any] | None, run_folder: Path | None) -> list[dict[str, Any]]:
    """The segments a resumed run already has: from the checkpoint's training state, else (a checkpoint made
    before segments were kept) one segment rebuilt from the run folder's ``config.json``, marked as such."""
    if resume_state is None:
        return []
    state = resume_state.get("train_state") or {}
    if state.get("segments"):
        return [dict(s) for s in state["segments"]]
    config: dict[str, Any] = {}
    if run_folder is not None:
        try:
            config = json.loads((run_folder / "config.json").read_text())
        except (OSError, json.JSONDecodeError):
            config = {}
    segment = {k: config.get(k) for k in MACHINE_FIELDS}
    if not segment.get("versions"):
        segment["versions"] = resume_state.get("versions")
    segment.update(
        from_step=0,
        to_step=state.get("global_step"),
        note="recorded before runs kept one record per segment"
        + ("" if config else "; the run's config.json was not found"),
    )
    return [segment]


def describe(segments: list[dict[str, Any]], field: str) -> str | None:
    """One text for ``field`` across segments: the value where all agree, else each with its steps
    (``NVIDIA H100 (steps 0-4000), AMD EPYC 9R14 (steps 4000-5000)``)."""
    values = [s.get(field) for s in segments if s.get(field)]
    if not values:
        return None
    if len({str(v) for v in values}) == 1:
        return str(values[0])
    return ", ".join(
        f"{s.get(field) or 'not recorded'} (steps {s.get('from_step', '?')}-{s.get('to_step', '?')})" for s in segments
    )


def describe_versions(segments: list[dict[str, Any]]) -> dict[str, str]:
    """Library versions across segments: each package's version where all agree, else each with its steps."""
    packages = dict.fromkeys(k for s in segments for k in (s.get("versions") or {}))
    out = {}
    for package in packages:
        rows = [{**s, "_v": (s.get("versions") or {}).get(package)} for s in segments]
        out[package] = describe(rows, "_v") or "not recorded"
    return out


def summary(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The run-level fields of ``config.json``: each names every segment where they differ."""
    return {
        "device": describe(segments, "device"),
        "device_name": describe(segments, "device_name"),
        "precision": describe(segments, "precision"),
        "precision_reason": describe(segments, "precision_reason"),
        "commit": describe(segments, "commit"),
        "versions": describe_versions(segments),
    }


def new_segment(trainer: Any) -> dict[str, Any]:
    """The record of the fit that ``trainer`` (a set-up :class:`.engine.Trainer`) starts: where and how it trains (a resumed run adds one per resume)."""
    return {
        "started": now(),
        "from_step": trainer.global_step,
        "to_step": trainer.global_step,
        "device": str(trainer.device),
        # where it ran, so that a card built elsewhere from this run names this machine, not its own
        "device_name": device_name(str(trainer.device), torch.get_num_threads()),
        "precision": trainer.precision,
        "precision_reason": trainer.precision_reason,
        "commit": project_commit(),
        "versions": library_versions(),
        "torch_threads": torch.get_num_threads(),
        "world_size": trainer.world,
        "command": sys.argv,
        "resumed_from": str(trainer.cfg.resume) if trainer.cfg.resume is not None else None,
    }


def write_config(trainer: Any) -> None:
    """``config.json``: the run's settings, and where it trained, segment by segment (the run-level device,
    commit and versions name every segment where they differ)."""
    config = {
        "recipe": trainer.recipe.name,
        "profile": trainer.cfg.profile,
        "model": trainer.model_name,
        "model_kwargs": trainer.model_kwargs,
        "base": trainer.cfg.base,
        "dataset": trainer.dataset,
        "data": trainer.data.description,
        "start": trainer.data.meta.get("start"),
        "hyperparameters": trainer.profile.to_dict(),
        "seed": trainer.cfg.seed,
        "world_size": trainer.world,
        "torch_threads": torch.get_num_threads(),
        "compile": trainer.cfg.compile,
        "max_steps": trainer.cfg.max_steps,
        "holdout": trainer.cfg.holdout,
        "command": trainer.segments[0].get("command") or sys.argv,
        **summary(trainer.segments),
        "segments": trainer.segments,
    }
    (trainer.out_dir / "config.json").write_text(json.dumps(config, indent=2, default=str))


def run_provenance(config: dict[str, Any], trained_on: str | None, trained_commit: str | None) -> dict[str, Any]:
    """Where and from which commit a run was trained: what the run recorded (every segment of a resumed run), else
    what the builder was told, and which of the two each field is (``sources``).

    Never the building machine: a run that predates recorded provenance needs ``--trained-on``; a run made outside
    a git checkout records that it was, and then takes ``--trained-commit``."""
    recorded_device = config.get("device_name")
    recorded_commit = config.get("commit") if commit_recorded(config.get("commit")) else None
    for what, option, recorded, told in (
        ("device", "--trained-on", recorded_device, trained_on),
        ("commit", "--trained-commit", recorded_commit, trained_commit),
    ):
        if recorded and told and told != recorded:
            raise WeightsError(
                f"the run records its {what} as {recorded!r}; {option} {told!r} contradicts it (leave the option out)"
            )
    device = recorded_device or trained_on
    if not device:
        raise WeightsError(
            "the run does not record the machine it was trained on (it predates runs that do); "
            'say where it was trained with --trained-on, e.g. --trained-on "NVIDIA H200"'
        )
    why_none = config.get("commit") or "not recorded by the run"
    return {
        "device_name": str(device),
        "commit": str(recorded_commit or trained_commit or why_none),
        "sources": {
            "device_name": "recorded by the run" if recorded_device else "given at build time (--trained-on)",
            "commit": "recorded by the run"
            if recorded_commit
            else ("given at build time (--trained-commit)" if trained_commit else "not recorded by the run"),
        },
    }
