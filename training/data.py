"""Datasets, loaded whole into memory as tensors (every dataset the recipes use is small).

Each loader returns a :class:`DataBundle`: uint8 images or ready tensors for the train and test
splits, plus what a checkpoint must remember (labels, vocabularies, preprocessing). Batches are
cut and transformed by :class:`BatchLoader` on the training device, not per sample on the CPU.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch

from zoo import labels as zoo_labels
from zoo.errors import ZooError

Tensors = dict[str, torch.Tensor]


class DataNotFoundError(ZooError):
    """A dataset is missing; the message says where we looked and how to get it."""


@dataclass
class DataBundle:
    """Train/test tensors and everything the model and checkpoint need to know about them."""

    name: str
    train: Tensors
    test: Tensors | None
    description: str
    labels: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)


def default_data_dir() -> Path:
    """``$ZOO_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get("ZOO_DATA_DIR") or "data")


def cache_dir() -> Path:
    """Where derived files (extracted archives, tensor caches) go: ``$ZOO_CACHE_DIR`` or ~/.cache."""
    path = Path(os.environ.get("ZOO_CACHE_DIR") or Path.home() / ".cache" / "torch-model-zoo")
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- MNIST family


def _torchvision_mnist(cls_name: str, folder: str, root: Path, download: bool, size_mb: int) -> tuple[Tensors, Tensors]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError as e:
        if "not found" not in str(e).lower() and "download" not in str(e).lower():
            raise
        raise DataNotFoundError(
            f"{cls_name} not found: looked for {root / folder / 'raw'} (the *-idx?-ubyte files).\n"
            f"Get it with `--download` (torchvision fetches it, ~{size_mb} MB, into {root}), or point "
            f"`--data-dir` (or $ZOO_DATA_DIR) at a folder that holds {folder}/raw/."
        ) from None
    return (
        {"x": train.data.unsqueeze(1).contiguous(), "y": train.targets.long()},
        {"x": test.data.unsqueeze(1).contiguous(), "y": test.targets.long()},
    )


def load_mnist(root: Path, download: bool = False) -> DataBundle:
    train, test = _torchvision_mnist("MNIST", "MNIST", root, download, 11)
    return DataBundle("mnist", train, test, f"MNIST from {root / 'MNIST'}", list(zoo_labels.DIGITS))


def load_fashion_mnist(root: Path, download: bool = False) -> DataBundle:
    train, test = _torchvision_mnist("FashionMNIST", "FashionMNIST", root, download, 30)
    return DataBundle(
        "fashion-mnist", train, test, f"Fashion-MNIST from {root / 'FashionMNIST'}", list(zoo_labels.FASHION_MNIST)
    )


def load_digits(root: Path | None = None, download: bool = False) -> DataBundle:
    """scikit-learn's 1,797 real 8x8 handwritten digits, upscaled to MNIST's 28x28 layout.

    Ships inside the scikit-learn wheel, so it works offline. Each digit is scaled to 20x20 and
    centred in 28x28 (as MNIST digits are), white on black. Fixed 80/20 split.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N, 1, 8, 8) in [0, 1]
    images = torch.nn.functional.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
    images = torch.nn.functional.pad(images, (4, 4, 4, 4))
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    targets = torch.from_numpy(digits.target).long()
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(order))
    tr, te = order[:cut], order[cut:]
    return DataBundle(
        "digits",
        {"x": images[tr], "y": targets[tr]},
        {"x": images[te], "y": targets[te]},
        f"built-in scikit-learn digits ({cut} train / {len(te)} test, upscaled 8x8 → 28x28)",
        list(zoo_labels.DIGITS),
    )


# --------------------------------------------------------------------------- image folders, CIFAR-10

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a tar archive, refusing members that would land outside ``target`` or are links/devices."""
    target = target.resolve()
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            dest = (target / member.name).resolve()
            if dest != target and target not in dest.parents:
                raise ValueError(f"{archive}: member {member.name!r} would extract outside {target}; refusing")
            if not (member.isfile() or member.isdir()):
                raise ValueError(f"{archive}: member {member.name!r} is a link or special file; refusing")
        tmp = target.with_name(target.name + ".partial")
        tmp.mkdir(parents=True, exist_ok=True)
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp, filter="data")
        else:  # pragma: no cover - Python without PEP 706; members were checked above
            tar.extractall(tmp)
    tmp.rename(target)


def _find_tree(root: Path, splits: tuple[str, ...] = ("train",)) -> Path | None:
    """``root`` or a single subfolder of it that holds ``train/<class>/`` folders."""
    candidates = [root] + ([p for p in root.iterdir() if p.is_dir()] if root.is_dir() else [])
    for c in candidates:
        if all((c / s).is_dir() for s in splits):
            return c
    return None


def _read_image_tree(split_dir: Path, classes: list[str], size: int | None) -> Tensors:
    """Decode every image under ``split_dir/<class>/`` into a uint8 (N, 3, H, W) tensor."""
    from PIL import Image

    images, targets = [], []
    for index, cls in enumerate(classes):
        files = sorted(p for p in (split_dir / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            with Image.open(path) as img:
                img = img.convert("RGB")
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.BILINEAR)
                images.append(torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1))
            targets.append(index)
    if not images:
        raise DataNotFoundError(f"no images found under {split_dir}/<class>/")
    shapes = {tuple(t.shape) for t in images}
    if len(shapes) > 1:
        raise ValueError(f"images under {split_dir} differ in size ({sorted(shapes)[:3]} ...); give a load size")
    return {"x": torch.stack(images), "y": torch.tensor(targets, dtype=torch.long)}


def _tree_fingerprint(tree: Path, classes: list[str], size: int | None) -> str:
    h = hashlib.sha256(f"{tree.resolve()}|{classes}|{size}".encode())
    for split in sorted(p for p in tree.iterdir() if p.is_dir()):
        for cls in classes:
            d = split / cls
            if d.is_dir():
                for f in sorted(d.iterdir()):
                    st = f.stat()
                    h.update(f"{f.name}{st.st_size}{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def load_image_tree(tree: Path, classes: list[str] | None = None, size: int | None = None) -> tuple[Tensors, Tensors, list[str]]:
    """Read ``tree/train/<class>/*`` and ``tree/test|val/<class>/*`` (cached as a uint8 tensor file)."""
    test_name = next((s for s in ("test", "val", "valid") if (tree / s).is_dir()), None)
    if test_name is None:
        raise DataNotFoundError(f"{tree} has train/ but no test/ or val/ folder of class folders")
    available = sorted(p.name for p in (tree / "train").iterdir() if p.is_dir())
    classes = classes or available
    missing = [c for c in classes if c not in available]
    if missing:
        raise DataNotFoundError(f"{tree / 'train'} has no class folder {missing}; it has {available}")
    cache = cache_dir() / f"imagetree-{_tree_fingerprint(tree, classes, size)}.pt"
    if cache.is_file():
        data = torch.load(cache, weights_only=True)
        return data["train"], data["test"], data["classes"]
    train = _read_image_tree(tree / "train", classes, size)
    test = _read_image_tree(tree / test_name, classes, size)
    tmp = cache.with_suffix(".tmp")
    torch.save({"train": train, "test": test, "classes": classes}, tmp)
    os.replace(tmp, cache)
    return train, test, classes


def _cifar_batches(root: Path) -> Path | None:
    for c in (root / "cifar-10-batches-py", root / "cifar10" / "cifar-10-batches-py"):
        if (c / "data_batch_1").is_file():
            return c
    return None


def locate_image_tree(root: Path, names: tuple[str, ...]) -> Path | None:
    """Find an image-folder tree for a dataset under ``root``: a tree, or a .tar.gz of one (extracted)."""
    for base in [root / n for n in names] + [root]:
        if base.is_dir():
            tree = _find_tree(base)
            if tree is not None:
                return tree
    for base in [root / n for n in names] + [root]:
        if not base.is_dir():
            continue
        for archive in sorted(base.glob("*.tar.gz")) + sorted(base.glob("*.tgz")):
            if not any(n in archive.name for n in names):
                continue
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
            target = cache_dir() / f"{archive.name.split('.')[0]}-{digest}"
            if not target.is_dir():
                safe_extract(archive, target)
            tree = _find_tree(target)
            if tree is not None:
                return tree
    return None


def load_cifar10(root: Path, download: bool = False) -> DataBundle:
    """CIFAR-10 from torchvision's ``cifar-10-batches-py``, an image-folder tree, or a .tar.gz of one."""
    batches = _cifar_batches(root)
    if batches is not None or download:
        import torchvision.datasets as tvd

        base = batches.parent if batches is not None else root
        train = tvd.CIFAR10(str(base), train=True, download=download)
        test = tvd.CIFAR10(str(base), train=False, download=download)

        def to_tensors(ds: Any) -> Tensors:
            return {"x": torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), "y": torch.tensor(ds.targets)}

        return DataBundle("cifar10", to_tensors(train), to_tensors(test), f"CIFAR-10 (pickle batches) from {base}",
                          list(zoo_labels.CIFAR10))
    tree = locate_image_tree(root, ("cifar10", "cifar-10", "CIFAR10"))
    if tree is None:
        raise DataNotFoundError(
            f"CIFAR-10 not found under {root}: looked for cifar-10-batches-py/, an image-folder tree "
            f"(cifar10/train/<class>/*.jpg, cifar10/test/<class>/*.jpg) and a cifar10*.tar.gz of one.\n"
            f"Get it with `--download` (torchvision fetches the 163 MB original into {root}), or point "
            f"`--data-dir` (or $ZOO_DATA_DIR) at a folder holding one of those."
        )
    train, test, classes = load_image_tree(tree, size=32)
    if classes != list(zoo_labels.CIFAR10):
        raise DataNotFoundError(f"{tree} is not CIFAR-10: its classes are {classes}")
    return DataBundle("cifar10", train, test, f"CIFAR-10 (image tree) from {tree}", classes)


def load_image_folder(root: Path, classes: list[str] | None = None, size: int = 224) -> DataBundle:
    """A two-split image-folder tree (``train/<class>/``, ``test|val/<class>/``); optionally a class subset.

    When ``root`` holds no such tree but holds CIFAR-10, its classes are used (e.g. cat and dog).
    """
    tree = _find_tree(root) if root.is_dir() else None
    if tree is None:
        tree = locate_image_tree(root, ("cats-dogs", "cifar10"))
    if tree is None:
        raise DataNotFoundError(
            f"no image-folder tree under {root}: expected train/<class>/* and val/<class>/* (or test/).\n"
            f"Point `--data-dir` at such a folder (e.g. the Kaggle cats-vs-dogs images sorted into class folders)."
        )
    train, test, found = load_image_tree(tree, classes, size=None if _uniform_size(tree) else size)
    return DataBundle("image-folder", train, test, f"image folder {tree} (classes {', '.join(found)})", found)


def _uniform_size(tree: Path) -> bool:
    from PIL import Image

    sizes = set()
    for path in list((tree / "train").rglob("*"))[:200]:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            with Image.open(path) as img:
                sizes.add(img.size)
    return len(sizes) == 1


# --------------------------------------------------------------------------- text

SONNET = """When forty winters shall besiege thy brow,
And dig deep trenches in thy beauty's field,
Thy youth's proud livery so gazed on now,
Will be a totter'd weed of small worth held:
Then being asked, where all thy beauty lies,
Where all the treasure of thy lusty days;
To say, within thine own deep sunken eyes,
Were an all-eating shame, and thriftless praise.
How much more praise deserv'd thy beauty's use,
If thou couldst answer 'This fair child of mine
Shall sum my count, and make my old excuse,'
Proving his beauty by succession thine!
This were to be new made when thou art old,
And see thy blood warm when thou feel'st it cold."""


def ngram_bundle(tokens: list[str], context: int, name: str, description: str) -> DataBundle:
    """(context words → next word) pairs over a token list; sorted vocabulary."""
    vocab = sorted(set(tokens))
    index = {w: i for i, w in enumerate(vocab)}
    ids = torch.tensor([index[w] for w in tokens])
    windows = ids.unfold(0, context + 1, 1)
    train = {"x": windows[:, :context].contiguous(), "y": windows[:, context].contiguous()}
    return DataBundle(name, train, train, description, meta={"vocab": vocab, "context_size": context},
                      model_kwargs={"vocab_size": len(vocab), "context_size": context})


def load_sonnet(root: Path | None = None, download: bool = False) -> DataBundle:
    tokens = SONNET.split()
    return ngram_bundle(tokens, 2, "sonnet", f"Shakespeare's Sonnet 2 ({len(tokens)} tokens, {len(set(tokens))} types)")


POS_TOY_TRAIN = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
]
POS_TOY_TEST = [("Everybody ate the apple".split(), ["NN", "V", "DET", "NN"])]


def read_conllu(path: Path) -> list[tuple[list[str], list[str]]]:
    """Sentences as (forms, UPOS tags); multi-word ranges and empty nodes are skipped."""
    sentences: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
            elif not line.startswith("#"):
                cols = line.split("\t")
                if len(cols) != 10:
                    raise ValueError(f"{path}: not CoNLL-U (expected 10 tab-separated columns): {line[:60]!r}")
                if cols[0].isdigit():
                    words.append(cols[1])
                    tags.append(cols[3])
    if words:
        sentences.append((words, tags))
    return sentences


def tagging_tensors(
    sentences: list[tuple[list[str], list[str]]], words: list[str], chars: list[str], tags: list[str]
) -> Tensors:
    """Padded index tensors: words (N, T), chars (N, T, C), tags (N, T) with -100 on padding."""
    w_index = {w: i for i, w in enumerate(words)}
    c_index = {c: i for i, c in enumerate(chars)}
    t_index = {t: i for i, t in enumerate(tags)}
    n = len(sentences)
    t_max = max(len(s) for s, _ in sentences)
    c_max = max(len(w) for s, _ in sentences for w in s)
    w_out = torch.zeros(n, t_max, dtype=torch.long)
    c_out = torch.zeros(n, t_max, c_max, dtype=torch.long)
    y_out = torch.full((n, t_max), -100, dtype=torch.long)
    for i, (sent, sent_tags) in enumerate(sentences):
        for j, (word, tag) in enumerate(zip(sent, sent_tags)):
            low = word.lower()
            w_out[i, j] = w_index.get(low, 1)
            c_out[i, j, : len(low)] = torch.tensor([c_index.get(c, 1) for c in low])
            y_out[i, j] = t_index[tag]
    return {"words": w_out, "chars": c_out, "y": y_out}


def tagging_bundle(train: list, test: list, name: str, description: str) -> DataBundle:
    words = ["<pad>", "<unk>"] + sorted({w.lower() for s, _ in train for w in s})
    chars = ["<pad>", "<unk>"] + sorted({c for s, _ in train for w in s for c in w.lower()})
    tags = sorted({t for _, ts in train + test for t in ts})
    return DataBundle(
        name,
        tagging_tensors(train, words, chars, tags),
        tagging_tensors(test, words, chars, tags),
        description,
        labels=tags,
        meta={"words": words, "chars": chars, "tags": tags},
        model_kwargs={"n_word": len(words), "n_char": len(chars), "n_tag": len(tags)},
    )


def load_pos_toy(root: Path | None = None, download: bool = False) -> DataBundle:
    return tagging_bundle(POS_TOY_TRAIN, POS_TOY_TEST, "pos-toy", "S3's two tagged sentences")


def load_conllu(root: Path, download: bool = False) -> DataBundle:
    """UD English EWT: train on ``*-ud-train.conllu`` when present, else on a fixed 80 % of dev;
    evaluate on dev (or its held-out 20 %)."""
    folder = next((p for p in (root / "ud-english-ewt", root) if p.is_dir() and list(p.glob("*-ud-dev.conllu"))), None)
    if folder is None:
        raise DataNotFoundError(
            f"no CoNLL-U treebank under {root}: looked for ud-english-ewt/*-ud-dev.conllu.\n"
            f"Download UD English EWT (https://universaldependencies.org) and point `--data-dir` at its parent."
        )
    dev = read_conllu(next(folder.glob("*-ud-dev.conllu")))
    train_files = list(folder.glob("*-ud-train.conllu"))
    if train_files:
        train, test = read_conllu(train_files[0]), dev
        how = f"train {train_files[0].name}, evaluate on dev"
    else:
        order = torch.randperm(len(dev), generator=torch.Generator().manual_seed(0)).tolist()
        cut = int(0.8 * len(dev))
        train, test = [dev[i] for i in order[:cut]], [dev[i] for i in order[cut:]]
        how = f"no train file: fixed 80/20 split of dev ({cut} / {len(dev) - cut} sentences)"
    return tagging_bundle(train, test, "ud-english", f"UD English from {folder} ({how})")


# --------------------------------------------------------------------------- series and synthetic data


def load_airline(root: Path, download: bool = False) -> DataBundle:
    """Monthly airline passengers scaled by (max - min) as in the seed; look_back 2; first 70 % trains."""
    path = root / "airline-passengers" / "airline-passengers.csv"
    if not path.is_file():
        path = root / "airline-passengers.csv"
    if not path.is_file():
        raise DataNotFoundError(
            f"airline passengers CSV not found: looked for {root}/airline-passengers/airline-passengers.csv.\n"
            f"It is the classic Box & Jenkins series (144 monthly values, header \"Month\",\"Passengers\"); "
            f"point `--data-dir` at its folder."
        )
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    values = torch.tensor([float(r[1]) for r in rows[1:] if r[1].strip()], dtype=torch.float32)
    scale = float(values.max() - values.min())
    series = values / scale
    look_back = 2
    x = series.unfold(0, look_back, 1)[:-1]  # (N - look_back, look_back)
    y = series[look_back:]
    cut = int(len(x) * 0.7)
    return DataBundle(
        "airline",
        {"x": x[:cut].unsqueeze(0), "y": y[:cut].reshape(1, -1, 1)},
        {"x": x.unsqueeze(0), "y": y.reshape(1, -1, 1), "train_steps": torch.tensor(cut)},
        f"airline passengers from {path} ({len(values)} months, {cut} training windows)",
        meta={"scale": scale, "look_back": look_back},
    )


def load_sin_cos(root: Path | None = None, download: bool = False) -> DataBundle:
    """S1's sin → cos task: 100 consecutive windows of 10 points over [kπ, (k+1)π)."""
    starts = torch.arange(100, dtype=torch.float64) * math.pi
    steps = starts[:, None] + torch.arange(10, dtype=torch.float64)[None] * (math.pi / 10)
    x = torch.sin(steps).float().unsqueeze(-1)
    y = torch.cos(steps).float().unsqueeze(-1)
    return DataBundle("sin-cos", {"x": x, "y": y}, {"x": x, "y": y}, "sin → cos windows (100 x 10 steps)")


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def load_quadratic(root: Path | None = None, download: bool = False) -> DataBundle:
    g = _seeded(1)
    x = torch.linspace(-1, 1, 100).unsqueeze(1)
    y = x.pow(2) + 0.1 * torch.randn(x.size(), generator=g)
    return DataBundle("quadratic", {"x": x, "y": y}, {"x": x, "y": y}, "y = x² + 0.1·N(0, 1), 100 points")


def load_quadratic_1000(root: Path | None = None, download: bool = False) -> DataBundle:
    g = _seeded(1)
    x = torch.linspace(-1, 1, 1000).unsqueeze(1)
    y = x.pow(2) + 0.1 * torch.randn(x.size(), generator=g)
    return DataBundle("quadratic-1000", {"x": x, "y": y}, {"x": x, "y": y}, "y = x² + 0.1·N(0, 1), 1000 points")


def load_gaussians(root: Path | None = None, download: bool = False) -> DataBundle:
    g = _seeded(1)
    ones = torch.ones(100, 2)
    x = torch.cat([torch.normal(2 * ones, 1, generator=g), torch.normal(-2 * ones, 1, generator=g)])
    y = torch.cat([torch.zeros(100), torch.ones(100)]).long()
    return DataBundle("gaussians", {"x": x, "y": y}, {"x": x, "y": y}, "two Gaussian clusters at (2,2) and (-2,-2)",
                      labels=["cluster-0", "cluster-1"])


LINEAR_POINTS_X = [3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167, 7.042, 10.791, 5.313, 7.997, 3.1]
LINEAR_POINTS_Y = [1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221, 2.827, 3.465, 1.65, 2.904, 1.3]


def load_linear_points(root: Path | None = None, download: bool = False) -> DataBundle:
    x = torch.tensor(LINEAR_POINTS_X).unsqueeze(1)
    y = torch.tensor(LINEAR_POINTS_Y).unsqueeze(1)
    return DataBundle("linear-points", {"x": x, "y": y}, {"x": x, "y": y}, "S3's 15 (x, y) points")


def poly_features(x: torch.Tensor) -> torch.Tensor:
    """[x, x², x³] (the seed's ``make_features``)."""
    x = x.reshape(-1, 1)
    return torch.cat([x ** i for i in range(1, 4)], 1)


def load_poly(root: Path | None = None, download: bool = False) -> DataBundle:
    """y = 0.9 + 0.5x + 3x² + 2.4x³ at x ~ N(0, 1); a fresh 32-point batch per step, as in the seed."""
    g = _seeded(1)
    x = poly_features(torch.randn(10_000, generator=g))
    w, b = torch.tensor([[0.5], [3.0], [2.4]]), 0.9
    xt = poly_features(torch.linspace(-2, 2, 200))
    return DataBundle("poly", {"x": x, "y": x @ w + b}, {"x": xt, "y": xt @ w + b},
                      "y = 0.9 + 0.5x + 3x² + 2.4x³, x ~ N(0, 1)")


def load_logistic(root: Path | None = None, download: bool = False) -> DataBundle:
    """A stand-in for the seed's unreachable data.txt: 100 two-feature "exam scores" in [30, 100],
    labelled 1 when a noisy linear score passes a threshold (the same shape of problem)."""
    g = _seeded(1)
    x = 30 + 70 * torch.rand(100, 2, generator=g)
    score = x[:, 0] + x[:, 1] + 10 * torch.randn(100, generator=g)
    y = (score > 130).float().unsqueeze(1)
    return DataBundle("logistic", {"x": x, "y": y}, {"x": x, "y": y}, "100 synthetic two-score points",
                      labels=["class-0", "class-1"])


def load_bn_quadratic(root: Path | None = None, download: bool = False) -> DataBundle:
    """The batch-norm demo's data: y = x² − 5 + N(0, 2), x ∈ [-7, 10], 2000 train / 200 test."""
    g = _seeded(1)
    x = torch.linspace(-7, 10, 2000).unsqueeze(1)
    y = x.pow(2) - 5 + 2 * torch.randn(x.size(), generator=g)
    xt = torch.linspace(-7, 10, 200).unsqueeze(1)
    yt = xt.pow(2) - 5 + 2 * torch.randn(xt.size(), generator=g)
    return DataBundle("bn-quadratic", {"x": x, "y": y}, {"x": xt, "y": yt}, "y = x² − 5 + N(0, 2)")


def load_none(root: Path | None = None, download: bool = False) -> DataBundle:
    """For steps that make their own data (GAN curves, CartPole)."""
    empty = {"x": torch.zeros(0)}
    return DataBundle("none", empty, None, "generated on the fly")


LOADERS: dict[str, Callable[..., DataBundle]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "digits": load_digits,
    "cifar10": load_cifar10,
    "sonnet": load_sonnet,
    "pos-toy": load_pos_toy,
    "ud-english": load_conllu,
    "airline": load_airline,
    "sin-cos": load_sin_cos,
    "quadratic": load_quadratic,
    "quadratic-1000": load_quadratic_1000,
    "gaussians": load_gaussians,
    "linear-points": load_linear_points,
    "poly": load_poly,
    "logistic": load_logistic,
    "bn-quadratic": load_bn_quadratic,
    "none": load_none,
}


def load_dataset(name: str, root: Path | None = None, download: bool = False, **options: Any) -> DataBundle:
    """Load dataset ``name`` from ``root`` (default: :func:`default_data_dir`)."""
    root = Path(root) if root is not None else default_data_dir()
    if name == "image-folder":
        return load_image_folder(root, **options)
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}, image-folder") from None
    return loader(root, download)


# --------------------------------------------------------------------------- batching


def epoch_generator(seed: int, epoch: int, stream: int = 0, device: torch.device | str = "cpu") -> torch.Generator:
    """The RNG of one epoch's data order and augmentation: a pure function of (seed, epoch), so a
    resumed run sees exactly the batches an uninterrupted one would. ``device``: where it draws (a
    CUDA generator's draws differ from a CPU one's, and stay on the GPU)."""
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + epoch * 7_919 + stream) % (2**63))


class BatchLoader:
    """Cuts in-memory tensors into batches on ``device`` and applies a batch transform.

    ``shuffle`` draws the order from :func:`epoch_generator`; ``rank``/``world`` shard it for DDP
    exactly like :class:`torch.utils.data.DistributedSampler` (padding to equal shards).
    """

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        transform: Callable[[Tensors, torch.Generator | None], Tensors] | None = None,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.device = torch.device(device)
        self.tensors = {k: v.to(self.device) for k, v in tensors.items() if v.dim() > 0}
        self.n = len(next(iter(self.tensors.values())))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.seed = seed
        self.rank, self.world = rank, world

    def _indices(self, epoch: int) -> torch.Tensor:
        if self.world > 1:
            from torch.utils.data import DistributedSampler

            sampler = DistributedSampler(range(self.n), num_replicas=self.world, rank=self.rank,
                                         shuffle=self.shuffle, seed=self.seed)
            sampler.set_epoch(epoch)
            return torch.tensor(list(sampler))
        if self.shuffle:
            return torch.randperm(self.n, generator=epoch_generator(self.seed, epoch))
        return torch.arange(self.n)

    def __len__(self) -> int:
        per_rank = math.ceil(self.n / self.world) if self.world > 1 else self.n
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[Tensors]:
        """Batches of ``epoch`` from batch number ``start`` on.

        Each batch's augmentation draws from its own generator (seeded by epoch and batch index),
        so skipping batches on resume changes nothing that follows.
        """
        order = self._indices(epoch).to(self.device)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = {k: v[idx] for k, v in self.tensors.items()}
            if self.transform is not None:
                batch = self.transform(batch, epoch_generator(self.seed, epoch, stream=1 + b, device=self.device))
            yield batch

    def __iter__(self) -> Iterator[Tensors]:
        return self.batches(0)
