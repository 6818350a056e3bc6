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


#: Where the storage keeps no heartbeat of its own (a journal file, local or shared between hosts), each worker
#: beats by writing the trial's ``beat`` attribute every HEARTBEAT_EVERY seconds while the trial runs; a RUNNING
#: trial that has not beaten for STALE_AFTER seconds (clocks of the hosts sharing a study may differ by less) is
#: failed by whichever worker sees it, and its point runs again. A trial whose worker never recorded itself
#: (it died between the storage creating the trial and its first write) is failed after STALE_AFTER too, on
#: every storage: a database's heartbeat, too, only starts with the trial's first beat.
#: ``ZOO_STUDY_STALE_AFTER`` (seconds) changes STALE_AFTER; the beat is a twelfth of it.
STALE_AFTER = float(os.environ.get("ZOO_STUDY_STALE_AFTER") or 120.0)
HEARTBEAT_EVERY = STALE_AFTER / 12


def has_heartbeat(study: Any) -> bool:
    """Whether the study's storage keeps Optuna's own heartbeat (an RDB storage opened by :func:`storage_for`)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return bool(is_heartbeat_enabled(study._storage))


class Beating:
    """While a trial runs on a storage without a heartbeat of its own: a thread writing its ``beat`` attribute
    every :data:`HEARTBEAT_EVERY` seconds (a no-op where the storage beats itself)."""

    def __init__(self, study: Any, trial_id: int, every: float = HEARTBEAT_EVERY) -> None:
        import threading

        self.study, self.trial_id, self.every = study, trial_id, every
        self._stop = threading.Event()
        self._thread = None if has_heartbeat(study) else threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            try:
                self.study._storage.set_trial_user_attr(self.trial_id, "beat", time.time())
            except Exception:  # the trial ended (finished, or failed as stale by another worker): stop beating
                return
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> Beating:
        if self._thread is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def trial_point(trial: Any) -> dict[str, Any]:
    """A trial's point: its parameters, or while it waits (enqueued, not yet run) the ones it was enqueued with."""
    return dict(trial.params or trial.system_attrs.get("fixed_params") or {})


def recover_stale_trials(
    study: Any, grid: bool = False, log: Callable[[str], None] = print, stale_after: float = STALE_AFTER
) -> int:
    """Fail the RUNNING trials whose worker is gone, so that their points run again; return how many.

    Gone means: a worker on this machine whose process no longer exists; no beat for ``stale_after`` seconds
    (Optuna's heartbeat and grace period on a database, with its retry callback; our ``beat`` on a journal);
    or no worker recorded ``stale_after`` seconds after the trial started. With ``grid``, each failed trial's
    point is enqueued again (a search's budget counts finished trials, so it runs another by itself)."""
    import socket
    from datetime import datetime

    import optuna

    n, beats = 0, has_heartbeat(study)
    if beats:  # fails each stale trial and runs the storage's retry callback
        before = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))
        optuna.storages.fail_stale_trials(study)
        n += len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))) - before
    host, now = socket.gethostname(), time.time()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker = str(t.user_attrs.get("worker", ""))
        where, _, pid = worker.rpartition(":")
        started = (t.datetime_start or datetime.now()).timestamp()
        if where == host and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            why = f"its worker ({worker}) is gone"
        elif not worker and now - started > stale_after:
            why = f"no worker recorded itself in {stale_after:.0f} s"
        elif not beats and now - float(t.user_attrs.get("beat", started)) > stale_after:
            why = f"its worker ({worker}) has not beaten for {stale_after:.0f} s"
        else:
            continue
        try:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError):  # another worker recovered it first
            continue
        point = trial_point(t)
        if grid and point:
            study.enqueue_trial(point)  # a grid point runs again
        n += 1
        log(f"--- trial {t.number} marked failed: {why}; it will be run again")
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
    # workers started together: one makes the tables and records what the study is for, the others then check it
    with warnings.catch_warnings(), StudyLock(lock_path(storage, out_dir)):
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)  # the heartbeat's callback
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
            if key not in attrs:  # a new study (on a database server, perhaps being recorded by another worker now)
                study.set_user_attr(key, value)
            elif attrs[key] != json.loads(json.dumps(value)):
                raise SearchError(
                    f"study {name!r} in this storage was made for {key} {attrs[key]!r}, not "
                    f"{value!r}; choose another --study name"
                )
    if study.direction.name.lower() != ("maximize" if direction == "max" else "minimize"):
        raise SearchError(f"study {name!r} {study.direction.name.lower()}s; this recipe's {metric} needs the other way")
    return study
