"""What a run keeps track of besides its model: running metric sums, TensorBoard logs, and its folder (refused
when it already holds another run)."""

from __future__ import annotations

import shutil
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from .steps import eval_mode


class Meter:
    """Sums of per-batch metrics (kept on the device; synchronised only when read)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, metrics: dict[str, torch.Tensor], n: int) -> None:
        for k, v in metrics.items():
            v = v.detach().float() * n
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.count += n

    def means(self) -> dict[str, float]:
        return {k: float(v) / max(self.count, 1) for k, v in self.sums.items()}

    def state(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

    def load(self, state: dict[str, Any], device: torch.device) -> None:
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.count = state["count"]


#: A folder holding any of these holds a run.
RUN_MARKERS = ("config.json", "metrics.jsonl", "metrics.json", "steps.jsonl", "checkpoints/last.pt")
#: What a run writes at the top of its folder (``--overwrite`` removes these, and nothing else).
RUN_FILES = (
    "config.json",
    "metrics.json",
    "metrics.jsonl",
    "steps.jsonl",
    "train.log",
    "checkpoints",
    "tensorboard",
    "curves.png",
    "confusion_matrix.png",
    "confusion_matrix.csv",
    "report.json",
    "misclassified.png",
    "samples.png",
    "reconstructions.png",
    "codes_3d.png",
    "fit.png",
    "returns.png",
    "split",
    "bad_images.csv",
    "photos.json",
    "eval",
)
#: The lock a running zoo-train holds on its folder (an OS lock: it goes with the process, even a killed one).
LOCK_FILE = ".zoo-train.lock"


class RunFolderInUse(RuntimeError):
    """``--out`` names a folder that already holds a run, or that another zoo-train is writing into; the message
    says how to resume or replace it."""


class RunFolderLock:
    """An exclusive, non-blocking ``flock`` on ``out/.zoo-train.lock`` for as long as a run writes into ``out``:
    a second run (or resume) into the same folder is refused while the first lives."""

    def __init__(self, out: Path) -> None:
        import fcntl
        import os

        out.mkdir(parents=True, exist_ok=True)
        self.path = out / LOCK_FILE
        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise RunFolderInUse(
                f"{out} is being written by another zoo-train ({holder}); wait for it to finish, or choose "
                "another --out folder"
            ) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"pid {os.getpid()} on {__import__('socket').gethostname()}\n")
        self._file.flush()

    def release(self) -> None:
        if not self._file.closed:
            self._file.close()  # closing drops the lock; the file stays (removing it would race a new claimant)


def resumed_folder(resume: str | Path | None) -> Path | None:
    """The run folder a ``--resume`` checkpoint (or folder) belongs to; None for a fresh run."""
    if resume is None:
        return None
    path = Path(resume).resolve()
    if not path.is_file():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def choose_run_folder(out: str | Path | None, resumed: Path | None, recipe: str) -> Path:
    """Where a run writes: ``out`` if given, else the folder it resumes, else ``runs/RECIPE/<time>``."""
    if out is not None:
        return Path(out)
    if resumed is not None:
        return resumed
    return Path("runs") / recipe / datetime.now().strftime("%Y%m%d-%H%M%S")


def claim_run_folder(out: Path, overwrite: bool, resuming: bool = False) -> RunFolderLock:
    """Lock ``out`` for this run, then refuse it when it holds another run (so two runs' histories never mix), or
    with ``overwrite`` empty it of that run's files (and nothing else). ``resuming`` a run in its own folder takes
    the lock only."""
    lock = RunFolderLock(out)
    if resuming:
        return lock
    found = [name for name in RUN_MARKERS if (out / name).exists()]
    if found and not overwrite:
        lock.release()
        raise RunFolderInUse(
            f"{out} already holds a run ({', '.join(found)}); training into it would mix two runs. Continue that "
            f"run with `zoo-train --resume {out}`, choose a fresh --out folder, or give --overwrite to replace it"
        )
    for path in (out / name for name in RUN_FILES if found):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    return lock


def open_tensorboard(trainer: Any) -> Any:
    """A SummaryWriter in the run folder of ``trainer`` (a set-up :class:`.engine.Trainer`), with a grid of input samples and the model's graph."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(trainer.out_dir / "tensorboard"))
    images = trainer.step.sample_images()
    if images is not None:
        from torchvision.utils import make_grid

        writer.add_image("inputs", make_grid(images.float() / 255 if images.dtype == torch.uint8 else images), 0)
    try:
        part = trainer.spec.resolved(**trainer.model_kwargs).parts[0]
        module = part.get(trainer.raw_model)
        example = tuple(t.to(trainer.device) for t in part.example_inputs())
        with warnings.catch_warnings(), eval_mode(module):
            warnings.simplefilter("ignore")  # add_graph traces with TorchScript (deprecated upstream)
            writer.add_graph(module, example)
    except Exception as e:  # the graph is a nicety; never fail a run over it
        trainer.log(f"tensorboard: graph not written ({type(e).__name__})")
    return writer


def tensorboard_epoch(writer: Any, trainer: Any, record: dict[str, Any]) -> None:
    """One evaluation's scalars, and the weights' and gradients' histograms."""
    step = trainer.global_step
    for k, v in record.items():
        if isinstance(v, (int, float)) and k not in ("epoch", "global_step"):
            writer.add_scalar(k.replace("train_", "train/").replace("test_", "test/"), v, step)
    for name, p in trainer.raw_model.named_parameters():
        writer.add_histogram(f"weights/{name}", p.detach().float().cpu(), step)
        if p.grad is not None:
            writer.add_histogram(f"grads/{name}", p.grad.detach().float().cpu(), step)
    writer.flush()
