"""Records a reviewer can trust: run folders never mix two runs (resume elsewhere, --overwrite, two runs at once),
a run outside a git checkout says so, and precision=auto on a GPU is decided by that GPU's compute capability."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import training.precision as precision
from training.cli import train_main
from training.engine import TrainConfig, Trainer
from training.tracking import LOCK_FILE, RUN_FILES, claim_run_folder

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GAUSSIANS = ["classifier-gaussians", "--device", "cpu", "--quiet"]


def _train(*args: str):
    return CliRunner().invoke(train_main, [*GAUSSIANS, *args])


def _epochs(run: Path) -> list:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_resuming_into_another_folder_claims_it_and_carries_the_whole_history(tmp_path):
    """`--resume X --out B`: B holding a run is refused (it used to be appended to); a fresh B receives X's history
    so far and then the rest, one history; X is left as it was."""
    first = _train("--epochs", "4", "--max-steps", "2", "--out", str(tmp_path / "x"))
    assert first.exit_code == 0, first.output
    (tmp_path / "x" / "checkpoints" / "keep").write_text("")
    before = (tmp_path / "x" / "metrics.jsonl").read_text()
    other = _train("--epochs", "2", "--out", str(tmp_path / "b"))
    assert other.exit_code == 0, other.output
    b_history = (tmp_path / "b" / "metrics.jsonl").read_text()
    last = str(tmp_path / "x" / "checkpoints" / "last.pt")
    refused = CliRunner().invoke(train_main, ["--resume", last, "--out", str(tmp_path / "b"), "--quiet"])
    assert refused.exit_code == 1 and "already holds a run" in refused.output, refused.output
    assert (tmp_path / "b" / "metrics.jsonl").read_text() == b_history  # untouched

    moved = CliRunner().invoke(train_main, ["--resume", last, "--out", str(tmp_path / "fresh"), "--quiet"])
    assert moved.exit_code == 0, moved.output
    assert _epochs(tmp_path / "fresh") == [*_epochs(tmp_path / "x"), 3, 4]
    assert (tmp_path / "x" / "metrics.jsonl").read_text() == before
    segments = json.loads((tmp_path / "fresh" / "config.json").read_text())["segments"]
    assert len(segments) == 2 and segments[1]["resumed_from"] == last


def test_overwrite_empties_every_file_a_run_writes_and_nothing_else(tmp_path):
    """Whatever a run writes at the top of its folder (a classification run's pictures, its per-step log) is
    among the files --overwrite removes: a second run never finds the first one's steps.jsonl or report."""
    run = tmp_path / "run"
    Trainer(
        TrainConfig(
            recipe="classifier-gaussians",
            device="cpu",
            quiet=True,
            out=run,
            overrides={"epochs": 2, "extra": {"log_every": 1}},
        )
    ).fit()
    written = {p.name for p in run.iterdir()} - {LOCK_FILE}
    assert "steps.jsonl" in written and written <= set(RUN_FILES), written - set(RUN_FILES)
    (run / "notes.txt").write_text("mine")
    again = _train("--epochs", "1", "--out", str(run), "--overwrite")
    assert again.exit_code == 0, again.output
    assert not (run / "steps.jsonl").exists() and _epochs(run) == [1]
    assert (run / "notes.txt").read_text() == "mine"


def test_two_runs_into_one_folder_at_once_cannot_both_claim_it(tmp_path):
    """The folder is locked from the moment a run claims it (before it has written anything): a second zoo-train
    into it is refused, naming the holder; a holder killed with SIGKILL leaves no stale lock behind."""
    run = tmp_path / "run"
    lock = claim_run_folder(run, overwrite=False)  # what a first run does before its first file
    try:
        second = subprocess.run(
            [BIN / "zoo-train", *GAUSSIANS, "--epochs", "1", "--out", run], capture_output=True, text=True
        )
        assert second.returncode == 1 and "being written by another zoo-train" in second.stderr + second.stdout
        assert "Traceback" not in second.stderr and not (run / "config.json").exists()
        resumed = subprocess.run([BIN / "zoo-train", "--resume", run], capture_output=True, text=True)
        assert resumed.returncode != 0
    finally:
        lock.release()

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from pathlib import Path; from training.tracking import claim_run_folder as c; l = c(Path({str(run)!r}), False); "
            "print('held', flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    holder.stdout.close()
    after = subprocess.run(
        [BIN / "zoo-train", *GAUSSIANS, "--epochs", "1", "--out", run], capture_output=True, text=True
    )
    assert after.returncode == 0, after.stderr


def test_a_run_outside_a_git_checkout_records_that_plainly(tmp_path):
    """The commit of code that is not a git working tree of its own (a copied or installed package, even one sitting
    inside another repository) is recorded as such, not as 'unknown' and not as the enclosing repository's commit."""
    from training.machine import NOT_A_CHECKOUT

    script = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('machine', sys.argv[1]); "
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); print(m.project_commit())"
    )
    copied = tmp_path / "copy"
    nested = tmp_path / "repo" / "site-packages"
    for where in (copied, nested):
        (where / "training").mkdir(parents=True)
        shutil.copy(ROOT / "training" / "machine.py", where / "training" / "machine.py")
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    for where in (copied, nested):
        said = subprocess.run(
            [sys.executable, "-c", script, str(where / "training" / "machine.py")], capture_output=True, text=True
        )
        assert said.stdout.startswith(NOT_A_CHECKOUT) and str(where) in said.stdout, said.stdout + said.stderr
    here = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "training" / "machine.py")], capture_output=True, text=True
    )
    assert not here.stdout.startswith(NOT_A_CHECKOUT) and len(here.stdout.strip().split("-")[0]) == 12


@pytest.mark.parametrize("capability,native", [((7, 0), False), ((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_precision_auto_on_cuda_follows_the_run_devices_compute_capability(monkeypatch, capability, native):
    """A V100 or T4 only emulates bf16 (torch.cuda.is_bf16_supported() still says yes): auto keeps fp32 there and
    picks bf16 from Ampere on, asking the run's own device, not the current one."""
    asked: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: asked.append(d) or capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "GPU")
    chosen, why = precision.resolve_precision("auto", torch.device("cuda", 1))
    assert chosen == ("bf16" if native else "fp32") and f"sm_{capability[0]}{capability[1]}" in why
    assert asked == [torch.device("cuda", 1)]


def test_a_trainer_run_with_precision_auto_records_what_auto_chose(tmp_path):
    """precision=auto through the engine: the run computes in what auto decides for this CPU, and says why."""
    summary = _train("--epochs", "1", "--set", "precision=auto", "--out", str(tmp_path / "run"), "--json")
    assert summary.exit_code == 0, summary.output
    result = json.loads(summary.stdout.strip().splitlines()[-1])
    expected = "bf16" if precision.cpu_bf16_flags() else "fp32"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert result["precision"] == expected == config["precision"] and config["precision_reason"].startswith("auto: ")


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("ZOO_DATA_DIR", "ZOO_REQUIRE_DATA")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "slow or not slow", *args],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_suite_that_skipped_its_real_data_tests_fails_where_the_data_is_required():
    """.ci/run sets ZOO_REQUIRE_DATA when ../shared/datasets is there: a real-data test that then skips (the
    variable lost, a folder moved) fails the run instead of passing it green; the skip count is always printed."""
    target = "tests/test_training.py::test_mnist_cnn_one_epoch_reaches_98_percent"
    required = _pytest(target, ZOO_REQUIRE_DATA="1")
    assert required.returncode == 1, required.stdout[-2000:]
    assert "skipped: 1 tests, 1 of them for want of real data" in required.stdout
    assert "real-data tests skipped although ZOO_REQUIRE_DATA is set" in required.stdout
    optional = _pytest(target)
    assert optional.returncode == 0, optional.stdout[-2000:]
    assert "skipped: 1 tests, 1 of them for want of real data" in optional.stdout


def test_every_benchmark_that_writes_results_names_its_machine():
    """A benchmark's figures are only as good as the machine they name: every script that writes into
    benchmarks/results/ records training.machine.machine_record (CPU model, cores, speed flags, threads, GPU)."""
    scripts = [p for p in sorted((ROOT / "benchmarks").glob("*.py")) if "results" in p.read_text()]
    assert len(scripts) >= 10, scripts
    unnamed = [p.name for p in scripts if "machine_record(" not in p.read_text()]
    assert not unnamed, f"these benchmarks write results without naming the machine: {unnamed}"


def test_the_machine_record_names_the_cpu_and_its_speed_flags_as_the_kernel_reports_them():
    from training.machine import SPEED_FLAGS, machine_record

    record = machine_record()
    info = Path("/proc/cpuinfo").read_text().splitlines()  # read here independently
    model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    flags = set(next(line.split(":", 1)[1].split() for line in info if line.startswith("flags")))
    assert record["cpu"] == model and record["cores"] == os.cpu_count()
    assert record["cpu_flags"] == [f for f in SPEED_FLAGS if f in flags]
    assert model in str(record["line"]) and all(f in str(record["line"]) for f in record["cpu_flags"])
