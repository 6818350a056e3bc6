"""Trained weights: the registry covers the catalogue, shipped files load and reproduce their cards, bad files,
names and caches fail clearly, downloads are hash-checked against a real HTTP server, and every tool takes them."""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import zoo
from export.cli import main as export_cli
from serving.cli import main as serve_cli
from serving.server import free_port
from training.recipes import get_recipe
from training.weights import MAX_FILE_BYTES, MAX_TOTAL_BYTES
from zoo.cli import main as zoo_cli
from zoo.weights import (
    FILES_DIR,
    REGISTRY_FILE,
    WeightsError,
    download,
    get_weights,
    list_weights,
    registry_path,
    save_file,
    write_card,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [n for n in list_weights() if get_weights(n).shipped]


@pytest.fixture
def zoo_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty $ZOO_HOME for one test."""
    home = tmp_path / "zoo-home"
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.delenv("ZOO_WEIGHTS_URL", raising=False)
    return home


def _zoo(*args: str):
    """`zoo ARGS` as installed (the catalogue CLI with the weights commands that need training)."""
    return CliRunner().invoke(zoo_cli, list(args))


# --------------------------------------------------------------------------- the registry


def test_every_catalogue_model_has_weights_shipped_or_an_entry_that_says_how_to_build_them():
    models_with_entries = {get_weights(n).model for n in list_weights()}
    assert models_with_entries == set(zoo.list_models())
    for name in list_weights():
        w = get_weights(name)
        assert name == f"{w.model}.{w.tag}" and w.card["name"] == name
        rec = get_recipe(w.card["training"]["recipe"])
        assert rec.model == w.model
        if not w.built:
            assert w.how_to_build().startswith(f"`zoo weights build {name}`")
            assert w.card.get("build_time") and w.card.get("notes"), name
    defaults = [n for n in list_weights() if get_weights(n).card.get("default")]
    assert len(defaults) == len({n.split(".")[0] for n in defaults}), "one default per model"


def test_shipped_files_are_within_their_size_budget_and_fully_carded():
    assert len(SHIPPED) >= 20
    sizes = {n: (FILES_DIR / get_weights(n).file).stat().st_size for n in SHIPPED}
    assert max(sizes.values()) <= MAX_FILE_BYTES and sum(sizes.values()) <= MAX_TOTAL_BYTES
    on_disk = {p.name for p in FILES_DIR.glob("*.safetensors")}
    assert on_disk == {get_weights(n).file for n in SHIPPED}, "every file has a card, every card its file"
    for name in SHIPPED:
        c = get_weights(name).card
        assert c["in_package"] and c["file"]["size"] == sizes[name] and c["file"]["dtype"] in ("float16", "float32")
        metric = c["headline"]["metric"]
        assert isinstance(c["metrics"][metric], float), name
        assert c["dataset"]["licence"] and c["dataset"]["split_description"], name
        t = c["training"]
        assert t["command"].startswith(f"zoo-train {t['recipe']}") and t["versions"]["torch"] and t["commit"]
        assert t["wall_time_s"] > 0 and t["device_name"] and t["hyperparameters"]["epochs"] >= 1


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_load_and_run(name):
    w = get_weights(name)
    model = zoo.get_model(w.model, weights=name)
    assert not model.training
    spec = zoo.get_spec(w.model).resolved(**w.model_kwargs)
    part = spec.parts[0]
    with torch.no_grad():
        out = part.get(model)(*part.example_inputs())
    assert all(torch.isfinite(o).all() for o in (out if isinstance(out, tuple) else (out,)))
    state = w.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_weights_by_default_tag_full_name_and_object_are_the_same():
    a = zoo.get_model("lenet", weights="DEFAULT").state_dict()
    for weights in ("mnist", "lenet.mnist", zoo.get_weights("lenet.mnist")):
        b = zoo.get_model("lenet", weights=weights).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert [w.name for w in zoo.get_model_weights("gan")][0] == "gan.mnist"  # the default first
    transform = zoo.get_weights("lenet.mnist").transforms()
    from PIL import Image

    x = transform(Image.new("RGB", (100, 60), "white"))
    assert x.shape == (1, 28, 28) and float(x.max()) == pytest.approx(1.0)


def test_weights_transform_is_the_servers_preprocessing():
    """One image preprocessing: the weights' transform computes what the handlers compute (palette PNGs with
    transparency included), without the server's dark-on-light inversion."""
    from PIL import Image

    from handlers.imaging import preprocess

    palette = Image.new("P", (40, 30))
    palette.putpalette([0, 0, 0, 250, 250, 250, 200, 30, 30] + [0] * 759)
    palette.paste(1, (0, 0, 40, 15))
    palette.paste(2, (10, 15, 30, 30))
    palette.info["transparency"] = 2
    for name in ("lenet.mnist", "resnet18.cifar10"):
        w = zoo.get_weights(name)
        for image in (palette, palette.convert("RGBA"), Image.new("L", (9, 9), 200)):
            expected = preprocess(image, w.preprocessing, invert="no")
            np.testing.assert_array_equal(w.transforms()(image).numpy(), expected)


def test_registry_is_parsed_once_until_a_file_changes(zoo_home):
    a, b = zoo.get_weights("lenet.mnist"), zoo.get_weights("lenet.mnist")
    assert a is b  # the same parsed card, not the JSON read again
    card = dict(a.card, metrics={**a.metrics, "test_accuracy": 0.5})
    write_card("lenet.mnist", card, registry_path(local=True))
    c = zoo.get_weights("lenet.mnist")
    assert c is not a and c.metrics["test_accuracy"] == 0.5 and a.metrics["test_accuracy"] != 0.5
    old = dict(card, built="2020-01-01T00:00:00+00:00", shipped=False)  # a card written before the fields' renaming
    old.pop("built_at", None)
    old.pop("in_package", None)
    write_card("lenet.mnist", old, registry_path(local=True))
    upgraded = zoo.get_weights("lenet.mnist").card
    assert upgraded["built_at"].startswith("2020") and upgraded["in_package"] is False and "built" not in upgraded


def test_bad_names_and_mismatches_fail_with_what_to_do():
    with pytest.raises(ValueError, match="Did you mean: lenet.mnist"):
        zoo.get_weights("lenet.mnst")
    with pytest.raises(ValueError, match="Did you mean: lenet.mnist"):
        zoo.get_model("lenet", weights="mnst")
    with pytest.raises(WeightsError, match="weights for mnist-cnn, not for lenet"):
        zoo.get_model("lenet", weights="mnist-cnn.mnist")
    # another class count is a fresh head on the trained body (timm's convention), not a size mismatch
    five = zoo.get_model("mnist-cnn", weights="mnist", num_classes=5)
    assert five(torch.zeros(1, 1, 28, 28)).shape == (1, 5)
    with pytest.raises(WeightsError, match="was trained with .*input_size"):
        zoo.get_model("lenet", weights="mnist", input_size=32)
    with pytest.raises(WeightsError, match="zoo weights build vgg16.cifar10"):
        zoo.get_model("vgg16", weights="DEFAULT")


def _card_copy(source: str, name: str, **changes) -> dict:
    card = json.loads(json.dumps(get_weights(source).card))
    card.update(name=name, shipped=False, **changes)
    card["file"] = {**card["file"], "name": f"{name}.safetensors"}
    return card


def test_corrupt_truncated_or_foreign_files_are_refused(zoo_home):
    good = (FILES_DIR / get_weights("lenet.mnist").file).read_bytes()
    cache = zoo_home / "weights"
    cache.mkdir(parents=True)
    write_card("lenet.truncated", _card_copy("lenet.mnist", "lenet.truncated"), registry_path(local=True))
    (cache / "lenet.truncated.safetensors").write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsError, match="does not match lenet.truncated's card .*Delete it"):
        zoo.get_model("lenet", weights="truncated")
    # right hash on the card, but not a safetensors file at all
    junk = b"not a safetensors file" * 10
    import hashlib

    card = _card_copy("lenet.mnist", "lenet.junk")
    card["file"]["sha256"] = hashlib.sha256(junk).hexdigest()
    write_card("lenet.junk", card, registry_path(local=True))
    (cache / "lenet.junk.safetensors").write_bytes(junk)
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        zoo.get_model("lenet", weights="junk")
    # a real file of another model under this card's name
    other = save_file(zoo.get_model("mnist-cnn").state_dict(), cache / "lenet.other.safetensors", {})
    card = _card_copy("lenet.mnist", "lenet.other")
    card["file"]["sha256"] = other
    write_card("lenet.other", card, registry_path(local=True))
    with pytest.raises(WeightsError, match="does not fit"):
        zoo.get_model("lenet", weights="other")


def test_an_unwritable_cache_is_one_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ZOO_HOME", str(blocker / "home"))
    with pytest.raises(WeightsError, match="cannot create the weights cache .*ZOO_HOME"):
        download("http://127.0.0.1:9/x", blocker / "home" / "weights" / "x.safetensors", "0" * 64)


class _Mirror(http.server.SimpleHTTPRequestHandler):
    """A weights mirror on the loopback; ``/short/NAME`` announces the whole length and sends half."""

    def do_GET(self):
        if self.path.startswith("/short/"):
            data = (Path(self.directory) / self.path.removeprefix("/short/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "mirror"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Mirror, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_weights_not_shipped_are_downloaded_with_their_hash_checked(zoo_home, mirror):
    folder, url = mirror
    data = (FILES_DIR / get_weights("mnist-cnn.mnist").file).read_bytes()
    (folder / "mnist-cnn.mirrored.safetensors").write_bytes(data)
    (folder / "mnist-cnn.tampered.safetensors").write_bytes(data[:-1] + b"\0")
    for tag in ("mirrored", "tampered", "truncated", "missing"):
        name = f"mnist-cnn.{tag}"
        file = {"truncated": "short/mnist-cnn.mirrored.safetensors", "missing": "nowhere.safetensors"}.get(
            tag, f"{name}.safetensors"
        )
        write_card(name, _card_copy("mnist-cnn.mnist", name, url=f"{url}/{file}"), registry_path(local=True))
    cache = zoo_home / "weights"

    model = zoo.get_model("mnist-cnn", weights="mirrored")
    assert (cache / "mnist-cnn.mirrored.safetensors").read_bytes() == data
    reference = zoo.get_model("mnist-cnn", weights="DEFAULT").state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())
    with pytest.raises(WeightsError, match="does not match the card .*Nothing was saved"):
        zoo.get_model("mnist-cnn", weights="tampered")
    with pytest.raises(WeightsError, match="stopped at .* bytes|IncompleteRead"):
        zoo.get_model("mnist-cnn", weights="truncated")
    with pytest.raises(WeightsError, match="cannot download .*404|Not Found"):
        zoo.get_model("mnist-cnn", weights="missing")
    leftovers = sorted(p.name for p in cache.iterdir() if p.name != "registry.json")
    assert leftovers == ["mnist-cnn.mirrored.safetensors"], "a failed download leaves nothing behind"
    # cached now: the mirror is no longer needed
    (folder / "mnist-cnn.mirrored.safetensors").unlink()
    zoo.get_model("mnist-cnn", weights="mirrored")


# --------------------------------------------------------------------------- verification and building


def test_zoo_weights_verify_reproduces_every_shipped_card(data_dir):
    """timm-style results check: every shipped card's metrics measured again on their evaluation split."""
    result = CliRunner().invoke(zoo_cli, ["weights", "verify", "--data-dir", str(data_dir), "--json"])
    rows = json.loads(result.stdout[result.stdout.index("[") :])
    assert {r["name"] for r in rows} >= set(SHIPPED)
    bad = {r["name"]: r.get("metrics") or r.get("note") for r in rows if not r["ok"]}
    assert not bad and result.exit_code == 0, bad
    on_subset = {r["name"] for r in rows if r.get("split") == "verify subset of 2,000"}
    assert on_subset == {n for n in SHIPPED if get_weights(n).card.get("verify_subset")}
    assert on_subset >= {"resnet.cifar10", "resnet18.cifar10", "inception.cifar10"}
    for name in on_subset:  # the subset figure sits beside the whole split's, and both are near
        card = get_weights(name).card
        assert card["verify_subset"]["samples"] == 2000 and "seeded" in card["verify_subset"]["draw"]
        assert abs(card["verify_subset"]["metrics"]["test_accuracy"] - card["metrics"]["test_accuracy"]) < 0.03


@pytest.mark.slow  # the whole split: CI reads the fixed subset (above); `make test-all` runs this
def test_verify_full_measures_the_whole_split(data_dir):
    result = CliRunner().invoke(
        zoo_cli, ["weights", "verify", "resnet.cifar10", "--full", "--data-dir", str(data_dir), "--json"]
    )
    row = json.loads(result.stdout[result.stdout.index("[") :])[0]
    assert result.exit_code == 0 and row["ok"] and row["split"] == "whole evaluation split", row
    assert row["card"] == get_weights("resnet.cifar10").metrics["test_accuracy"]


def test_verify_measures_on_the_draw_the_card_names(data_dir):
    """The verify subset is drawn with the card's own seed: a card whose figures came from another draw is measured
    on that draw (equal to evaluating it there), not on seed 0's."""
    from training.checkpoint import checkpoint_from_weights
    from training.evaluate import evaluate_checkpoint
    from training.verify import verify_one
    from zoo.weights import Weights

    shipped = get_weights("resnet.cifar10")
    ckpt = checkpoint_from_weights(shipped)
    on = {s: evaluate_checkpoint(ckpt, data_dir, device="cpu", eval_samples=500, seed=s) for s in (0, 1)}
    assert on[0]["test_loss"] != on[1]["test_loss"]  # two draws, two figures
    card = json.loads(json.dumps(dict(shipped.card)))
    card["verify_subset"] = {"samples": 500, "seed": 1, "metrics": {"test_loss": on[1]["test_loss"]}}
    row = verify_one(Weights(shipped.name, card), data_dir)
    assert row["ok"] and row["metrics"]["test_loss"]["measured"] == on[1]["test_loss"], row


def test_generators_are_judged_by_the_shipped_digit_classifier(data_dir):
    """The classifier metric means something: real MNIST test digits are recognised with confidence and every
    class appears; the shipped GAN's card carries the same metrics."""
    from training.data import load_dataset
    from training.steps.generative import judge_digits

    real = load_dataset("mnist", data_dir).test["x"][:1000].float() / 255
    judged = judge_digits(real, "mnist")
    assert judged["test_confident_share"] > 0.9 and judged["test_class_entropy_bits"] > 3.2
    noise = judge_digits(torch.rand(1000, 1, 28, 28), "mnist")
    assert noise["test_confident_share"] < judged["test_confident_share"]
    for name in ("gan.mnist", "gan.mnist-lsgan", "vae.mnist"):
        metrics = get_weights(name).metrics
        assert 0 <= metrics["test_confident_share"] <= 1 and 0 <= metrics["test_class_entropy_bits"] <= 3.33


def test_build_trains_measures_and_cards_into_the_cache(zoo_home, tmp_path):
    """`zoo weights build` on a seconds-long recipe: the card's settings trained, stored, measured and loadable;
    a finished run with other hyper-parameters is the truth (they become the card's overrides, so its command
    reproduces the run); a run of another recipe cannot stand for the card."""
    result = CliRunner().invoke(
        zoo_cli, ["weights", "build", "linear-regression.points", "--out", str(tmp_path / "run"), "--json"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout[result.stdout.index("{") :])
    assert (zoo_home / "weights" / card["file"]["name"]).is_file()
    assert (
        json.loads(registry_path(local=True).read_text())["weights"]["linear-regression.points"]["file"]["sha256"]
        == card["file"]["sha256"]
    )
    local = get_weights("linear-regression.points")  # the local card now overlays the packaged one
    assert local.card["built_at"] == card["built_at"] and local.sha256 == card["file"]["sha256"]
    model = zoo.get_model("linear-regression", weights="points")
    assert isinstance(model, torch.nn.Module)
    packaged = json.loads(REGISTRY_FILE.read_text())["weights"]["linear-regression.points"]
    assert card["metrics"]["test_loss"] == pytest.approx(packaged["metrics"]["test_loss"], rel=1e-3)  # reproduced
    from training.cli import train_main

    other = CliRunner().invoke(
        train_main, ["linear-regression", "--lr", "0.002", "--out", str(tmp_path / "other"), "--quiet"]
    )
    assert other.exit_code == 0, other.output
    taken = CliRunner().invoke(
        zoo_cli, ["weights", "build", "linear-regression.points", "--run", str(tmp_path / "other"), "--json"]
    )
    assert taken.exit_code == 0, taken.output
    t = json.loads(taken.stdout[taken.stdout.index("{") :])["training"]
    assert t["overrides"] == {"lr": 0.002} and t["hyperparameters"]["lr"] == 0.002
    assert t["command"] == "zoo-train linear-regression --set lr=0.002 --seed 0"
    wrong = CliRunner().invoke(
        train_main, ["poly-regression", "--epochs", "1", "--out", str(tmp_path / "wrong"), "--quiet"]
    )
    assert wrong.exit_code == 0, wrong.output
    refused = CliRunner().invoke(
        zoo_cli, ["weights", "build", "linear-regression.points", "--run", str(tmp_path / "wrong")]
    )
    assert refused.exit_code == 1 and "did not train linear-regression.points" in refused.output, refused.output


def test_a_run_made_on_one_machine_and_built_on_another_names_where_each_happened(zoo_home, tmp_path):
    """The card names the machine and commit the run recorded, never the building machine's; a run that predates
    recorded provenance is refused until --trained-on says where it ran, and a contradiction is refused."""
    from training.cli import train_main
    from training.machine import cpu_name

    run = tmp_path / "run"
    trained = CliRunner().invoke(train_main, ["linear-regression", "--out", str(run), "--quiet"])
    assert trained.exit_code == 0, trained.output
    config = json.loads((run / "config.json").read_text())
    assert config["device_name"] and config["commit"] and config["versions"]["torch"]
    config.update(device_name="Imaginary Accelerator X1", commit="feedface1234")  # as if trained elsewhere
    (run / "config.json").write_text(json.dumps(config))

    def build(*extra: str):
        return CliRunner().invoke(
            zoo_cli, ["weights", "build", "linear-regression.points", "--run", str(run), "--json", *extra]
        )

    built = build()
    assert built.exit_code == 0, built.output
    card = json.loads(built.stdout[built.stdout.index("{") :])
    assert (
        card["training"]["device_name"] == "Imaginary Accelerator X1" and card["training"]["commit"] == "feedface1234"
    )
    assert "Trained on Imaginary Accelerator X1" in card["notes"] and cpu_name() in card["notes"]
    assert card["training"]["measured_on"].startswith(cpu_name())
    assert zoo.get_weights("linear-regression.points").card["training"]["device_name"] == "Imaginary Accelerator X1"
    contradicted = build("--trained-on", "Another GPU")
    assert contradicted.exit_code == 1 and "contradicts" in contradicted.output

    del config["device_name"], config["commit"]  # a run made before runs recorded where they ran
    (run / "config.json").write_text(json.dumps(config))
    refused = build()
    assert refused.exit_code == 1 and "--trained-on" in refused.output and "does not record" in refused.output
    told = build("--trained-on", "Old GPU", "--trained-commit", "0123abc")
    assert told.exit_code == 0, told.output
    t = json.loads(told.stdout[told.stdout.index("{") :])["training"]
    assert t["device_name"] == "Old GPU" and t["commit"] == "0123abc"


def test_a_resumed_run_names_every_segment_and_a_run_outside_a_checkout_takes_the_commit_given(zoo_home, tmp_path):
    """A run begun on one machine (here: its checkpoint says so) and resumed on this one records both segments, with
    their steps, precisions, commits and versions; the card names both and says which fields the run recorded. A
    run made outside a git checkout says so, and a commit given at build time is then taken and marked as given."""
    from training.checkpoint import load_checkpoint, save_checkpoint
    from training.cli import train_main
    from training.machine import NOT_A_CHECKOUT

    run = tmp_path / "run"
    part = CliRunner().invoke(train_main, ["linear-regression", "--out", str(run), "--quiet", "--max-steps", "40"])
    assert part.exit_code == 0, part.output
    ckpt = load_checkpoint(run / "checkpoints" / "last.pt")
    first = ckpt["train_state"]["segments"][0]
    assert (first["from_step"], first["to_step"]) == (0, 40)
    first.update(device="cuda", device_name="Imaginary Accelerator X1", commit="feedface1234")
    first["versions"] = {**first["versions"], "torch": "2.99.0"}
    save_checkpoint(ckpt, run / "checkpoints" / "last.pt")
    resumed = CliRunner().invoke(train_main, ["--resume", str(run), "--quiet", "--set", "precision=bf16"])
    assert resumed.exit_code == 0, resumed.output
    config = json.loads((run / "config.json").read_text())
    assert [(s["from_step"], s["to_step"], s["precision"]) for s in config["segments"]] == [
        (0, 40, "fp32"),
        (40, 1000, "bf16"),
    ]
    assert config["device_name"].startswith("Imaginary Accelerator X1 (steps 0-40), ")
    assert config["versions"]["torch"] == f"2.99.0 (steps 0-40), {torch.__version__} (steps 40-1000)"
    assert config["commit"].startswith("feedface1234 (steps 0-40), ")

    built = CliRunner().invoke(zoo_cli, ["weights", "build", "linear-regression.points", "--run", str(run), "--json"])
    assert built.exit_code == 0, built.output
    t = json.loads(built.stdout[built.stdout.index("{") :])["training"]
    assert t["device_name"] == config["device_name"] and "feedface1234" in t["commit"]
    assert [s["device_name"] for s in t["segments"]][0] == "Imaginary Accelerator X1" and len(t["segments"]) == 2
    assert (
        t["provenance"]["device_name"] == "recorded by the run" and t["provenance"]["commit"] == "recorded by the run"
    )
    shown = CliRunner().invoke(zoo_cli, ["weights", "info", "linear-regression.points"]).output
    assert "steps 0-40: Imaginary Accelerator X1" in shown and "torch 2.99.0, commit feedface1234" in shown, shown
    assert "provenance: device_name recorded by the run; commit recorded by the run" in shown, shown

    for segment in config["segments"]:
        segment["commit"] = f"{NOT_A_CHECKOUT} (/opt/site-packages)"
    config["commit"] = f"{NOT_A_CHECKOUT} (/opt/site-packages)"
    (run / "config.json").write_text(json.dumps(config))
    said = CliRunner().invoke(zoo_cli, ["weights", "build", "linear-regression.points", "--run", str(run), "--json"])
    assert said.exit_code == 0, said.output
    t = json.loads(said.stdout[said.stdout.index("{") :])["training"]
    assert t["commit"].startswith(NOT_A_CHECKOUT) and t["provenance"]["commit"] == "not recorded by the run"
    given = CliRunner().invoke(
        zoo_cli,
        ["weights", "build", "linear-regression.points", "--run", str(run), "--json", "--trained-commit", "0123abc"],
    )
    assert given.exit_code == 0, given.output
    t = json.loads(given.stdout[given.stdout.index("{") :])["training"]
    assert t["commit"] == "0123abc" and t["provenance"]["commit"] == "given at build time (--trained-commit)"


def test_save_pretrained_writes_the_hubs_layout_and_loads_back_bit_identical(tmp_path, monkeypatch):
    """`zoo weights save-pretrained NAME DIR`: model.safetensors is the card's file byte for byte, config.json names
    the architecture, arguments, labels and preprocessing, README.md is a Hub model card whose YAML front matter
    parses and whose model-index holds the card's metrics; local-dir:DIR loads the same tensors in get_model and
    zoo-export; a missing folder and an unreachable hf-hub: name fail with one clear line."""
    import hashlib

    import yaml

    folder = tmp_path / "mnist-cnn"
    said = CliRunner().invoke(zoo_cli, ["weights", "save-pretrained", "mnist-cnn.mnist", str(folder)])
    assert said.exit_code == 0, said.output
    w = get_weights("mnist-cnn.mnist")
    assert hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest() == w.sha256
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "mnist-cnn" and config["labels"] == w.labels
    assert config["preprocessing"] == w.preprocessing and config["model_kwargs"] == w.model_kwargs
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["library_name"] == "torch-model-zoo" and meta["pipeline_tag"] == "image-classification"
    assert meta["license"] and meta["datasets"] == ["mnist"] and "mnist-cnn" in meta["tags"]
    shown = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert shown == dict(w.metrics)
    local = zoo.get_model("mnist-cnn", weights=f"local-dir:{folder}")
    shipped = zoo.get_model("mnist-cnn", weights="mnist-cnn.mnist")
    assert all(torch.equal(a, b) for a, b in zip(local.state_dict().values(), shipped.state_dict().values()))
    exported = CliRunner().invoke(
        export_cli, [f"local-dir:{folder}", "--format", "onnx", "--out", str(tmp_path / "export"), "--json"]
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads((tmp_path / "export" / "export.json").read_text())["source"]["name"] == "mnist-cnn.mnist"
    with pytest.raises(WeightsError, match="config.json not found"):
        get_weights(f"local-dir:{tmp_path / 'nothing'}")
    (folder / "model.safetensors").write_bytes(b"not the file")
    with pytest.raises(WeightsError):
        zoo.get_model("mnist-cnn", weights=f"local-dir:{folder}")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="hf-hub:someone/nothing could not be fetched"):
        get_weights("hf-hub:someone/nothing")


# --------------------------------------------------------------------------- the tools take them


def test_catalogue_cli_lists_and_shows_cards():
    listed = json.loads(_zoo("weights", "list", "--json").stdout)
    assert {r["name"] for r in listed} == set(list_weights())
    info = _zoo("weights", "info", "lenet.mnist")
    assert info.exit_code == 0 and "test_accuracy" in info.output and "zoo-train lenet-mnist" in info.output
    model_info = _zoo("info", "mnist-cnn")
    assert "weights: mnist-cnn.mnist (default)" in model_info.output
    gpu = _zoo("weights", "info", "resnet18.cifar10").output  # trained on the GPU, measured here
    assert "s on NVIDIA H200; measured on" in gpu and "verify subset (2,000 test samples" in gpu
    missing = _zoo("weights", "info", "lenet.mnst")
    assert missing.exit_code == 1 and "Did you mean: lenet.mnist" in missing.output


def test_export_takes_weights_and_refuses_a_bare_name_without_them(tmp_path):
    runner = CliRunner()
    result = runner.invoke(export_cli, ["lenet.mnist", "--format", "onnx", "--out", str(tmp_path / "lenet")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "lenet" / "export.json").read_text())
    assert record["source"]["kind"] == "weights" and record["weights"]["name"] == "lenet.mnist"
    assert record["weights"]["file"]["sha256"] == get_weights("lenet.mnist").sha256
    refused = runner.invoke(export_cli, ["vgg16", "--format", "onnx", "--out", str(tmp_path / "vgg16")])
    assert refused.exit_code == 1 and "zoo weights build vgg16.cifar10" in refused.output
    assert "--random-weights" in refused.output and not (tmp_path / "vgg16").exists()


def test_eval_and_predict_take_a_weights_name(tmp_path, data_dir):
    from conftest import png_bytes

    from training.cli import eval_main, predict_main
    from training.data import load_dataset

    result = CliRunner().invoke(
        eval_main, ["fashion-net.fashion-mnist", "--data-dir", str(data_dir), "--out", str(tmp_path / "eval"), "--json"]
    )
    assert result.exit_code == 0, result.output
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["test_accuracy"] == pytest.approx(
        get_weights("fashion-net.fashion-mnist").metrics["test_accuracy"], abs=2e-3
    )
    test = load_dataset("mnist", data_dir).test
    files = []
    for i in range(5):
        path = tmp_path / f"digit{i}.png"
        path.write_bytes(png_bytes(test["x"][i, 0].numpy()))
        files.append(str(path))
    result = CliRunner().invoke(predict_main, ["mnist-cnn.mnist", *files, "--json"])
    predicted = [json.loads(line)["top"][0]["label"] for line in result.stdout.strip().splitlines()]
    assert predicted == [str(int(y)) for y in test["y"][:5]]
    # a bare model name: its default (GPU-trained) weights name CIFAR-10 photos, cats among them
    from training.data import random_subset

    cifar = load_dataset("cifar10", data_dir).test
    cats = random_subset({k: v[cifar["y"] == 3] for k, v in cifar.items()}, 10)
    files = []
    for i, x in enumerate(cats["x"]):
        path = tmp_path / f"cat{i}.png"
        path.write_bytes(png_bytes(x.permute(1, 2, 0).numpy()))
        files.append(str(path))
    result = CliRunner().invoke(predict_main, ["resnet18", *files])
    assert result.exit_code == 0, result.output
    assert result.output.count(": cat") >= 7, result.output  # the card: cats are its hardest class (~0.8)


def test_serve_start_with_a_bare_model_name_serves_its_trained_weights(tmp_path, data_dir):
    """`zoo-serve start mnist-cnn resnet18 inception` on an empty store: archived from the default trained weights
    on the way; both engines read real MNIST and CIFAR-10 test images (a seeded draw across the classes) as the
    cards say; `describe` carries the card."""
    from conftest import png_bytes

    from serving.client import Client
    from training.data import load_dataset, random_subset

    runner = CliRunner()
    store = tmp_path / "store"
    mnist = random_subset(load_dataset("mnist", data_dir).test, 20)
    cifar = random_subset(load_dataset("cifar10", data_dir).test, 60)
    assert len(set(cifar["y"].tolist())) == 10
    names = ["mnist-cnn", "resnet18", "inception"]
    answers: dict[str, list[str]] = {}
    # the int8 model of resnet.cifar10 (static QDQ, accuracy-checked on the way), answered as in process
    import onnxruntime as ort

    from serving.archive import build_archive

    archived = build_archive(
        "resnet.cifar10",
        runtime="onnx-int8",
        name="resnet-int8",
        store=store,
        exports_dir=tmp_path / "exports",
        data_dir=data_dir,
        log=lambda m: None,
    )
    export_dir = Path(archived["export_dir"])
    quantized = json.loads((export_dir / "export.json").read_text())["parts"]["model"]["quantized"]
    assert quantized["quality"]["samples"] == 10_000 and abs(quantized["quality"]["drop"]) < 0.01
    session = ort.InferenceSession(str(export_dir / quantized["file"]), providers=["CPUExecutionProvider"])
    pixels = cifar["x"][:12].float().numpy() / 255
    logits = session.run(None, {session.get_inputs()[0].name: ((pixels - 0.5) / 0.5).astype(np.float32)})[0]
    int8_labels = [get_weights("resnet.cifar10").labels[i] for i in logits.argmax(1)]
    names.append("resnet-int8")
    saved = tmp_path / "lenet-mnist"  # a save-pretrained folder, served under its weights' name
    assert CliRunner().invoke(zoo_cli, ["weights", "save-pretrained", "lenet.mnist", str(saved)]).exit_code == 0
    for engine in ("torchserve", "kserve"):
        run_dir = tmp_path / engine
        ports = ["--port", str(free_port())] + (
            ["--grpc-port", str(free_port())]
            if engine == "kserve"
            else ["--management-port", str(free_port()), "--metrics-port", str(free_port())]
        )
        try:
            started = runner.invoke(
                serve_cli,
                [
                    "start",
                    *names,
                    f"local-dir:{saved}",
                    "--engine",
                    engine,
                    "--store",
                    str(store),
                    "--run-dir",
                    str(run_dir),
                    *ports,
                ],
            )
            assert started.exit_code == 0, started.output
            assert all((store / f"{n}.mar").is_file() for n in [*names, "lenet.mnist"])
            client = Client.from_run_dir(run_dir)
            for served in ("mnist-cnn", "lenet.mnist"):
                right = 0
                for x, y in zip(mnist["x"], mnist["y"]):
                    code, body, _ = client.predict(served, png_bytes(x[0].numpy()), "image/png")
                    assert code == 200, body
                    right += body["predictions"][0]["label"] == str(int(y))
                assert right >= 19, (engine, served, right)
            for name, least in (("resnet18", 0.8), ("inception", 0.75)):  # the cards: 0.91 and 0.885 on all 10,000
                labels = get_weights(f"{name}.cifar10").labels
                said = []
                for x in cifar["x"]:
                    code, body, _ = client.predict(name, png_bytes(x.permute(1, 2, 0).numpy()), "image/png")
                    assert code == 200, body
                    said.append(body["predictions"][0]["label"])
                right = sum(s == labels[int(y)] for s, y in zip(said, cifar["y"]))
                assert right >= least * len(said), (engine, name, right)
                answers.setdefault(name, said)
                assert said == answers[name], f"{engine} answers {name} differently"
            said = [
                client.predict("resnet-int8", png_bytes(x.permute(1, 2, 0).numpy()), "image/png")[1]["predictions"][0]
                for x in cifar["x"][:12]
            ]
            assert [p["label"] for p in said] == int8_labels, engine
            if engine == "torchserve":
                assert client.describe("resnet-int8")[1]["runtime"] == "onnx-int8"
                code, described, _ = client.describe("resnet18")
                assert code == 200 and described["weights"]["name"] == "resnet18.cifar10"
                assert described["weights"]["metrics"] == get_weights("resnet18.cifar10").metrics
                assert described["weights"]["training"]["device_name"] == "NVIDIA H200"
        finally:
            runner.invoke(serve_cli, ["stop", "--run-dir", str(run_dir)])
    refused = runner.invoke(serve_cli, ["start", "vgg16", "--store", str(store), "--run-dir", str(tmp_path / "run2")])
    assert refused.exit_code == 1 and "--random-weights" in refused.output


def test_torch_hub_loads_from_a_local_checkout():
    for name, tag in (("lenet", "mnist"), ("resnet18", "cifar10")):
        model = torch.hub.load(str(ROOT), name, source="local", weights=tag)
        reference = zoo.get_model(name, weights=tag).state_dict()
        assert all(torch.equal(v, reference[k]) for k, v in model.state_dict().items())
    hyphenated = torch.hub.load(str(ROOT), "mnist-cnn", source="local")
    assert type(hyphenated).__name__ == "MnistCNN" and hyphenated.training  # no weights: fresh, as torchvision


def test_cards_name_the_commands_that_reproduce_them():
    for name in list_weights():
        w = get_weights(name)
        if w.built:
            command = w.card["training"]["command"]
            assert re.fullmatch(r"zoo-train [\w-]+( --(profile|set|model-arg|dataset) \S+)* --seed \d+", command), (
                command
            )


@pytest.mark.parametrize("name", ["rnn-regressor.sin-cos", "pos-tagger.ud-english", "vae.mnist"])
def test_multi_input_and_multi_part_weights_export_with_real_sample_parity(name, tmp_path, data_dir):
    """Real samples from the card's dataset feed every input along its own batch axis (the RNN's h0 has it on
    axis 1: exporting these trained weights used to fail)."""
    from export.core import export

    record = export(name, tmp_path, formats=["onnx"], real_samples=64, data_dir=data_dir, log=lambda m: None)
    assert record["passed"] and record["weights"]["name"] == name
    assert any("real" in p["parity"]["cases"] for p in record["parts"].values())


@pytest.mark.parametrize(
    "name", ["resnet.cifar10", "resnet18.cifar10", pytest.param("inception.cifar10", marks=pytest.mark.slow)]
)  # CI: the two ResNets; Inception (40 s) with `make test-all`
def test_trained_cifar_exports_agree_with_eager_on_real_test_images(name, tmp_path, data_dir):
    """TorchScript and ONNX Runtime give eager's class for every one of 500 CIFAR-10 test images (a seeded draw
    across all ten classes, not the first 500 of the class-ordered folder), logits within the export tolerance."""
    from export.core import export
    from export.parity import ATOL

    record = export(
        name, tmp_path, formats=["torchscript", "onnx"], real_samples=500, data_dir=data_dir, log=lambda m: None
    )
    parity = record["parts"]["model"]["parity"]
    assert record["passed"] and "500 samples from the test split" in parity["real_samples"], parity["real_samples"]
    assert parity["real_classes"] == 10  # counted on the samples drawn (the folder's first 500 are all airplanes)
    real = parity["cases"]["real"]
    for runtime in ("torchscript", "onnxruntime"):
        entry = real[runtime]
        assert entry["ok"] and entry["argmax_agree"] == "500/500", (runtime, entry)
        assert entry["outputs"]["logits"]["max_abs"] < 50 * ATOL, entry


def test_a_build_keeps_its_runs_history_and_confusion_matrix_and_verify_can_record_one(zoo_home, tmp_path):
    """The pictures of a weights page come from the run that built the weights: the card keeps the run's epochs
    (metrics.jsonl) and the evaluation's confusion matrix; `verify --full --record` writes the matrix of a card
    built before cards kept it (into the registry that holds the card), and only with --full."""
    result = CliRunner().invoke(
        zoo_cli, ["weights", "build", "classifier-net.gaussians", "--out", str(tmp_path / "run"), "--json"]
    )
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout[result.stdout.index("{") :])
    epochs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in card["training"]["history"]] == [h["epoch"] for h in epochs]
    assert card["training"]["history"][-1]["test_accuracy"] == pytest.approx(epochs[-1]["test_accuracy"])
    matrix = card["evaluation"]["confusion_matrix"]
    assert len(matrix) == 2 and sum(map(sum, matrix)) == card["dataset"]["samples"]
    correct = matrix[0][0] + matrix[1][1]
    assert correct / card["dataset"]["samples"] == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-6)

    local = json.loads(registry_path(local=True).read_text())
    del local["weights"]["classifier-net.gaussians"]["evaluation"]
    registry_path(local=True).write_text(json.dumps(local))
    refused = CliRunner().invoke(zoo_cli, ["weights", "verify", "classifier-net.gaussians", "--record"])
    assert refused.exit_code != 0 and "--full" in refused.output
    recorded = CliRunner().invoke(zoo_cli, ["weights", "verify", "classifier-net.gaussians", "--full", "--record"])
    assert recorded.exit_code == 0, recorded.output
    assert get_weights("classifier-net.gaussians").card["evaluation"]["confusion_matrix"] == matrix
