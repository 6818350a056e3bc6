"""Your own photos: a folder as users have them, fine-tuning from a shipped backbone, and what comes out of it."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import zoo
from handlers import imaging
from training.data import PhotoFolderError, load_photo_folder, scan_photos
from training.finetune import FinetuneError, choose_size, resolve_base

PRE = {"kind": "image", "height": 32, "width": 32, "channels": 3, "mean": [0.5] * 3, "std": [0.5] * 3, "crop": "center"}
#: Learnable synthetic classes: a bright square in one of three places on noise.
CORNERS = {"top-left": (0, 0), "centre": (1, 1), "bottom-right": (2, 2)}


def corner_photo(cls: str, seed: int, size: tuple[int, int] = (48, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = (rng.random((h, w, 3)) * 90).astype(np.uint8)
    gy, gx = CORNERS[cls]
    y0, x0 = gy * h // 3, gx * w // 3
    pixels[y0 : y0 + h // 3, x0 : x0 + w // 3] = (230, 200 + seed % 40, 60)
    return Image.fromarray(pixels)


def write_corners(root: Path, per_class: int, start: int = 0) -> None:
    for cls in CORNERS:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(start, start + per_class):
            corner_photo(cls, i + 1000 * list(CORNERS).index(cls)).save(root / cls / f"{i:03d}.jpg", quality=95)


def messy_folder(root: Path) -> dict[str, str]:
    """A flat folder with every kind of file users have; returns the expected problems by relative path."""
    write_corners(root, 6)
    good = root / "top-left"
    photo = corner_photo("top-left", 99)
    buf = io.BytesIO()
    photo.save(buf, format="JPEG")
    (good / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (good / "notes.jpg").write_text("not a photo at all")
    wide = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(good / "sixteen-bit.png")
    photo.convert("CMYK").save(good / "cmyk.jpg")
    palette = photo.convert("P")
    palette.info["transparency"] = 0
    palette.save(good / "palette.png", transparency=0)
    photo.convert("RGBA").save(good / "rgba.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    photo.save(good / "rotated.jpg", exif=exif.tobytes())
    (good / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (good / "readme.txt").write_text("a text file among the photos")
    hidden = root / ".ipynb_checkpoints"
    hidden.mkdir()
    corner_photo("centre", 5).save(hidden / "copy.jpg")
    macosx = root / "__MACOSX" / "top-left"
    macosx.mkdir(parents=True)
    (macosx / "._000.jpg").write_bytes(b"\0\5\26\7")
    return {"top-left/truncated.jpg": "truncated", "top-left/notes.jpg": "decode"}


def test_decoding_what_cameras_and_editors_write(tmp_path: Path) -> None:
    """16-bit grey keeps its levels, EXIF orientation is applied, CMYK/palette/RGBA become RGB."""
    grey = np.full((10, 20), 128 * 257, dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as img:
        assert img.mode.startswith("I")
        assert abs(int(imaging.to_mode(img, 3).getpixel((0, 0))[0]) - 128) <= 1  # Pillow alone reads 255
    photo = Image.new("RGB", (20, 10), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(tmp_path / "r.jpg", exif=exif.tobytes())
    with Image.open(tmp_path / "r.jpg") as img:
        assert imaging.to_mode(img, 3).size == (10, 20)
    pixels = imaging.fit(Image.new("CMYK", (30, 60), (0, 255, 255, 0)), PRE)
    assert pixels.shape == (3, 32, 32) and pixels.dtype == np.uint8 and pixels[0].mean() > 200
    # a photo cut to its centre square keeps its proportions: a tall red/green/blue stripe picture reads its middle
    tall = np.zeros((90, 30, 3), np.uint8)
    tall[:30, :, 0], tall[30:60, :, 1], tall[60:, :, 2] = 255, 255, 255
    middle = imaging.fit(Image.fromarray(tall), {**PRE, "height": 30, "width": 30})
    assert middle[1].mean() > 250 and middle[0].mean() < 5 and middle[2].mean() < 5


def test_scan_names_every_problem_and_loses_no_photo(tmp_path: Path) -> None:
    expected_bad = messy_folder(tmp_path)
    scan, pixels = scan_photos(tmp_path, PRE, val_fraction=0.25, split_seed=3, progress=False)
    assert scan.classes == ["bottom-right", "centre", "top-left"]  # no hidden folder, no __MACOSX
    assert {path for path, _ in scan.bad} == set(expected_bad)
    reasons = dict(scan.bad)
    assert "truncated" in reasons["top-left/truncated.jpg"] and "decode" in reasons["top-left/notes.jpg"], reasons
    assert "top-left/readme.txt" in scan.skipped and not any(".DS_Store" in s for s in scan.skipped)
    # 18 plain photos + 16-bit, CMYK, palette, RGBA and rotated ones: every good photo is in one split
    assert len(scan.train) + len(scan.val) == 18 + 5
    assert not {p.path for p in scan.train} & {p.path for p in scan.val}
    assert all(n >= 1 for n in scan.counts("val"))
    assert all(pixels[p.digest].shape == (3, 32, 32) for p in scan.train + scan.val)
    # the same seed draws the same split; another draws another one
    again, _ = scan_photos(tmp_path, PRE, val_fraction=0.25, split_seed=3, progress=False)
    other, _ = scan_photos(tmp_path, PRE, val_fraction=0.25, split_seed=4, progress=False)
    assert [p.path for p in again.val] == [p.path for p in scan.val]
    assert [p.path for p in other.val] != [p.path for p in scan.val]
    with pytest.raises(PhotoFolderError, match=r"top-left/(notes|truncated)\.jpg: .*--on-bad-image skip"):
        scan_photos(tmp_path, PRE, on_bad_image="fail", progress=False)


def test_folder_layouts_and_refusals(tmp_path: Path) -> None:
    split = tmp_path / "split"
    write_corners(split / "train", 4)
    write_corners(split / "validation", 2, start=50)
    bundle = load_photo_folder(split, preprocessing=PRE)
    assert bundle.meta["layout"] == "split" and bundle.meta["validation_folder"] == "validation"
    assert len(bundle.test["y"]) == 6 and bundle.labels == sorted(CORNERS)
    # a validation photo that is also a training photo is left out of validation (never scored on seen data)
    (split / "validation" / "centre" / "copy.jpg").write_bytes((split / "train" / "centre" / "000.jpg").read_bytes())
    assert len(load_photo_folder(split, preprocessing=PRE).test["y"]) == 6
    empty = tmp_path / "empty"
    write_corners(empty, 3)
    (empty / "shoes").mkdir()
    with pytest.raises(PhotoFolderError, match="shoes"):
        scan_photos(empty, PRE, progress=False)
    one = tmp_path / "one"
    (one / "cats").mkdir(parents=True)
    corner_photo("centre", 1).save(one / "cats" / "a.jpg")
    with pytest.raises(PhotoFolderError, match="at least two"):
        scan_photos(one, PRE, progress=False)
    with pytest.raises(PhotoFolderError, match="no photo folder"):
        scan_photos(tmp_path / "missing", PRE, progress=False)


def test_bases_and_sizes() -> None:
    """Every image classifier can be a base; sizes that an architecture cannot read are refused, saying why."""
    base = resolve_base("resnet18.cifar10")
    assert base.model == "resnet18" and base.labels and base.state is not None
    assert choose_size(base, None) == 64 and choose_size(base, 96) == 96
    seed_resnet = resolve_base("resnet.cifar10")
    assert choose_size(seed_resnet, None) == 32
    with pytest.raises(FinetuneError, match="reads 32x32 images only"):
        choose_size(seed_resnet, 64)
    lenet = resolve_base("lenet.mnist")
    assert lenet.preprocessing["channels"] == 1
    assert choose_size(resolve_base("none", arch="alexnet"), None) == 224
    with pytest.raises(FinetuneError, match="image classifier"):
        resolve_base("vae.mnist")
    with pytest.raises(FinetuneError, match="--arch"):
        resolve_base("resnet18.cifar10", arch="vgg16")


def test_get_model_with_another_class_count_keeps_the_backbone() -> None:
    trained = zoo.get_model("resnet18", weights="resnet18.cifar10")
    five = zoo.get_model("resnet18", weights="resnet18.cifar10", num_classes=5)
    assert five.fc.out_features == 5 and not five.training
    assert torch.equal(five.layers[3].conv2.weight, trained.layers[3].conv2.weight)
    assert torch.equal(five.stem[0].weight, trained.stem[0].weight)
    assert not torch.equal(five.fc.weight[:5], trained.fc.weight[:5])


def run_finetune(args: list[str]) -> dict:
    from training.cli import train_main

    result = CliRunner().invoke(train_main, ["finetune", *args, "--quiet", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def corners_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """(photos, run folder, result) of a 3-epoch fine-tune from resnet18.cifar10 on the synthetic corners."""
    tmp = tmp_path_factory.mktemp("corners")
    photos = tmp / "photos"
    write_corners(photos, 24)
    (photos / "centre" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = tmp / "run"
    args = ["--from", "resnet18.cifar10", "--data-dir", str(photos), "--out", str(out), "--size", "32"]
    return photos, out, run_finetune([*args, "--epochs", "3", "--seed", "1"])


def test_finetune_cli_learns_and_writes_its_report(corners_run: tuple[Path, Path, dict]) -> None:
    photos, out, result = corners_run
    assert result["best_test_accuracy"] >= 0.8, result  # chance: 1/3
    for name in ("report.json", "confusion_matrix.png", "confusion_matrix.csv", "curves.png", "photos.json"):
        assert (out / name).is_file(), name
    assert (out / "split" / "val.tsv").read_text().count("\n") == 1 + 3 * round(24 * 0.2)
    assert "centre/broken.jpg" in (out / "bad_images.csv").read_text()
    report = json.loads((out / "report.json").read_text())
    assert set(report["per_class"]) == set(CORNERS) and 0 <= report["macro_f1"] <= 1
    ckpt = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert ckpt["labels"] == sorted(CORNERS) and ckpt["model"]["kwargs"]["num_classes"] == 3
    assert ckpt["meta"]["base"]["name"] == "resnet18.cifar10" and not ckpt["meta"]["base"]["kept_head"]
    assert ckpt["preprocessing"]["crop"] == "center"

    # the in-process model and the server's preprocessing read a photo the same way, with the folder's names
    from training.checkpoint import model_from_checkpoint

    model = model_from_checkpoint(ckpt)
    photo = corner_photo("bottom-right", 4242, size=(200, 120))
    x = torch.from_numpy(imaging.preprocess(photo, ckpt["preprocessing"]))[None]
    assert ckpt["labels"][int(model(x).argmax())] == "bottom-right"

    # the run folder is not reused by another run without --overwrite
    from training.cli import train_main

    args = ["finetune", "--from", "resnet18.cifar10", "--data-dir", str(photos), "--out", str(out), "--quiet"]
    again = CliRunner().invoke(train_main, args)
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_fine_tuned_card_exports_and_serves_the_folders_names_on_both_engines(
    corners_run: tuple[Path, Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.cli import main as serve_cli
    from serving.playground import Playground
    from serving.process import free_port
    from zoo.cli import main as zoo_cli

    photos, run, _ = corners_run
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    built = runner.invoke(zoo_cli, ["weights", "build", "resnet18.corners", "--run", str(run), "--json"])
    assert built.exit_code == 0, built.output
    card = json.loads(built.stdout[built.stdout.index("{") :])
    assert card["labels"] == sorted(CORNERS) and card["base"]["name"] == "resnet18.cifar10"
    assert card["dataset"]["content_sha256"] and card["dataset"]["split_seed"] == 1
    assert "--from resnet18.cifar10" in card["training"]["command"]
    refused = runner.invoke(zoo_cli, ["weights", "build", "resnet18.nothing", "--run", str(run / "missing")])
    assert refused.exit_code != 0

    weights = zoo.get_weights("resnet18.corners")
    model, transform = zoo.get_model("resnet18", weights="resnet18.corners"), weights.transforms()
    val = [photos / line.split("\t")[0] for line in (run / "split" / "val.tsv").read_text().splitlines()[1:]][::3]
    with torch.no_grad():
        expected = [weights.labels[int(model(transform(Image.open(p))[None]).argmax())] for p in val]
    store = tmp_path / "store"
    for engine in ("torchserve", "kserve"):
        run_dir = tmp_path / f"serve-{engine}"
        ports = ["--port", str(free_port()), "--grpc-port", str(free_port())]
        if engine == "torchserve":
            ports += ["--management-port", str(free_port()), "--metrics-port", str(free_port())]
        start = ["start", "resnet18.corners", "--engine", engine, "--store", str(store), "--run-dir", str(run_dir)]
        started = runner.invoke(serve_cli, [*start, *ports])
        try:
            assert started.exit_code == 0, started.output
            answer = runner.invoke(
                serve_cli, ["predict", "resnet18.corners", *map(str, val), "--run-dir", str(run_dir), "--json"]
            )
            assert answer.exit_code == 0, answer.output
            rows = [json.loads(line) for line in answer.output.strip().splitlines()]
            served = [row["answer"]["predictions"][0]["label"] for row in rows]
            assert served == expected, (engine, served, expected)
            # the playground's tab for it answers with the folder's names too
            playground = Playground(run_dir)
            assert {m.name: m.kind for m in playground.models} == {"resnet18.corners": "classify"}
            labels, _, _ = playground.classify("resnet18.corners", None, str(val[0]))
            assert max(labels, key=labels.get) == expected[0] and set(labels) <= set(CORNERS)
        finally:
            runner.invoke(serve_cli, ["stop", "--run-dir", str(run_dir)])


def test_finetune_refuses_what_cannot_work(tmp_path: Path) -> None:
    from training.cli import train_main

    photos = tmp_path / "photos"
    write_corners(photos, 3)
    runner = CliRunner()
    cases = [
        (["finetune", "--data-dir", str(photos)], "--from"),
        (["finetune", "--from", "resnet.cifar10", "--data-dir", str(photos), "--size", "64"], "32x32 images only"),
        (["finetune", "--from", "dcgan.mnist", "--data-dir", str(photos)], "image classifier"),
        (["finetune", "--from", "resnet18.cifar10", "--data-dir", str(tmp_path / "nowhere")], "no photo folder"),
        (["lenet-mnist", "--from", "lenet.mnist"], "options of `zoo-train finetune` only"),
    ]
    for args, message in cases:
        result = runner.invoke(train_main, [*args, "--quiet"])
        assert result.exit_code != 0 and message in result.output, (args, result.output)


@pytest.mark.skipif(not os.environ.get("ZOO_DATA_DIR"), reason="ZOO_DATA_DIR is not set (real photo folders)")
def test_flowers_slice_fine_tuned_beats_scratch(data_dir: Path, tmp_path: Path) -> None:
    """A fixed small slice of the flowers (40 photos a class): the shipped backbone learns it in two epochs at 32 px
    far better than the same budget from random weights."""
    from training.data.photos import resolve_folder

    flowers = resolve_folder(data_dir / "flowers" / "flowers.tar.gz")
    slice_dir = tmp_path / "flowers"
    for cls in sorted(p.name for p in (flowers / "train").iterdir()):
        (slice_dir / cls).mkdir(parents=True)
        for f in sorted((flowers / "train" / cls).iterdir())[:40]:
            (slice_dir / cls / f.name).symlink_to(f)
    common = ["--data-dir", str(slice_dir), "--size", "32", "--epochs", "3", "--seed", "0"]
    tuned = run_finetune(["--from", "resnet18.cifar10", "--out", str(tmp_path / "tuned"), *common])
    scratch = run_finetune(["--from", "none", "--out", str(tmp_path / "scratch"), *common])
    assert tuned["best_test_accuracy"] >= 0.45, tuned  # chance: 0.2
    assert tuned["best_test_accuracy"] > scratch["best_test_accuracy"] + 0.05, (tuned, scratch)


# --------------------------------------------------------------------------- the seed's transfer lesson (S3)


def test_the_transfer_lesson_keeps_imagenet_where_its_weights_are_cached(tmp_path: Path, monkeypatch) -> None:
    """A cached copy of torchvision's ResNet-18 is what the seed starts from: the recipe keeps it, at 224 px."""
    from torchvision.models import ResNet18_Weights

    from training.recipes import get_recipe

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = tmp_path / "hub" / "checkpoints" / Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    start = get_recipe("transfer-cats-dogs").start({"backbone_weights": "IMAGENET1K_V1"})  # type: ignore[misc]
    assert start.model_kwargs == {"backbone_weights": "IMAGENET1K_V1"} and not start.note
    assert start.preprocessing["height"] == 224 and start.preprocessing["mean"] == [0.485, 0.456, 0.406]


def test_the_transfer_lesson_starts_from_the_shipped_cifar_backbone_offline(tmp_path: Path, monkeypatch) -> None:
    """Without ImageNet's weights the lesson starts from resnet18.cifar10 at its 32 px, says why and that CIFAR-10
    holds cats and dogs; the frozen backbone is that card's, and stays in eval mode while the head trains."""
    from training.recipes import get_recipe
    from zoo.models.transfer import imagenet_weights_available

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    if imagenet_weights_available(timeout=5)[0]:
        pytest.skip("download.pytorch.org answers here: nothing to fall back from")
    start = get_recipe("transfer-cats-dogs").start({"backbone_weights": "IMAGENET1K_V1"})  # type: ignore[misc]
    assert start.model_kwargs == {"backbone": "resnet18", "backbone_weights": "resnet18.cifar10"}
    assert dict(start.preprocessing) == dict(zoo.get_weights("resnet18.cifar10").preprocessing)
    assert "cannot be reached" in start.note and "CIFAR-10 itself contains cats and dogs" in start.note
    model = zoo.get_model("transfer-resnet18", **start.model_kwargs)
    base = zoo.get_model("resnet18", weights="resnet18.cifar10")
    base.fc = torch.nn.Identity()
    x = torch.randn(3, 3, 32, 32)
    model.train()
    assert not model.backbone.training and model.fc.training
    assert not any(p.requires_grad for p in model.backbone.parameters())
    with torch.no_grad():
        torch.testing.assert_close(model.backbone(x), base(x))


def test_the_shipped_transfer_card_shares_its_frozen_backbone_and_stands_alone_when_saved(tmp_path: Path) -> None:
    """The shipped cats-and-dogs weights: built from the CIFAR backbone (saying plainly that CIFAR-10 holds cats and
    dogs). Its file holds the head only; the frozen backbone is resnet18.cifar10's own tensors, loaded from that file
    (hash checked: a changed base is refused with what to do). save-pretrained writes the whole model, which loads
    back bit-identical."""
    from zoo.weights import Weights, WeightsError
    from zoo.weights.pretrained import save_pretrained

    w = zoo.get_weights("transfer-resnet18.cats-dogs")
    assert w.labels == ["cat", "dog"] and w.card["model_kwargs"]["backbone_weights"] == "resnet18.cifar10"
    assert "CIFAR-10 itself contains cats and dogs" in w.card["notes"]
    assert zoo.get_spec("transfer-resnet18").rebuild_kwargs(w.model_kwargs)["backbone_weights"] is None
    assert w.shares and w.shares["weights"] == "resnet18.cifar10" and w.card["file"]["size"] < 1_000_000
    base = zoo.get_weights("resnet18.cifar10").state_dict()
    state = w.state_dict()
    assert all(torch.equal(state["backbone." + k], v) for k, v in base.items() if not k.startswith("fc."))
    model = zoo.get_model("transfer-resnet18", weights="transfer-resnet18.cats-dogs")
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
    stale = dict(w.card, file={**w.card["file"], "shares": {**w.shares, "sha256": "0" * 64}})
    with pytest.raises(WeightsError, match="rebuild transfer-resnet18.cats-dogs"):
        Weights.from_card(w.name, stale).state_dict()
    save_pretrained(w, tmp_path / "cats-dogs")
    alone = zoo.get_weights(f"local-dir:{tmp_path / 'cats-dogs'}")
    assert alone.shares is None
    again = alone.state_dict()
    assert again.keys() == state.keys() and all(torch.equal(again[k], state[k]) for k in state)
