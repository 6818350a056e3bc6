"""Export: every model to TorchScript, ONNX and torch.export with parity; a trained checkpoint on real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from click.testing import CliRunner

import zoo
from export.cli import main as export_cli
from export.core import export
from export.parity import recheck
from training.engine import TrainConfig, Trainer


# CI: every model but VGG16 (138 M parameters, 17 s), which runs with `make test-all`: CI keeps within 20 minutes
@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n == "vgg16" else n for n in zoo.list_models()]
)
def test_every_model_exports_to_all_formats_with_parity(name, tmp_path):
    """Example inputs are the spec's own (batch 1 and 3, plus a second sequence length). The largest
    inputs are AlexNet's and transfer-resnet18's 224x224 (their native size): no reduction needed."""
    record = export(name, tmp_path, log=lambda m: None, random_weights=True)
    assert record["passed"], json.dumps({k: v["parity"] for k, v in record["parts"].items()}, indent=1)[:4000]
    spec = zoo.get_spec(name)
    assert set(record["parts"]) == {p.name for p in spec.parts}
    for part_name, entry in record["parts"].items():
        arts = entry["artifacts"]
        assert set(arts) == {"torchscript", "onnx", "exported"}
        assert arts["torchscript"]["method"] in ("script", "trace")
        assert arts["onnx"]["exporter"] in ("dynamo", "legacy")
        assert "batch" in arts["exported"]["dynamic_axes"]
        onnx_path = tmp_path / arts["onnx"]["file"]
        assert not list(tmp_path.glob("*.onnx.data")), "the ONNX model must be one self-contained file"
        proto = onnx.load(str(onnx_path))
        inputs = {i.name: i for i in proto.graph.input}
        for t in entry["inputs"]:
            dims = inputs[t["name"]].type.tensor_type.shape.dim
            for axis in t["dynamic_axes"]:
                assert dims[int(axis)].dim_param, f"{part_name}/{t['name']} axis {axis} is not dynamic in ONNX"
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["zoo.model"] == name and meta["zoo.part"] == part_name
        assert json.loads(meta["zoo.labels"]) == (list(spec.labels) if spec.labels else None)
        cases = entry["parity"]["cases"]
        assert {"batch1", "batch3"} <= set(cases)
        for case in cases.values():
            for runtime in ("torchscript", "onnxruntime", "exported"):
                assert case[runtime]["ok"]


def test_sequence_models_keep_their_sequence_axis_dynamic_in_onnx(tmp_path):
    record = export("pos-tagger", tmp_path, formats=["onnx"], log=lambda m: None, random_weights=True)
    cases = record["parts"]["model"]["parity"]["cases"]
    assert {"seq8", "chars10"} <= set(cases) and all(c["onnxruntime"]["ok"] for c in cases.values())


@pytest.fixture(scope="module")
def mnist_checkpoint(data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mnist")
    Trainer(
        TrainConfig(recipe="mnist-cnn-mnist", data_dir=data_dir, device="cpu", out=out, max_steps=400, quiet=True)
    ).fit()
    return out / "checkpoints" / "last.pt"


@pytest.fixture(scope="module")
def mnist_export(mnist_checkpoint, data_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mnist-export")
    result = CliRunner().invoke(
        export_cli, [str(mnist_checkpoint), "--out", str(out), "--real-samples", "all", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_trained_checkpoint_agrees_on_the_whole_mnist_test_set(mnist_export):
    record = json.loads((mnist_export / "export.json").read_text())
    assert record["source"]["kind"] == "checkpoint" and record["source"]["sha256"]
    real = record["parts"]["model"]["parity"]["cases"]["real"]
    assert real["samples"] == 10_000
    for runtime in ("torchscript", "onnxruntime", "exported"):
        assert real[runtime]["argmax_agree"] == "10000/10000", runtime
        assert real[runtime]["outputs"]["logits"]["max_abs"] < 1e-4
    assert record["labels"] == [str(i) for i in range(10)]
    assert record["preprocessing"]["height"] == 28


def test_torchscript_artifact_carries_labels_and_preprocessing(mnist_export):
    files = {"labels.json": "", "preprocessing.json": ""}
    torch.jit.load(str(mnist_export / "model.pt"), _extra_files=files)
    assert json.loads(files["labels.json"]) == [str(i) for i in range(10)]
    assert json.loads(files["preprocessing.json"])["channels"] == 1


def test_check_reverifies_and_catches_tampering(mnist_export, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(export_cli, ["--check", str(mnist_export)])
    assert ok.exit_code == 0, ok.output
    assert recheck(mnist_export)["passed"]
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(mnist_export, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-100] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    bad = runner.invoke(export_cli, ["--check", str(copy)])
    assert bad.exit_code == 1 and "changed" in bad.output


def test_int8_quantization_reports_accuracy_size_and_speed(mnist_checkpoint, data_dir, tmp_path):
    """Static QDQ on real training images; int8 accuracy on the whole test split beside fp32; batch 1 and 64."""
    result = CliRunner().invoke(
        export_cli,
        [
            str(mnist_checkpoint),
            "--format",
            "onnx",
            "--quantize",
            "int8",
            "--out",
            str(tmp_path),
            "--data-dir",
            str(data_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    q = json.loads((tmp_path / "export.json").read_text())["parts"]["model"]["quantized"]
    assert q["kind"] == "static" and "256 training samples" in q["method"]
    assert q["size_bytes"]["int8"] < q["size_bytes"]["fp32"]
    assert q["quality"]["samples"] == 10_000 and "whole test split" in q["quality"]["split"]
    assert abs(q["quality"]["drop"]) < 0.01 and q["quality"]["argmax_agree"] > 0.98
    assert set(q["latency_ms"]) == {"threads", "batch1", "batch64"} and q["latency_ms"]["batch64"]["int8_ms"] > 0
    assert (tmp_path / "model.int8.onnx").is_file()


def test_int8_accuracy_drop_past_the_bound_is_refused_unless_allowed(mnist_checkpoint, data_dir, tmp_path, monkeypatch):
    """With the bound set below any real drop, quantising is an error that names the figures and keeps no
    int8 file; --allow-drop keeps it."""
    import export.quantize as quantize

    monkeypatch.setattr(quantize, "MAX_DROP", -1.0)
    args = [
        str(mnist_checkpoint),
        "--format",
        "onnx",
        "--quantize",
        "int8",
        "--data-dir",
        str(data_dir),
        "--calibration-samples",
        "64",
    ]
    refused = CliRunner().invoke(export_cli, args + ["--out", str(tmp_path / "a")])
    assert refused.exit_code == 1 and "points below fp32" in refused.output and "--allow-drop" in refused.output
    assert not (tmp_path / "a" / "model.int8.onnx").exists()
    record = json.loads((tmp_path / "a" / "export.json").read_text())["parts"]["model"]["quantized"]
    assert "refused" in record and record["measured"]["quality"]["samples"] == 10_000
    kept = CliRunner().invoke(export_cli, args + ["--out", str(tmp_path / "b"), "--allow-drop"])
    assert kept.exit_code == 0 and (tmp_path / "b" / "model.int8.onnx").is_file()


@pytest.mark.slow  # about a minute: CI keeps within 20 minutes; `make test-all` runs it
def test_every_catalogue_part_is_quantised_or_refused_with_a_reason(tmp_path):
    """Without a dataset: convolutional parts fed by data are refused (one line saying why), generators are
    calibrated on their own noise, matrix-product parts get dynamic int8; never a traceback."""
    from export.quantize import QuantizeError, quantize_export

    seen = {}
    for name in zoo.list_models():
        if name in ("alexnet", "vgg16", "transfer-resnet18"):  # 224x224 ImageNet-size nets: minutes to export
            continue
        out = tmp_path / name
        export(name, out, formats=["onnx"], log=lambda m: None, random_weights=True)
        try:
            record = quantize_export(
                out, data_dir=tmp_path / "no-data", log=lambda m: None, eval_samples=32, timing=False, samples=8
            )
        except QuantizeError as e:
            assert "\n" not in str(e) and ("needs calibration inputs" in str(e) or "would not speed" in str(e)), str(e)
            record = json.loads((out / "export.json").read_text())
        for part, entry in record["parts"].items():
            q = entry["quantized"]
            seen[f"{name}/{part}"] = q.get("kind") or "refused"
            if "file" in q:
                assert (out / q["file"]).is_file() and q["quality"]["output_rel_error"] < 1.0, (name, part, q)
    assert seen["dcgan/generator"] == "static" and seen["resnet/model"] == "refused"
    assert seen["mnist-lstm/model"] == "dynamic" and seen["pos-tagger/model"] == "dynamic"


def test_parity_failure_is_reported_and_exits_nonzero(tmp_path, monkeypatch):
    """A runtime that disagrees with eager must fail the export (the check can fail)."""
    import export.parity as parity

    real_runners = parity.runners

    def broken(*args, **kwargs):
        run = real_runners(*args, **kwargs)
        good = run["onnxruntime"]
        run["onnxruntime"] = lambda inputs: [o + 1e-2 for o in good(inputs)]
        return run

    monkeypatch.setattr(parity, "runners", broken)
    result = CliRunner().invoke(export_cli, ["dqn", "--random-weights", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "PARITY FAILED" in result.output


def test_bad_sources_fail_clearly(tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(export_cli, ["resnt", "--out", str(tmp_path)])
    assert unknown.exit_code != 0 and "resnet" in unknown.output
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a real zip")
    bad = runner.invoke(export_cli, [str(corrupt), "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "checkpoint" in bad.output.lower()


def test_onnx_matches_eager_on_odd_batch_for_a_gan_generator(tmp_path):
    record = export("dcgan", tmp_path, formats=["onnx"], parts=["generator"], log=lambda m: None, random_weights=True)
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "generator.onnx"), providers=["CPUExecutionProvider"])
    noise = np.random.default_rng(0).uniform(-1, 1, (5, 96)).astype(np.float32)
    (images,) = session.run(None, {"noise": noise})
    assert images.shape == (5, 1, 28, 28) and record["passed"]


def test_an_asked_opset_is_the_one_written_or_an_error(tmp_path):
    """The dynamo exporter writes opset >= 18 whatever it is asked: an older opset goes through the legacy
    exporter (and says why), an opset nothing can write is one error line, and below 7 a usage error."""
    result = CliRunner().invoke(
        export_cli, ["lenet", "--format", "onnx", "--opset", "13", "--out", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    onnx_info = json.loads((tmp_path / "a" / "export.json").read_text())["parts"]["model"]["artifacts"]["onnx"]
    assert (
        onnx_info["opset"] == 13
        and onnx_info["exporter"] == "legacy"
        and "not the 13 asked for" in onnx_info["why_legacy"]
    )
    assert onnx.load(str(tmp_path / "a" / "model.onnx")).opset_import[0].version == 13
    result = CliRunner().invoke(
        export_cli, ["lenet", "--format", "onnx", "--opset", "99", "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 1 and "Error: opset 99 cannot be written for model" in result.output, result.output
    result = CliRunner().invoke(export_cli, ["lenet", "--format", "onnx", "--opset", "3", "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "3 is not in the range x>=7" in result.output, result.output


def test_int8_figures_recorded_on_a_card_are_shown_and_checked(data_dir, tmp_path, monkeypatch):
    """`zoo weights int8 NAME --record` writes accuracy and speed-up to the card's registry file (here a local
    copy of mnist-cnn.mnist's card, so the packaged registry is untouched), `zoo weights info` shows them, and
    `--check` measures again and compares; a card saying otherwise fails the check."""
    from export.cli import weights_int8_cmd
    from zoo.cli import weights_info_cmd
    from zoo.weights import REGISTRY_FILE, get_weights, registry_path, write_card

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    packaged = REGISTRY_FILE.read_bytes()
    write_card(
        "mnist-cnn.mnist",
        {k: v for k, v in get_weights("mnist-cnn.mnist").card.items() if k != "int8"},
        registry_path(local=True),
    )
    args = ["mnist-cnn.mnist", "--data-dir", str(data_dir), "--no-timing"]
    recorded = CliRunner().invoke(weights_int8_cmd, args + ["--record", "--json"])
    assert recorded.exit_code == 0, recorded.output
    part = get_weights("mnist-cnn.mnist").card["int8"]["parts"]["model"]
    assert part["fp32_accuracy"] == pytest.approx(0.9802, abs=1e-4) and abs(part["drop"]) < 0.01 and part["kept"]
    assert REGISTRY_FILE.read_bytes() == packaged
    shown = CliRunner().invoke(weights_info_cmd, ["mnist-cnn.mnist"])
    assert f"-> {part['int8_accuracy']:.4f} int8" in shown.output and "measured" in shown.output
    assert CliRunner().invoke(weights_int8_cmd, args + ["--check"]).exit_code == 0
    card = get_weights("mnist-cnn.mnist").card
    card["int8"]["parts"]["model"]["int8_accuracy"] -= 0.05
    write_card("mnist-cnn.mnist", card, registry_path(local=True))
    wrong = CliRunner().invoke(weights_int8_cmd, args + ["--check"])
    assert wrong.exit_code == 1 and "FAIL" in wrong.output
    # the fixed draw CI re-measures: recorded beside the whole split's figures, checked against its own figure
    drawn = part["verify_subset"]
    assert drawn["samples"] == 1000 and drawn["seed"] == 0 and "1000 samples" in drawn["split"]
    assert CliRunner().invoke(weights_int8_cmd, args + ["--check", "--subset"]).exit_code == 0
    card["int8"]["parts"]["model"]["verify_subset"]["int8_accuracy"] -= 0.05
    write_card("mnist-cnn.mnist", card, registry_path(local=True))
    assert CliRunner().invoke(weights_int8_cmd, args + ["--check", "--subset"]).exit_code == 1


#: The fixed subset of int8 cards CI re-measures (one per family: MNIST CNN, CIFAR CNN, CIFAR ResNet); the others
#: run with `make test-all` (marked slow), so that CI keeps within its 20 minutes.
INT8_IN_CI = ("mnist-cnn.mnist", "simple-cnn.cifar10", "resnet.cifar10")


def _shipped_int8() -> list:
    from zoo.weights import get_weights, list_weights

    shipped = [
        n for n in list_weights() if get_weights(n).shipped and (get_weights(n).card.get("int8") or {}).get("parts")
    ]
    assert set(INT8_IN_CI) <= set(shipped), shipped
    return [n if n in INT8_IN_CI else pytest.param(n, marks=pytest.mark.slow) for n in shipped]


@pytest.mark.parametrize("name", _shipped_int8())
def test_every_shipped_int8_figure_holds_on_its_verify_draw(name, data_dir):
    """What `verify` is for fp32, for int8: each shipped card's int8 accuracy, quantised again by the code
    `zoo-export --quantize int8` runs and measured on the card's fixed 1,000-sample draw, within SUBSET_TOLERANCE."""
    from export.card import SUBSET_TOLERANCE, check, measure

    measured = measure(name, data_dir, log=lambda m: None, timing=False, subset=True)
    rows = check(name, measured)
    assert rows and all(row["ok"] is True for row in rows.values()), (name, rows)
    assert all(row["tolerance"] == SUBSET_TOLERANCE for row in rows.values())


def test_an_export_with_test_time_views_answers_as_the_evaluation_measured(data_dir, tmp_path):
    """`zoo-export NAME --views 1`: onnxruntime's answers on a seeded draw of 2,000 CIFAR-10 test images give the
    accuracy `zoo-eval NAME --tta 1` measures in PyTorch on that draw (the views live inside the graph), above the
    plain export's; a model that is not an image classifier is refused, saying so."""
    from export.parity import inputs_from
    from export.quantize import run_batched, session
    from export.source import load_source
    from training.checkpoint import checkpoint_from_weights
    from training.data import load_dataset, random_subset
    from training.evaluate import evaluate_checkpoint
    from zoo.weights import get_weights

    name = "simple-cnn.cifar10"
    record = export(name, tmp_path / "views", ["onnx"], real_samples=64, data_dir=data_dir, log=lambda m: None, views=1)
    assert record["passed"] and record["views"] == {"level": 1, "count": 2}
    plain = export(name, tmp_path / "plain", ["onnx"], real_samples=0, log=lambda m: None)
    src = load_source(name)
    test = random_subset(load_dataset("cifar10", data_dir).test, 2000, seed=0)  # the draw eval_samples takes
    inputs = inputs_from(src.spec.part("model"), test, src.preprocessing, None)
    accuracy = {}
    for kind, folder in (("views", tmp_path / "views"), ("plain", tmp_path / "plain")):
        logits = run_batched(session(folder / "model.onnx"), inputs)
        accuracy[kind] = float((logits.argmax(1) == test["y"].numpy()).mean())
    measured = evaluate_checkpoint(
        checkpoint_from_weights(get_weights(name)), data_dir, device="cpu", tta=1, eval_samples=2000
    )
    assert accuracy["views"] == pytest.approx(measured["test_accuracy"], abs=2e-4), (accuracy, measured)
    assert accuracy["plain"] == pytest.approx(measured["test_accuracy_single_view"], abs=2e-4)
    assert accuracy["views"] > accuracy["plain"] and "views" not in plain
    refused = CliRunner().invoke(export_cli, ["pos-tagger.ud-english", "--views", "1", "--out", str(tmp_path / "t")])
    assert refused.exit_code != 0 and "test-time views are for image classifiers" in refused.output, refused.output
    # `zoo-serve archive NAME --views 1` archives such an export (the handler runs its ONNX file as it is)
    from serving.archive import ArchiveError, build_archive

    info = build_archive(name, name="cifar-views", store=tmp_path / "store", exports_dir=tmp_path / "ex", views=1)
    assert json.loads((Path(info["export_dir"]) / "export.json").read_text())["views"]["count"] == 2
    assert (tmp_path / "store" / "cifar-views.mar").is_file()
    with pytest.raises(ArchiveError, match="views were fixed when exported"):
        build_archive(tmp_path / "plain", store=tmp_path / "store", views=1)
