"""Image datasets: MNIST, Fashion-MNIST, the built-in digits, CIFAR-10 and image-folder trees (uint8 tensors)."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from zoo import labels as zoo_labels

from .base import DataBundle, DataNotFoundError, Tensors, cache_dir

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

    Ships inside the scikit-learn wheel, so it works offline. Each digit is laid out as MNIST's are:
    cropped to its ink, scaled so that its longer side is 20 pixels (aspect kept), and placed in 28x28
    with its centre of mass at the centre; white on black. Fixed 80/20 split. (A model trained on MNIST
    reads 84 % of them; they are blurrier and bolder than MNIST's strokes.)
    """
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    from handlers.imaging import mnist_layout

    laid = [mnist_layout(d) for d in digits.images.astype(np.float32) / 16.0]
    if any(x is None for x in laid):  # every scikit-learn digit has ink; a blank one would be a broken download
        raise ValueError("scikit-learn's digits hold a blank image; reinstall scikit-learn")
    images = torch.from_numpy(np.stack(cast(list[np.ndarray], laid)))[:, None]
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
            with Image.open(path) as opened:
                img = opened.convert("RGB")
                if size is not None and img.size != (size, size):
                    img = img.resize((size, size), Image.Resampling.BILINEAR)
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


def load_image_tree(
    tree: Path, classes: list[str] | None = None, size: int | None = None
) -> tuple[Tensors, Tensors, list[str]]:
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

        return DataBundle(
            "cifar10",
            to_tensors(train),
            to_tensors(test),
            f"CIFAR-10 (pickle batches) from {base}",
            list(zoo_labels.CIFAR10),
        )
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
