"""The one training engine: devices, precision, epochs, progress, evaluation, checkpoints, resume, DDP.

Task-specific work lives in small steps (:mod:`training.steps`); the engine is the same for all.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo
from zoo.heads import load_with_new_head

from . import plots
from .checkpoint import (
    build_checkpoint,
    dataset_options,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .data import DataBundle, holdout_split, load_dataset, random_subset
from .machine import resolve_device, seed_everything
from .precision import resolve_precision
from .provenance import earlier_segments, new_segment, write_config
from .recipes import Profile, Recipe, decide_start, get_recipe
from .small_convs import route_small_convs
from .steps import Context, Step, get_step
from .tracking import (
    Meter,
    RunFolderLock,
    choose_run_folder,
    claim_run_folder,
    open_tensorboard,
    resumed_folder,
    tensorboard_epoch,
)


@dataclass
class TrainConfig:
    """Everything a run needs; ``zoo-train``'s options map one to one onto these fields."""

    recipe: str
    profile: str | None = None  # None: the recipe's default profile
    overrides: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    data_dir: Path | None = None
    download: bool = False
    device: str = "auto"
    out: Path | None = None
    seed: int = 0
    max_steps: int | None = None
    compile: bool = False
    tensorboard: bool = False
    resume: Path | None = None
    checkpoint_every: int = 0
    eval_samples: int | None = None  # evaluate on a fixed random subset of N test samples (smoke runs)
    holdout: int | None = None  # evaluate on N samples held out of the train split, not on the test split
    eval_first: bool = (
        False  # also evaluate the untrained model (the "initial" metrics: what learning is measured against)
    )
    quiet: bool = False
    overwrite: bool = False  # train into an ``out`` folder that holds an earlier run, replacing that run's files
    data: DataBundle | None = None  # a preloaded bundle (sweeps reuse one)
    model: str | None = None  # the architecture, for a recipe that trains any (finetune); default: the recipe's
    init_state: dict[str, torch.Tensor] | None = None  # trained weights to start from; a head that differs is fresh
    base: dict[str, Any] | None = None  # what init_state is (a card or checkpoint): recorded in checkpoints
    on_eval: Callable[[dict[str, Any]], None] | None = None  # called with each evaluation's record (search pruning)


class Trainer:
    """Runs one recipe. ``fit()`` returns the final metrics (also written to ``metrics.json``)."""

    def __init__(self, config: TrainConfig, log: Callable[[str], None] | None = None) -> None:
        self.cfg = config
        self._log = log
        self._lock: RunFolderLock | None = None  # held on the run folder while fit() runs

    # ------------------------------------------------------------------ set-up
    def log(self, message: str) -> None:
        if self.rank != 0:
            return
        if self._log is not None:
            self._log(message)
        else:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stdout)

    def _setup_distributed(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() and self.cfg.device != "cpu" else "gloo"
            torch.distributed.init_process_group(backend)

    def _setup(self) -> None:
        cfg = self.cfg
        for name in ("max_steps", "eval_samples"):
            value = getattr(cfg, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a whole number >= 1 (got {value!r})")
        if cfg.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0 (got {cfg.checkpoint_every!r})")
        self._setup_distributed()
        self.resume_state: dict[str, Any] | None = None
        if cfg.resume is not None:
            ckpt = load_checkpoint(cfg.resume)
            if ckpt.get("train_state") is None:
                raise RuntimeError(f"{cfg.resume} holds no training state (optimiser, RNG); it cannot be resumed")
            self.resume_state = ckpt
            cfg.recipe = ckpt["recipe"]
            cfg.profile = ckpt["profile"]
            cfg.seed = ckpt["train_state"]["seed"]
            cfg.holdout = cfg.holdout or ckpt["train_state"].get("holdout")
            cfg.dataset = cfg.dataset or ckpt["dataset"]
            cfg.model = ckpt["model"]["name"]
            cfg.base = (ckpt.get("meta") or {}).get("base")
        self.recipe: Recipe = get_recipe(cfg.recipe)
        self.model_name = cfg.model or self.recipe.model
        self.out_dir = self._run_folder()
        cfg.profile = self.profile_name = cfg.profile or self.recipe.default
        base = self.recipe.profile(self.profile_name)
        if self.resume_state is not None:
            base = base.with_saved(self.resume_state["hyperparameters"])
        self.profile: Profile = base.with_overrides(**cfg.overrides)
        self.device = resolve_device(cfg.device)
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self.device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.precision, self.precision_reason = resolve_precision(self.profile.precision, self.device)
        seed_everything(cfg.seed)

        dataset = cfg.dataset or self.recipe.dataset
        self.recipe.check_dataset(dataset)
        options = self.recipe.dataset_options if self.resume_state is None else dataset_options(self.resume_state)
        start = None if self.resume_state is not None else decide_start(self.recipe, cfg.model_kwargs)
        if start is not None and start.note and self.rank == 0:
            self.log(start.note)  # what the recipe chose on this machine, and why
        if start is not None:
            options = {**options, **start.dataset_options}
        self.data: DataBundle = cfg.data or load_dataset(dataset, cfg.data_dir, cfg.download, **options)
        if start is not None and (start.note or start.dataset_options):
            saved = {**(self.data.meta.get("dataset_options") or {}), **start.dataset_options}
            meta = {**self.data.meta, "dataset_options": saved, **({"start": start.note} if start.note else {})}
            self.data = replace(self.data, meta=meta)  # a resume or an evaluation reads the data as this run did
        self.dataset = dataset
        if cfg.holdout:
            self.data = holdout_split(self.data, cfg.holdout, cfg.seed)
        if cfg.eval_samples and self.data.test is not None:
            self.data = replace(self.data, test=random_subset(self.data.test, cfg.eval_samples))

        spec = zoo.get_spec(self.model_name)
        self.model_kwargs = {**self.recipe.model_kwargs, **self.data.model_kwargs, **cfg.model_kwargs}
        if start is not None:
            self.model_kwargs.update(start.model_kwargs)
        if self.resume_state is not None:
            self.model_kwargs = {**self.resume_state["model"]["kwargs"], **cfg.model_kwargs}
        model = zoo.get_model(self.model_name, **self.model_kwargs)
        if cfg.init_state is not None and self.resume_state is None:
            load_with_new_head(model, cfg.init_state)
        model = model.to(self.device)
        if self.profile.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.precision == "bf16" and self.device.type == "cpu":
            route_small_convs(model)  # 2.2x for the seed ResNet here (see training.small_convs)
        self.raw_model: nn.Module = model
        self.spec = spec
        recipe_pre = start.preprocessing if start is not None and start.preprocessing else self.recipe.preprocessing
        if self.resume_state is not None and self.resume_state.get("preprocessing"):
            recipe_pre = self.resume_state["preprocessing"]  # as the run began
        self.preprocessing = dict(self.data.preprocessing or recipe_pre or spec.preprocessing or {}) or None
        self.labels = self.data.labels or (list(spec.labels) if spec.labels else None)

        step_cls = get_step(self.recipe.step)
        if self.world > 1 and not step_cls.supports_ddp:
            raise RuntimeError(
                f"{self.recipe.name}: the {self.recipe.step} step does not support multi-process training"
            )
        forward_model: nn.Module = model
        if cfg.compile:
            forward_model = torch.compile(model)  # type: ignore[assignment]
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            forward_model = nn.parallel.DistributedDataParallel(forward_model, device_ids=ids)
        self.ctx = Context(
            recipe=self.recipe,
            profile=self.profile,
            data=self.data,
            model=forward_model,
            raw_model=model,
            device=self.device,
            seed=cfg.seed,
            preprocessing=self.preprocessing,
            rank=self.rank,
            world=self.world,
            precision=self.precision,
        )
        self.step: Step = step_cls(self.ctx)

        if self.rank == 0:
            (self.out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)

    def _run_folder(self) -> Path:
        """Where this run writes, locked for the run. A folder that already holds another run is refused (or, with
        ``overwrite``, emptied of that run's files) so that two runs' histories are never mixed; a resumed run
        continues in its own folder, or in a fresh ``out`` that then receives its history."""
        cfg = self.cfg
        self.resumed_folder = resumed_folder(cfg.resume)
        out = choose_run_folder(cfg.out, self.resumed_folder, self.recipe.name)
        if self.rank == 0:
            continuing = self.resumed_folder is not None and out.resolve() == self.resumed_folder
            self._lock = claim_run_folder(out, cfg.overwrite, resuming=continuing)
        return out

    # ------------------------------------------------------------------ checkpoints
    def _train_state(self, epoch: int, batch: int, meter: Meter) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "batch": batch,
            "global_step": self.global_step,
            "seed": self.cfg.seed,
            "holdout": self.cfg.holdout,
            "optimizers": {k: o.state_dict() for k, o in self.step.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.step.schedulers.items() if s is not None},
            "step": self.step.state_dict(),
            "rng": rng_state(),
            "meter": meter.state(),
            "history": self.history,
            "best": self.best,
            "elapsed_s": self.elapsed(),
            "segments": self.segments,
        }

    def _checkpoint(self, epoch: int, batch: int, meter: Meter, metrics: dict[str, Any]) -> dict[str, Any]:
        return build_checkpoint(
            model_name=self.model_name,
            model_kwargs=self.model_kwargs,
            state_dict=self.raw_model.state_dict(),
            task=self.spec.task,
            preprocessing=self.preprocessing,
            labels=self.labels,
            meta={**self.data.meta, "base": self.cfg.base} if self.cfg.base else self.data.meta,
            recipe=self.recipe.name,
            profile=self.profile_name,
            hyperparameters=self.profile.to_dict(),
            metrics=metrics,
            dataset=self.dataset,
            train_state=self._train_state(epoch, batch, meter),
            precision=self.precision,
        )

    def save(self, epoch: int, batch: int, meter: Meter, metrics: dict[str, Any], best: bool = False) -> None:
        if self.rank != 0:
            return
        self.segments[-1]["to_step"] = self.global_step
        write_config(self)
        ckpt = self._checkpoint(epoch, batch, meter, metrics)
        save_checkpoint(ckpt, self.out_dir / "checkpoints" / "last.pt")
        if best:
            save_checkpoint(ckpt, self.out_dir / "checkpoints" / "best.pt")

    def _restore(self) -> tuple[int, int, Meter]:
        meter = Meter()
        if self.resume_state is None:
            return 0, 0, meter
        state = self.resume_state["train_state"]
        self.raw_model.load_state_dict(self.resume_state["state_dict"])
        for k, o in self.step.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        for k, s in self.step.schedulers.items():
            if s is not None and k in state["schedulers"]:
                s.load_state_dict(state["schedulers"][k])
        self.step.load_state_dict(state["step"])
        self.global_step = state["global_step"]
        self.history = list(state["history"])
        self.best = state["best"]
        self.elapsed_before = state.get("elapsed_s", 0.0)
        meter.load(state["meter"], self.device)
        set_rng_state(state["rng"])
        if self.rank == 0 and self.resumed_folder is not None and self.out_dir.resolve() != self.resumed_folder:
            # continued in a fresh folder: it receives the history so far, so that it holds the whole run
            with open(self.out_dir / "metrics.jsonl", "w") as f:
                f.writelines(json.dumps(record) + "\n" for record in self.history)
            if (self.resumed_folder / "steps.jsonl").is_file():
                shutil.copyfile(self.resumed_folder / "steps.jsonl", self.out_dir / "steps.jsonl")
        self.log(
            f"resumed {self.recipe.name} at epoch {state['epoch'] + 1}, batch {state['batch']} "
            f"(step {self.global_step}) from {self.cfg.resume}"
        )
        return state["epoch"], state["batch"], meter

    # ------------------------------------------------------------------ loop
    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def _improved(self, metrics: dict[str, Any]) -> bool:
        monitor = self.step.monitor
        if monitor is None:
            return True
        key, mode = monitor
        value = metrics.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best is None or (value > self.best if mode == "max" else value < self.best):
            self.best = value
            return True
        return False

    def _reduce(self, meter: Meter) -> dict[str, float]:
        if self.world > 1:
            keys = sorted(meter.sums)
            packed = torch.stack([meter.sums[k] for k in keys] + [torch.tensor(float(meter.count), device=self.device)])
            torch.distributed.all_reduce(packed)
            return {k: float(v) / max(float(packed[-1]), 1) for k, v in zip(keys, packed[:-1])}
        return meter.means()

    def fit(self) -> dict[str, Any]:
        try:
            return self._fit()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def _fit(self) -> dict[str, Any]:
        from tqdm import tqdm

        self._setup()
        cfg, profile, step = self.cfg, self.profile, self.step
        self.global_step, self.history, self.best = 0, [], None
        self.elapsed_before, self.started = 0.0, time.perf_counter()
        start_epoch, start_batch, meter = self._restore()
        self.segments = [*earlier_segments(self.resume_state, self.resumed_folder), new_segment(self)]
        steps_per_epoch = step.steps_per_epoch()
        eval_every = int(profile.extra.get("eval_every") or max(1, math.ceil(profile.epochs / 50)))
        log_every = int(profile.extra.get("log_every") or 25)
        writer = open_tensorboard(self) if cfg.tensorboard and self.rank == 0 else None
        if self.rank == 0:
            write_config(self)
            step.begin(self.out_dir)
            self.log(
                f"{self.recipe.name} [{cfg.profile}] {self.model_name} on {self.data.description}; "
                f"device {self.device}, {self.precision} ({self.precision_reason}); {profile.epochs} epochs x {steps_per_epoch} steps; out {self.out_dir}"
            )
        steps_log = open(self.out_dir / "steps.jsonl", "a") if self.rank == 0 and "log_every" in profile.extra else None
        total = profile.epochs * steps_per_epoch
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        bar = tqdm(
            total=total,
            initial=min(self.global_step, total),
            unit="step",
            dynamic_ncols=True,
            disable=cfg.quiet or self.rank != 0 or None,
            file=sys.stderr,
        )
        final_metrics: dict[str, Any] = {}
        self.initial: dict[str, Any] = {}
        if cfg.eval_first and self.global_step == 0:
            self.initial = self.step.evaluate(final=False)
            self.log("before training  " + self._format({"epoch": 0, **self.initial}).removeprefix("epoch 0  "))
        stopped = False
        epoch = start_epoch
        try:
            for epoch in range(start_epoch, profile.epochs):
                first = start_batch if epoch == start_epoch else 0
                if first == 0:
                    meter = Meter()
                bar.set_description(f"epoch {epoch + 1}/{profile.epochs}")
                t0, n0 = time.perf_counter(), meter.count
                batch_index = first
                for batch_index, batch in enumerate(step.train_batches(epoch, first), start=first):
                    metrics = step.train_step(batch)
                    meter.add(metrics, step.batch_size_of(batch))
                    self.global_step += 1
                    bar.update(1)
                    if self.global_step % log_every == 0 or steps_per_epoch < log_every:
                        shown = {k: float(v) for k, v in metrics.items()}
                        bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)
                        if steps_log is not None:
                            record_step = {"step": self.global_step, "elapsed_s": round(self.elapsed(), 4), **shown}
                            steps_log.write(json.dumps(record_step) + "\n")
                    if (
                        cfg.checkpoint_every
                        and self.global_step % cfg.checkpoint_every == 0
                        and step.resumable_mid_epoch
                    ):
                        self.save(epoch, batch_index + 1, meter, {})
                    if step.stop or (cfg.max_steps is not None and self.global_step >= cfg.max_steps):
                        stopped = True
                        break
                else:
                    batch_index = steps_per_epoch - 1
                epoch_time = time.perf_counter() - t0
                finished_epoch = batch_index + 1 >= steps_per_epoch
                last = stopped or epoch + 1 == profile.epochs
                if not (last or (epoch + 1) % eval_every == 0):
                    continue
                record: dict[str, Any] = {
                    "epoch": epoch + 1 if finished_epoch else epoch + (batch_index + 1) / steps_per_epoch,
                    "global_step": self.global_step,
                }
                record.update({f"train_{k}": v for k, v in self._reduce(meter).items()})
                eval_start = time.perf_counter()
                record.update(step.evaluate(final=last))
                record["eval_s"], record["time_s"] = round(time.perf_counter() - eval_start, 3), round(epoch_time, 3)
                record["samples_per_s"] = round((meter.count - n0) / max(epoch_time, 1e-9), 1)
                record["lr"] = next(iter(step.optimizers.values())).param_groups[0]["lr"]
                self.history.append(record)
                improved = self._improved(record)
                if self.rank == 0:
                    with open(self.out_dir / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(record) + "\n")
                    self.log(self._format(record))
                    if writer is not None:
                        tensorboard_epoch(writer, self, record)
                next_pos = (epoch + 1, 0) if finished_epoch else (epoch, batch_index + 1)
                self.save(*next_pos, Meter() if finished_epoch else meter, record, best=improved)
                final_metrics = record
                if cfg.on_eval is not None:
                    cfg.on_eval(record)  # may stop the run (a pruned search trial raises)
                if stopped:
                    break
        finally:
            bar.close()
            if steps_log is not None:
                steps_log.close()
        summary = self._finish(final_metrics, stopped)
        if writer is not None:
            writer.close()
        return summary

    # ------------------------------------------------------------------ reporting
    @staticmethod
    def _format(record: dict[str, Any]) -> str:
        epoch = record["epoch"]
        parts = [f"epoch {epoch:g}" if isinstance(epoch, float) else f"epoch {epoch}"]
        for k, v in record.items():
            if k in ("epoch", "global_step", "lr") or not isinstance(v, (int, float)):
                continue
            parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
        return "  ".join(parts)

    def _finish(self, final: dict[str, Any], stopped: bool) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "recipe": self.recipe.name,
            "profile": self.cfg.profile,
            "model": self.model_name,
            "dataset": self.dataset,
            "device": str(self.device),
            "precision": self.precision,
            "epochs": self.profile.epochs,
            "global_step": self.global_step,
            "stopped_early": stopped,
            "wall_time_s": round(self.elapsed(), 2),
            "out_dir": str(self.out_dir),
            "checkpoint": str(self.out_dir / "checkpoints" / "last.pt"),
            "best_checkpoint": str(self.out_dir / "checkpoints" / "best.pt"),
        }
        summary.update({k: v for k, v in final.items() if k not in ("time_s", "lr")})
        if self.initial:
            summary["initial"] = self.initial
        if self.step.monitor is not None and self.best is not None:
            summary[f"best_{self.step.monitor[0]}"] = self.best
        if self.rank == 0:
            summary.update(self.step.artifacts(self.out_dir, self.history))
            if self.history:
                plots.training_curves(self.history, self.out_dir / "curves.png", title=self.recipe.name)
            (self.out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
            if not (self.out_dir / "checkpoints" / "best.pt").exists():
                summary["best_checkpoint"] = summary["checkpoint"]
        if self.world > 1:
            torch.distributed.barrier()
        return summary


def train(recipe: str, **kwargs: Any) -> dict[str, Any]:
    """Run a recipe from Python: ``train("mnist-cnn-mnist", max_steps=10, device="cpu")``."""
    return Trainer(TrainConfig(recipe=recipe, **kwargs)).fit()
