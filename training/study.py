"""The Optuna study behind a search or sweep: its storage (a file, a journal, a database server), the lock its
workers share, their identities, samplers and pruners, and the check that a resumed study is the same one."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from .machine import pid_alive
from .space import Dimension, SearchError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")


def storage_for(url: str | None, out_dir: Path) -> Any:
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if url is None:
        out_dir.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(out_dir / 'study.db').resolve()}"
    try:
        if url.startswith("journal:"):
            path = Path(url.removeprefix("journal:")).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        return _rdbstorage_for(url)
    except (optuna.exceptions.StorageInternalError, ImportError, ValueError, OSError) as e:
        raise SearchError(f"cannot open the study storage {url}: {str(e).splitlines()[0][:200]}") from None
    except Exception as e:  # SQLAlchemy's own errors: a bad URL, a server that does not answer
        raise SearchError(
            f"cannot open the study storage {url} ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None


def _rdbstorage_for(url: str, attempts: int = 10) -> Any:
    """An RDB storage whose trials carry a heartbeat (a worker that dies leaves its trial RUNNING: the heartbeat
    stops, and the trial is failed and retried). Opening it creates the tables where they are missing; another
    process doing the same at that moment (a worker of another storage URL, a dashboard, a script's
    ``optuna.load_study``) makes SQLite answer "table ... already exists", "database is locked" or (both writing
    the schema's version row) "UNIQUE constraint failed: alembic_version": those are retried, as the tables are
    then made."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return RDBStorage(
                url,
                heartbeat_interval=2,
                grace_period=6,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
            )
        except (OperationalError, IntegrityError, optuna.exceptions.StorageInternalError) as e:
            transient = any(sign in str(e) for sign in ("already exists", "locked", "alembic_version"))
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def lock_path(url: str | None, out_dir: Path) -> Path | None:
    """A lock file beside a study kept in a local file (SQLite, journal); None for a database server.

    Not ``FILE.lock``: Optuna's journal storage takes that name for its own lock (a symlink it creates and
    removes), and a file of ours there would make every worker wait for it forever."""
    if url is None:
        return out_dir / f"study.db{WORKERS_LOCK_SUFFIX}"
    if url.startswith("journal:"):
        return Path(url.removeprefix("journal:") + WORKERS_LOCK_SUFFIX).expanduser()
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + WORKERS_LOCK_SUFFIX).expanduser()
    return None


WORKERS_LOCK_SUFFIX = ".workers-lock"


class StudyLock:
    """An exclusive ``flock`` shared by every worker of a file-backed study: held while a worker creates the
    storage's tables, and from its budget check until its next trial exists (so two workers never both take
    the last trial). A no-op for a database server (there the in-trial budget check remains)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if self.path is not None and self._file is None:
            import fcntl

            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a")
            fcntl.flock(self._file, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def worker_id() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def fail_dead_workers(study: Any, log: Callable[[str], None] = print) -> int:
    """Mark FAIL the RUNNING trials of workers on this machine that no longer exist (a killed worker's trial
    stays RUNNING forever in a journal file, which has no heartbeat); return how many."""
    import socket

    import optuna

    host, n = socket.gethostname(), 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = str(t.user_attrs.get("worker", ""))
        where, _, pid = worker.rpartition(":")
        if where == host and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            try:
                study.tell(t.number, state=optuna.trial.TrialState.FAIL)
            except (ValueError, RuntimeError):  # another worker recovered it first
                continue
            n += 1
            log(f"--- trial {t.number} of a worker that is gone ({worker}) marked failed; it will be run again")
    return n


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number``: reproducible for one worker, distinct across the workers of a
    shared study (each trial number is handed out once by the storage)."""
    return (seed * 1_000_003 + number * 7_919) % 2**32


def sampler_for(name: str, dims: Sequence[Dimension], seed: int) -> Any:
    import optuna

    if name == "grid":
        if any(d.kind != "choice" for d in dims):
            raise SearchError("the grid sampler takes lists of values only (FIELD=v1,v2,...), not ranges")
        return optuna.samplers.GridSampler({d.name: list(d.choices) for d in dims}, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner_for(name: str) -> Any:
    import optuna

    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)


def open_study(
    recipe: str,
    metric: str,
    direction: str,
    dims: Sequence[Dimension],
    out_dir: Path,
    storage: str | None,
    study_name: str | None,
    sampler: str,
    pruner: str,
    seed: int,
) -> Any:
    """Create or resume the study; refuse one made for another recipe, metric or space."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name or recipe
    with (
        warnings.catch_warnings(),
        StudyLock(lock_path(storage, out_dir)),
    ):  # workers started together: one makes the tables
        warnings.simplefilter(
            "ignore", category=optuna.exceptions.ExperimentalWarning
        )  # the heartbeat's retry callback
        study = optuna.create_study(
            study_name=name,
            storage=storage_for(storage, out_dir),
            load_if_exists=True,
            direction="maximize" if direction == "max" else "minimize",
            sampler=sampler_for(sampler, dims, seed),
            pruner=pruner_for(pruner),
        )
    attrs = study.user_attrs
    mine = {
        "recipe": recipe,
        "metric": metric,
        "space": {d.name: [d.kind, list(d.choices), d.low, d.high, d.log] for d in dims},
    }
    for key, value in mine.items():
        if key not in attrs:  # a new study, or one another worker is recording right now: record what is missing
            study.set_user_attr(key, value)
        elif attrs[key] != json.loads(json.dumps(value)):
            raise SearchError(
                f"study {name!r} in this storage was made for {key} {attrs[key]!r}, not "
                f"{value!r}; choose another --study name"
            )
    if study.direction.name.lower() != ("maximize" if direction == "max" else "minimize"):
        raise SearchError(f"study {name!r} {study.direction.name.lower()}s; this recipe's {metric} needs the other way")
    return study
