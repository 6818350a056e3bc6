"""Every CLI turns an expected failure (a truncated, unsafe or missing checkpoint, a missing file, an
unknown name) into one ``Error:`` line and exit code 1, never a traceback."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from export.cli import main as export_main
from serving.cli import main as serve_main
from training.cli import dream_main, eval_main, predict_main, train_main
from zoo.cli import main as zoo_main


class _Unsafe:
    def __reduce__(self):  # what a malicious checkpoint would run when unpickled without weights_only
        return (print, ("this must never run",))


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    truncated = root / "truncated.pt"
    good = root / "good.pt"
    torch.save({"weights": torch.zeros(1000)}, good)
    truncated.write_bytes(good.read_bytes()[:300])
    unsafe = root / "unsafe.pt"
    torch.save({"model": _Unsafe()}, unsafe)
    image = root / "image.png"
    image.write_bytes(b"not a png")
    return {"truncated": truncated, "unsafe": unsafe, "missing": root / "missing.pt", "image": image, "root": root}


def _cases(f: dict[str, Path]) -> list[tuple[object, list[str]]]:
    cases: list[tuple[object, list[str]]] = []
    for kind in ("truncated", "unsafe", "missing"):
        ckpt = str(f[kind])
        cases += [
            (
                serve_main,
                ["archive", ckpt, "--store", str(f["root"] / "store"), "--exports", str(f["root"] / "exports")],
            ),
            (export_main, [ckpt, "--out", str(f["root"] / "export")]),
            (eval_main, [ckpt]),
            (predict_main, [ckpt, str(f["image"])]),
            (dream_main, [ckpt, str(f["image"])]),
            (train_main, ["mnist-cnn-mnist", "--resume", ckpt]),
        ]
    cases += [
        (
            serve_main,
            [
                "archive",
                "lenet",
                "--name",
                "../evil",
                "--store",
                str(f["root"] / "store-n"),
                "--exports",
                str(f["root"] / "exports-n"),
            ],
        )
    ]  # refused before anything is exported
    cases += [
        (zoo_main, ["info", "no-such-model"]),
        (train_main, ["no-such-recipe"]),
        (serve_main, ["predict", "x", str(f["image"]), "--run-dir", str(f["root"] / "no-server")]),
        (serve_main, ["start", "x", "--store", str(f["root"] / "empty-store"), "--run-dir", str(f["root"] / "run")]),
        (
            serve_main,
            [
                "start",
                "x",
                "--engine",
                "kserve",
                "--store",
                str(f["root"] / "empty-store"),
                "--run-dir",
                str(f["root"] / "run-k"),
            ],
        ),
        (serve_main, ["deploy", "x", "--store", str(f["root"] / "empty-store"), "--out", str(f["root"] / "deploy")]),
    ]
    corrupt = f["root"] / "corrupt-store"
    corrupt.mkdir(exist_ok=True)
    (corrupt / "x.mar").write_bytes(b"PK\x03\x04 not really a zip")
    traversal = f["root"] / "traversal-store"  # a zip member escaping the unpack folder
    traversal.mkdir(exist_ok=True)
    with zipfile.ZipFile(traversal / "x.mar", "w") as archive:
        for name in ("serving.json", "export.json", "../x-evil/owned.txt"):
            archive.writestr(name, "{}")
    cases += [
        (
            serve_main,
            ["start", "x", "--engine", "kserve", "--store", str(traversal), "--run-dir", str(f["root"] / "run-t")],
        )
    ]
    cases += [
        (
            serve_main,
            ["start", "x", "--engine", "kserve", "--store", str(corrupt), "--run-dir", str(f["root"] / "run-c")],
        ),
        (serve_main, ["deploy", "x", "--store", str(corrupt), "--out", str(f["root"] / "deploy-c")]),
    ]
    return cases


def test_expected_failures_are_one_line_without_traceback(bad_files):
    runner = CliRunner()
    for command, args in _cases(bad_files):
        result = runner.invoke(command, args)  # type: ignore[arg-type]
        shown = f"{getattr(command, 'name', command)} {' '.join(args)}:\n{result.output}"
        assert result.exit_code == 1, shown
        assert (
            "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
        ), shown
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and len(errors[0]) > 20, shown
        assert "this must never run" not in result.output
    assert not (bad_files["root"] / "run-t" / "models" / "x-evil").exists()  # nothing unpacked outside its folder
    assert not (bad_files["root"] / "exports-n").exists() and not (bad_files["root"] / "evil.mar").exists()


@pytest.mark.parametrize(
    "args, says",
    [
        (["--epochs", "-1"], "epochs must be a whole number >= 1"),
        (["--batch-size", "0"], "batch_size must be a whole number >= 1"),
        (["--lr", "nan"], "lr must be a finite number > 0"),
        (["--set", "precision=fp8"], "precision must be one of fp32, bf16, auto"),
        (["--set", "momentum=-1"], "momentum must be in [0, 1)"),
        (["--set", "label_smoothing=1.5"], "label_smoothing must be in [0, 1)"),
        (["--set", "betas=0.9"], "betas must be two numbers"),
        (["--set", "lr=abc"], "lr='abc': expected a number"),
        (["--set", "epochs=2.5"], "epochs='2.5': expected a whole number"),
        (["--sweep", "batch_size=32,0"], "batch_size must be a whole number >= 1"),
    ],
)
def test_a_hyper_parameter_no_run_can_use_is_refused_before_training(args, says, tmp_path):
    """A zero batch or a negative epoch count used to crash mid-run (ZeroDivisionError) or train nothing and
    say "done"; now it is one error line before any data is read or anything written."""
    result = CliRunner().invoke(
        train_main, ["mnist-cnn-mnist", "--data-dir", str(tmp_path / "no-data"), "--out", str(tmp_path / "run"), *args]
    )
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0], result.output
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("option", ["--max-steps", "--eval-samples"])
def test_step_and_sample_counts_below_one_are_usage_errors(option, tmp_path):
    result = CliRunner().invoke(train_main, ["mnist-cnn-mnist", option, "0", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "0 is not in the range x>=1" in result.output, result.output


def test_every_console_script_answers_version_and_python_m_zoo_runs():
    import configparser
    import subprocess
    import sys
    from pathlib import Path

    import zoo

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parent.parent / "setup.cfg")
    scripts = [
        line.split("=")[0].strip()
        for line in config["options.entry_points"]["console_scripts"].splitlines()
        if line.strip()
    ]
    assert len(scripts) == 7
    for name in scripts:
        exe = Path(sys.executable).parent / name
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.strip().endswith(f"version {zoo.__version__}"), (
            name,
            out.stderr[-500:],
        )
    listed = subprocess.run([sys.executable, "-m", "zoo", "list"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "resnet18" in listed.stdout
