"""Hyper-parameter search and sweeps on Optuna: one study per run folder (or shared through a storage URL),
pruned by the recipe's own metric, resumable, and shared by any number of worker processes or machines.

    zoo-train simple-cnn-cifar10 --search "lr=log:1e-4:1e-1,batch_size=32,64,128" --trials 12
    zoo-train mnist-cnn-mnist --sweep lr=0.01,0.001 --sweep batch_size=32,64      # the grid, as Optuna's GridSampler

The space (``FIELD=VALUES``) is read by :mod:`.space`; each trial is one :class:`.trials.TrialRunner` run.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .engine import TrainConfig
from .recipes import get_recipe
from .space import Dimension, SearchError, dimensions, parse_space
from .steps import get_step
from .study import (
    PRUNERS,
    SAMPLERS,
    Beating,
    StudyLock,
    lock_path,
    open_study,
    recover_stale_trials,
    sampler_for,
    trial_point,
    trial_seed,
    worker_id,
)
from .sweep import label_of, write_sweep
from .trials import TrialRunner

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "Dimension",
    "SearchError",
    "dimensions",
    "open_study",
    "parse_space",
    "search",
    "summarize",
]


class OverBudget(Exception):
    """A trial started after the study had its trials (another worker got there first): recorded as failed."""


def search(
    base: TrainConfig,
    specs: Sequence[str],
    trials: int,
    out_dir: Path,
    *,
    sampler: str = "tpe",
    pruner: str = "median",
    storage: str | None = None,
    study_name: str | None = None,
    grid: bool = False,
    keep_all: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or join, or resume) a study of ``trials`` finished trials; return a summary with the best trial."""
    recipe = get_recipe(base.recipe)
    profile = recipe.profile(base.profile or recipe.default).with_overrides(**base.overrides)
    dims = dimensions(parse_space(specs, grid=grid), recipe, profile, grid=grid)
    grid = grid or sampler == "grid"
    if grid:  # the whole product, each point once
        if any(d.kind != "choice" for d in dims):
            raise SearchError("the grid sampler takes lists of values only (FIELD=v1,v2,...), not ranges")
        sampler, pruner = "grid", "none"
        trials = math.prod(len(d.choices) for d in dims)
    if sampler not in SAMPLERS or pruner not in PRUNERS:
        raise SearchError(f"sampler is one of {', '.join(SAMPLERS)}; pruner one of {', '.join(PRUNERS)}")
    if trials < 1:
        raise SearchError("--trials must be at least 1")
    metric, mode, _ = get_step(recipe.step).headline
    study = open_study(recipe.name, metric, mode, dims, out_dir, storage, study_name, sampler, pruner, base.seed)
    if grid:  # under the study lock: two workers starting together enqueue each point once
        with StudyLock(lock_path(storage, out_dir)):
            _enqueue_grid(study, dims)
    started = time.perf_counter()
    worker = _Worker(
        study,
        TrialRunner(base),
        dims,
        trials,
        out_dir,
        metric,
        sampler,
        base.seed,
        StudyLock(lock_path(storage, out_dir)),
        log,
    )
    worker.work(grid)
    return summarize(study, out_dir, metric, mode, grid, keep_all, time.perf_counter() - started, log)


def _enqueue_grid(study: Any, dims: Sequence[Dimension]) -> None:
    """The cartesian product, in order; a resumed sweep skips what is done or running."""
    import optuna

    taken = [trial_point(t) for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.FAIL]
    for combo in itertools.product(*(d.choices for d in dims)):
        params = dict(zip([d.name for d in dims], combo))
        if params not in taken:
            study.enqueue_trial(params)


class _Worker:
    """One process's share of a study: takes trials under the study lock until the study has its trials."""

    def __init__(
        self,
        study: Any,
        runner: TrialRunner,
        dims: Sequence[Dimension],
        trials: int,
        out_dir: Path,
        metric: str,
        sampler: str,
        seed: int,
        lock: StudyLock,
        log: Callable[[str], None],
    ) -> None:
        import optuna

        self.study, self.runner, self.dims, self.trials, self.out_dir = study, runner, dims, trials, out_dir
        self.metric, self.sampler, self.seed, self.lock, self.log = metric, sampler, seed, lock, log
        self.done_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        self.over_budget = False  # set when another worker got the last trials
        self.failures: list[str] = []  # this worker's failed trials since its last finished one

    def _count(self, *states: Any) -> int:
        return len(self.study.get_trials(deepcopy=False, states=states))

    def work(self, grid: bool) -> None:
        import optuna

        running = optuna.trial.TrialState.RUNNING
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            while not self.over_budget:
                self.lock.acquire()
                try:
                    recover_stale_trials(self.study, grid, self.log)
                    if grid:  # every grid point was enqueued: run until none waits or runs elsewhere
                        if not self._count(optuna.trial.TrialState.WAITING):
                            if not self._count(running):
                                break
                            self.lock.release()  # the last points run elsewhere: wait (a dead one runs again)
                            time.sleep(1.0)
                            continue
                    elif self._count(*self.done_states, running) >= self.trials:
                        if self._count(*self.done_states) >= self.trials:
                            break
                        self.lock.release()  # the last trials are running elsewhere: wait (a dead one is retried)
                        time.sleep(1.0)
                        continue
                    elif len(self.failures) > self.trials:  # a search whose every trial fails would never end
                        raise SearchError(
                            f"{len(self.failures)} trials failed in a row, the last with: {self.failures[-1]}"
                        )
                    self.study.optimize(self.objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
                finally:
                    self.lock.release()

    def _params(self, trial: Any) -> dict[str, Any]:
        """The trial's point; OverBudget when the study already has its trials or this point (grid)."""
        import optuna

        trial.set_user_attr("worker", worker_id())  # before the lock goes: a trial seen without one is orphaned
        self.lock.release()  # this trial exists: other workers may take the next
        earlier = [
            t
            for t in self.study.get_trials(deepcopy=False, states=(*self.done_states, optuna.trial.TrialState.RUNNING))
            if t.number < trial.number
        ]
        if len(earlier) >= self.trials:  # only on a database server, where workers share no lock
            self.over_budget = True
            raise OverBudget(f"the study has its {self.trials} trials")
        if self.sampler != "grid":  # per-trial seed: identical commands on one study still propose distinct points
            self.study.sampler = sampler_for(self.sampler, self.dims, trial_seed(self.seed, trial.number))
        params = {d.name: d.suggest(trial) for d in self.dims}
        if self.sampler == "grid" and any(t.params == params for t in earlier):  # two workers enqueued one point
            raise OverBudget(f"a duplicate of an earlier trial ({params})")
        return params

    def objective(self, trial: Any) -> float:
        import optuna

        params = self._params(trial)
        run_dir = self.out_dir / "trials" / f"{trial.number:03d}"
        trial.set_user_attr("run_dir", str(run_dir))
        self.log(f"--- trial {trial.number}: " + ", ".join(f"{k}={v}" for k, v in params.items()))
        reports = itertools.count()

        def report(record: dict[str, Any]) -> None:
            value = record.get(self.metric)
            if isinstance(value, (int, float)) and math.isfinite(value):
                step = next(reports)
                trial.report(float(value), step)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"{self.metric} {value:.4g} after {step + 1} evaluation(s)")

        try:
            with Beating(self.study, trial._trial_id):
                summary, _ = self.runner.run_trial(params, run_dir, on_eval=report)
        except optuna.TrialPruned as e:
            self.failures.clear()
            self.log(f"    pruned: {e}")
            raise
        except Exception as e:
            trial.set_user_attr("error", f"{type(e).__name__}: {str(e)[:300]}")
            self.failures.append(f"{type(e).__name__}: {str(e)[:200]}")
            self.log(f"    failed: {self.failures[-1]}")
            raise
        self.failures.clear()
        value = summary.get(self.metric)
        trial.set_user_attr("wall_time_s", summary.get("wall_time_s"))
        trial.set_user_attr("summary", {k: v for k, v in summary.items() if isinstance(v, (int, float, str))})
        if value is None:
            raise ValueError(f"the run reported no {self.metric}; its summary holds {sorted(summary)}")
        self.log(f"    {self.metric} {value:.4g}")
        return float(value)


def summarize(
    study: Any,
    out_dir: Path,
    metric: str,
    mode: str,
    grid: bool,
    keep_all: bool,
    seconds: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """trials.csv, best.json, the plots, and (grids) the sweep files; prune non-best checkpoints."""
    import optuna

    out_dir.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    rows = [
        {
            "trial": t.number,
            "state": t.state.name,
            metric: t.value,
            **{f"param_{k}": v for k, v in t.params.items()},
            "seconds": round(t.duration.total_seconds(), 2) if t.duration else None,
            "error": t.user_attrs.get("error") or t.system_attrs.get("fail_reason", "")[:200]
            if t.state.name == "FAIL"
            else "",
        }
        for t in trials
    ]
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with open(out_dir / "trials.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    result: dict[str, Any] = {
        "study": study.study_name,
        "metric": metric,
        "direction": mode,
        "out_dir": str(out_dir),
        "trials": len(trials),
        "seconds": round(seconds, 1),
        "states": {s: sum(r["state"] == s for r in rows) for s in ("COMPLETE", "PRUNED", "FAIL")},
        "csv": str(out_dir / "trials.csv"),
    }
    if complete:
        best = study.best_trial
        settings = {
            "recipe": study.user_attrs["recipe"],
            "metric": metric,
            "value": best.value,
            "trial": best.number,
            "set": {k: v for k, v in best.params.items() if not k.startswith("model.")},
            "model_args": {k[6:]: v for k, v in best.params.items() if k.startswith("model.")},
            "run_dir": best.user_attrs.get("run_dir"),
        }
        (out_dir / "best.json").write_text(json.dumps(settings, indent=2))
        result["best"] = settings
        if not keep_all:  # the best trial's checkpoints are kept, the others' dropped (their metrics stay)
            for t in trials:
                run = t.user_attrs.get("run_dir")
                if t.number != best.number and run and t.state.is_finished():
                    shutil.rmtree(Path(run) / "checkpoints", ignore_errors=True)
        _plots(study, out_dir, log)
        log(
            f"best trial {best.number}: {metric} {best.value:.4g} with {best.params}; settings in {out_dir / 'best.json'}"
        )
    if grid:
        runs = _sweep_files(trials, out_dir, metric)
        result["runs"] = [
            {"label": r["label"], "params": r["params"], "state": r["state"], **r["summary"]} for r in runs
        ]
        result.update(csv=str(out_dir / "sweep.csv"), plot=str(out_dir / "comparison.png"))
    return result


def _plots(study: Any, out_dir: Path, log: Callable[[str], None]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as vis

    drawings: dict[str, Callable[[Any], Any]] = {
        "optimization_history.png": vis.plot_optimization_history,
        "param_importances.png": vis.plot_param_importances,
        "parallel_coordinate.png": vis.plot_parallel_coordinate,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna marks its matplotlib plots experimental
        for file, draw in drawings.items():
            try:
                axes = draw(study)
                figure = (axes.flat[0] if hasattr(axes, "flat") else axes).get_figure()
                figure.set_size_inches(8, 5)
                figure.tight_layout()
                figure.savefig(out_dir / file, dpi=100)
                plt.close(figure)
            except (ValueError, RuntimeError, ZeroDivisionError, optuna.exceptions.OptunaError) as e:
                log(f"({file} not drawn: {str(e)[:120]})")  # e.g. importances need two completed trials


def _sweep_files(trials: Sequence[Any], out_dir: Path, metric: str) -> list[dict[str, Any]]:
    """The grid's sweep.csv / sweep.json / comparison.png, written as :func:`.sweep.run_many` writes them."""
    runs = []
    for t in sorted(trials, key=lambda t: t.number):
        run = t.user_attrs.get("run_dir")
        if not run or not t.state.is_finished():
            continue
        metrics = Path(run) / "metrics.jsonl"
        history = (
            [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.is_file() else []
        )
        runs.append(
            {
                "run": t.number + 1,
                "label": label_of(t.params),
                "params": t.params,
                "state": t.state.name,
                metric: t.value,
                "summary": t.user_attrs.get("summary", {}),
                "history": history,
                "wall_time_s": t.user_attrs.get("wall_time_s"),
                "run_dir": Path(run),
            }
        )
    write_sweep(out_dir, runs)
    return runs
