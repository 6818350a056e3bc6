"""Training: resume after a kill, DDP on CPU, checkpoints, reproducibility, data loading, CLIs (every recipe's short learning run is in test_recipes_learn.py)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from training.cli import dream_main, eval_main, predict_main, train_main
from training.data import DataNotFoundError, load_dataset, safe_extract
from training.engine import TrainConfig, Trainer
from training.recipes import get_recipe, list_recipes

BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory):
    """Extracted archives and tensor caches go to a per-session folder, not ~/.cache."""
    old = os.environ.get("ZOO_CACHE_DIR")
    os.environ["ZOO_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "zoo-cache")
    yield
    if old is None:
        os.environ.pop("ZOO_CACHE_DIR", None)
    else:
        os.environ["ZOO_CACHE_DIR"] = old


def test_every_model_recipe_is_registered_both_ways():
    for name in list_recipes():
        recipe = get_recipe(name)
        assert recipe.model in zoo.list_models(), name
    for model in zoo.list_models():
        for recipe in zoo.get_spec(model).recipes:
            assert get_recipe(recipe).model == model


@pytest.mark.slow  # the recipe's learn test and benchmarks/recipes.py cover it in the default suite
def test_mnist_cnn_one_epoch_reaches_98_percent(data_dir, tmp_path):
    """The seed's headline number: mnist-cnn, seed profile, one epoch, full MNIST test set."""
    summary = Trainer(
        TrainConfig(recipe="mnist-cnn-mnist", data_dir=data_dir, device="cpu", out=tmp_path, quiet=True)
    ).fit()
    assert summary["test_accuracy"] >= 0.98
    assert (tmp_path / "confusion_matrix.png").is_file()
    assert set(summary["per_class_accuracy"]) == {str(i) for i in range(10)}


def test_ngram_sonnet_learns_the_sonnet(tmp_path):
    summary = Trainer(TrainConfig(recipe="ngram-sonnet", device="cpu", out=tmp_path, quiet=True)).fit()
    assert summary["epoch"] == 100 and summary["train_loss"] <= 0.1
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    vocab = ckpt["meta"]["vocab"]
    assert vocab == sorted(vocab) and len(vocab) == 97
    model = model_from_checkpoint(ckpt)
    context = torch.tensor([[vocab.index("so"), vocab.index("gazed")]])
    assert vocab[int(model(context).argmax(1))] == "on"


@pytest.mark.slow  # the recipe's learn test and benchmarks/recipes.py cover it in the default suite
def test_pos_tagger_toy_tags_the_seed_sentence(tmp_path):
    Trainer(TrainConfig(recipe="pos-tagger-toy", device="cpu", out=tmp_path, quiet=True)).fit()
    ckpt = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    words, chars, tags = (ckpt["meta"][k] for k in ("words", "chars", "tags"))
    sentence = "Everybody ate the apple".split()
    w = torch.tensor([[words.index(s.lower()) for s in sentence]])
    c = torch.zeros(1, len(sentence), 10, dtype=torch.long)
    for i, s in enumerate(sentence):
        c[0, i, : len(s)] = torch.tensor([chars.index(ch) for ch in s.lower()])
    with torch.no_grad():
        pred = model_from_checkpoint(ckpt)(w, c).argmax(-1)[0]
    assert [tags[i] for i in pred] == ["NN", "V", "DET", "NN"]


@pytest.mark.slow  # torch.compile on the CPU: half a minute; CI keeps within 20 minutes, `make test-all` runs it
def test_fast_cifar_profile_and_compile_run_on_cpu(data_dir, tmp_path):
    """The GPU-oriented pieces still work on a CPU: the fast profile (bf16 autocast where the CPU has it,
    channels_last and one-cycle) and torch.compile; checkpoints hold plain state_dict keys."""
    fast = Trainer(
        TrainConfig(
            recipe="resnet-cifar10",
            profile="fast",
            data_dir=data_dir,
            device="cpu",
            out=tmp_path / "fast",
            max_steps=2,
            eval_samples=64,
            quiet=True,
            overrides={"batch_size": 16},
        )
    ).fit()
    assert fast["global_step"] == 2 and fast["test_loss"] == fast["test_loss"]
    compiled = Trainer(
        TrainConfig(
            recipe="classifier-gaussians",
            device="cpu",
            out=tmp_path / "compiled",
            compile=True,
            quiet=True,
            overrides={"epochs": 3},
        )
    ).fit()
    keys = load_checkpoint(tmp_path / "compiled" / "checkpoints" / "last.pt")["state_dict"].keys()
    assert compiled["global_step"] == 3 and not any(k.startswith("_orig_mod") for k in keys)


def test_seeded_runs_are_reproducible(tmp_path):
    cfg = dict(recipe="mnist-cnn-mnist", dataset="digits", device="cpu", max_steps=6, quiet=True)
    a = Trainer(TrainConfig(out=tmp_path / "a", **cfg)).fit()
    b = Trainer(TrainConfig(out=tmp_path / "b", **cfg)).fit()
    assert a["train_loss"] == b["train_loss"] and a["test_loss"] == b["test_loss"]


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    """Kill a real zoo-train process mid-run (SIGKILL), resume it: final weights equal an uninterrupted run's."""
    # VAE: its training samples noise, so the global RNG state must be restored too.
    # 1,437 digits in batches of 32: 45 steps per epoch, 180 in all.
    args = [
        "vae-mnist",
        "--dataset",
        "digits",
        "--device",
        "cpu",
        "--epochs",
        "4",
        "--batch-size",
        "32",
        "--quiet",
        "--checkpoint-every",
        "3",
        "--seed",
        "7",
    ]
    whole = tmp_path / "whole"
    subprocess.run([BIN / "zoo-train", *args, "--out", whole], check=True, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [BIN / "zoo-train", *args, "--out", killed], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    last = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    step = 0
    while time.time() < deadline and proc.poll() is None:
        if last.is_file():
            try:
                step = load_checkpoint(last)["train_state"]["global_step"]
            except CheckpointError:
                step = 0
            if step >= 30:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 30 <= step < 180, f"the run was not interrupted mid-way (checkpoint at step {step})"
    resumed = subprocess.run(
        [BIN / "zoo-train", "--resume", last, "--quiet", "--json"], check=True, capture_output=True, text=True
    )
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["global_step"] == 180
    a, b = _state(whole / "checkpoints" / "last.pt"), _state(last)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_ddp_on_cpu_with_two_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "training.cli",
        "mnist-cnn-mnist",
        "--dataset",
        "digits",
        "--device",
        "cpu",
        "--max-steps",
        "4",
        "--quiet",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["train_state"]["global_step"] == 4
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > 0


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(empty)
    good = tmp_path / "good.pt"
    save_checkpoint({"format": "torch-model-zoo/checkpoint", "format_version": 1, "x": torch.ones(1000)}, good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:600])
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint|could not be loaded"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save(zoo.get_model("dqn").state_dict(), foreign)
    with pytest.raises(CheckpointError, match="not a torch-model-zoo checkpoint"):
        load_checkpoint(foreign)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(text)


def test_missing_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DataNotFoundError) as e:
        load_dataset("mnist", tmp_path)
    assert str(tmp_path) in str(e.value) and "--download" in str(e.value)
    with pytest.raises(DataNotFoundError, match="--data-dir"):
        load_dataset("cifar10", tmp_path)
    result = CliRunner().invoke(train_main, ["fashion-net-fashion-mnist", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "--download" in result.output


def test_tar_extraction_refuses_paths_outside_the_target(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(ValueError, match="outside"):
        safe_extract(archive, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()


def test_image_folder_tar_loads_with_class_subset(tmp_path):
    src = tmp_path / "src" / "pets"
    for split in ("train", "test"):
        for cls, value in (("cat", 40), ("dog", 200), ("fox", 120)):
            (src / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(src / split / cls / f"{i}.png")
    archive = tmp_path / "data" / "cats-dogs.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="pets")
    bundle = load_dataset("image-folder", tmp_path / "data", classes=["cat", "dog"])
    assert bundle.labels == ["cat", "dog"]
    assert bundle.train["x"].shape == (6, 3, 8, 8) and bundle.train["y"].tolist() == [0, 0, 0, 1, 1, 1]


def test_cli_list_json_and_sweep(tmp_path):
    runner = CliRunner()
    listing = runner.invoke(train_main, ["--list", "--json"])
    assert listing.exit_code == 0
    assert {r["name"] for r in json.loads(listing.stdout)} == set(list_recipes())
    result = runner.invoke(
        train_main,
        [
            "classifier-gaussians",
            "--sweep",
            "lr=0.02,0.2",
            "--epochs",
            "5",
            "--device",
            "cpu",
            "--quiet",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    final = json.loads(result.stdout.strip().splitlines()[-1])
    assert [r["params"]["lr"] for r in final["runs"]] == ["0.02", "0.2"]
    rows = (tmp_path / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("run,label,param_lr") and len(rows) == 1 + 2 * 5
    assert (tmp_path / "comparison.png").is_file()


def test_tensorboard_logs(tmp_path):
    result = CliRunner().invoke(
        train_main,
        [
            "mnist-cnn-mnist",
            "--dataset",
            "digits",
            "--max-steps",
            "3",
            "--device",
            "cpu",
            "--quiet",
            "--tensorboard",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 1000


@pytest.fixture(scope="module")
def digit_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("digits")
    Trainer(
        TrainConfig(
            recipe="mnist-cnn-mnist", dataset="digits", device="cpu", out=out, quiet=True, overrides={"epochs": 3}
        )
    ).fit()
    return out / "checkpoints" / "best.pt"


def test_zoo_eval_reports_per_class_and_plots(digit_checkpoint, tmp_path):
    result = CliRunner().invoke(eval_main, [str(digit_checkpoint), "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["test_accuracy"] > 0.8 and len(metrics["per_class_accuracy"]) == 10
    assert (tmp_path / "confusion_matrix.png").is_file()
    # --tta: the views averaged, and the single view from the same pass is the plain evaluation's accuracy
    result = CliRunner().invoke(eval_main, [str(digit_checkpoint), "--json", "--tta", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    viewed = json.loads(result.stdout)
    assert viewed["test_accuracy_single_view"] == metrics["test_accuracy"]
    assert viewed["test_accuracy"] != metrics["test_accuracy"]  # a mirrored digit is another picture


def test_zoo_eval_tta_is_for_image_classifiers():
    result = CliRunner().invoke(eval_main, ["classifier-net.gaussians", "--tta", "2"])
    assert result.exit_code == 1
    assert "test-time augmentation is for image classifiers; classifier-gaussians" in result.output


def test_zoo_predict_reads_a_photo_of_a_dark_digit_on_paper(digit_checkpoint, tmp_path):
    bundle = load_dataset("digits")
    ckpt = load_checkpoint(digit_checkpoint)
    model = model_from_checkpoint(ckpt)
    with torch.no_grad():
        pred = model(bundle.test["x"].float() / 255).argmax(1)
    index = int(torch.nonzero(pred == bundle.test["y"])[0])  # a test digit the model gets right
    digit = bundle.test["x"][index, 0].numpy()
    photo = Image.fromarray(255 - digit).resize((140, 140), Image.BILINEAR)  # dark ink, light paper, bigger
    photo_path = tmp_path / "photo.png"
    photo.save(photo_path)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    result = CliRunner().invoke(predict_main, [str(digit_checkpoint), str(photo_path), str(junk), "--json"])
    assert result.exit_code == 1  # one file failed
    first = json.loads(result.stdout.strip().splitlines()[0])
    assert first["top"][0]["label"] == str(int(bundle.test["y"][index]))
    assert "junk.png: error" in result.output


def test_zoo_eval_tsne_draws_classes_that_separate(digit_checkpoint, tmp_path):
    result = CliRunner().invoke(eval_main, [str(digit_checkpoint), "--tsne", "300", "--json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["tsne_samples"] == 300 and (tmp_path / "tsne.png").is_file()
    # learned features separate the ten digits in the picture (chance would be about 0.1)
    assert metrics["tsne_knn_accuracy"] > 0.7
    image = Image.open(tmp_path / "tsne.png")
    colours = np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)
    assert image.width > 300 and len(colours) > 10  # coloured points, not a blank picture


@pytest.mark.parametrize(
    "args, says",
    [
        (["--dataset", "cifar10"], "mnist-cnn-mnist uses mnist, digits; --dataset cifar10 does not fit it"),
        (["--tsne", "3"], "t-SNE needs at least 10 samples, got 3"),
    ],
)
def test_zoo_eval_refuses_what_cannot_work_with_one_line(digit_checkpoint, tmp_path, args, says):
    """A dataset of another shape used to end in a convolution's shape error, three t-SNE samples in
    scikit-learn's neighbour-count error."""
    result = CliRunner().invoke(eval_main, [str(digit_checkpoint), "--out", str(tmp_path), *args])
    assert result.exit_code == 1 and f"Error: {says}" in result.output, result.output


def test_zoo_predict_top_k_below_one_is_a_usage_error(digit_checkpoint, tmp_path):
    (tmp_path / "x.png").write_bytes(b"unused")
    result = CliRunner().invoke(predict_main, [str(digit_checkpoint), str(tmp_path / "x.png"), "--top-k", "0"])
    assert result.exit_code == 2 and "0 is not in the range x>=1" in result.output, result.output


def test_zoo_dream_amplifies_the_chosen_layer(digit_checkpoint, tmp_path):
    digit = load_dataset("digits").test["x"][0, 0].numpy()
    Image.fromarray(digit).resize((56, 56)).save(tmp_path / "digit.png")
    args = [str(digit_checkpoint), str(tmp_path / "digit.png"), "--octaves", "3", "--steps", "10", "--quiet"]
    layers = CliRunner().invoke(dream_main, [*args, "--list-layers"])
    assert layers.exit_code == 0 and layers.output.split() == ["conv1.0", "conv2.0"]
    result = CliRunner().invoke(dream_main, [*args, "--layer", "conv2.0", "--out", str(tmp_path / "d.png"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["activation_after"] > 2 * summary["activation_before"]  # gradient ascent did its job
    dreamed = np.asarray(Image.open(tmp_path / "d.png"))
    assert dreamed.shape == (56, 56)
    assert np.abs(dreamed.astype(int) - np.asarray(Image.open(tmp_path / "digit.png")).astype(int)).mean() > 5
    # bad input: one line, non-zero exit, no traceback
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    for bad, message in (
        ([str(digit_checkpoint), str(tmp_path / "junk.png")], "image"),
        ([*args, "--layer", "fc"], "no layer 'fc'"),
        ([str(tmp_path / "digit.png"), str(tmp_path / "digit.png")], "checkpoint"),
    ):
        failed = CliRunner().invoke(dream_main, bad)
        assert failed.exit_code == 1 and message in failed.output and "Traceback" not in failed.output, failed.output


def test_a_used_run_folder_is_refused_unless_overwritten_and_a_run_records_where_it_ran(tmp_path):
    """A second run into a folder that holds one would mix their histories (metrics.jsonl appended): refused
    before any training, naming --resume, a fresh folder and --overwrite; --overwrite replaces the old run's
    files (one history left). The run records its machine, library versions and commit."""
    args = ["classifier-gaussians", "--epochs", "3", "--device", "cpu", "--quiet", "--out", str(tmp_path / "run")]
    first = CliRunner().invoke(train_main, args)
    assert first.exit_code == 0, first.output
    history = (tmp_path / "run" / "metrics.jsonl").read_text()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    again = CliRunner().invoke(train_main, [*args[:2], "5", *args[3:]])
    assert again.exit_code == 1 and "already holds a run" in again.output, again.output
    assert "--resume" in again.output and "fresh --out folder" in again.output and "--overwrite" in again.output
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == history  # untouched
    replaced = CliRunner().invoke(train_main, [*args[:2], "5", *args[3:], "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5]  # one run's history, not two
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # --overwrite removes the run's files only
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()  # what the machine says, read here independently
    model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    assert config["device_name"] == f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
    assert config["versions"]["torch"] == torch.__version__ and config["commit"]
    fresh = CliRunner().invoke(
        train_main, [*args[:2], "1", "--device", "cpu", "--quiet", "--out", str(tmp_path / "new")]
    )
    assert fresh.exit_code == 0, fresh.output
