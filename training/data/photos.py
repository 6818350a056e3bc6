"""A user's folder of photos as a classification dataset: scanned, split, decoded once and cached.

Layouts: ``train/<class>/`` with ``val/``, ``valid/``, ``validation/`` or ``test/`` beside it (the first found is the
validation split), or a flat ``<class>/`` tree, split here (stratified, seeded). A ``.tar.gz`` of either works too.
Hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``, ``__MACOSX``, dot-names) are never classes or
photos; files that are not images are skipped and counted; photos that do not decode are listed with the reason
and skipped (or stop the scan). Each photo is decoded and resized once per size (:func:`handlers.imaging.fit`, as
the server does it) and cached under its content hash, so later epochs and later runs read uint8 tensors.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import DataBundle, DataNotFoundError, cache_dir
from .images import IMAGE_SUFFIXES, safe_extract

PHOTO_SUFFIXES = IMAGE_SUFFIXES | {".tif", ".tiff"}
VALIDATION_NAMES = ("val", "valid", "validation", "test")
#: Names that are never classes or photos, besides every name starting with a dot.
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini", "@eaDir", "__pycache__"}
#: The largest class may hold this many times the smallest's photos before a warning suggests class weights.
IMBALANCE_RATIO = 3.0


class PhotoFolderError(DataNotFoundError):
    """The folder cannot become a dataset (no classes, an empty class, a bad image with ``fail``)."""


def hidden(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_NAMES


def visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not hidden(p.name))


@dataclass
class Photo:
    path: Path
    label: int
    digest: str = ""


@dataclass
class PhotoScan:
    """What a scan found: classes, the photos of each split, and everything it left out and why."""

    root: Path
    layout: str  # "split" (train/ + val/) or "flat" (split here)
    val_name: str | None
    classes: list[str]
    train: list[Photo]
    val: list[Photo]
    bad: list[tuple[str, str]] = field(default_factory=list)  # (path relative to root, reason)
    skipped: list[str] = field(default_factory=list)  # files that are not images
    duplicates: list[str] = field(default_factory=list)  # validation photos also in train (left out of val)

    def counts(self, split: str) -> list[int]:
        photos = self.train if split == "train" else self.val
        counts = [0] * len(self.classes)
        for p in photos:
            counts[p.label] += 1
        return counts

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def content_hash(self) -> str:
        """A hash of the dataset's content: every photo's bytes, class and split (not paths or times)."""
        h = hashlib.sha256()
        for split, photos in (("train", self.train), ("val", self.val)):
            for p in sorted(photos, key=lambda q: (q.label, q.digest)):
                h.update(f"{split}|{self.classes[p.label]}|{p.digest}\n".encode())
        return h.hexdigest()


# --------------------------------------------------------------------------- finding the photos


def resolve_folder(path: Path) -> Path:
    """The folder to scan: ``path``, an archive extracted into the cache, or the one folder a tree came wrapped in."""
    path = Path(path).expanduser()
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        target = cache_dir() / f"photos-{path.name.split('.')[0]}-{digest}"
        if not target.is_dir():
            safe_extract(path, target)
        path = target
    if not path.is_dir():
        raise PhotoFolderError(
            f"no photo folder at {path}: give a folder of class folders (<class>/*.jpg), or train/<class>/ with "
            f"val/<class>/ beside it, or a .tar.gz of one"
        )
    while True:  # an archive's wrapper folder (flower_photos/train/...): descend while it is the only thing here
        dirs = visible_dirs(path)
        loose = [p for p in path.iterdir() if p.is_file() and not hidden(p.name) and p.suffix.lower() in PHOTO_SUFFIXES]
        if len(dirs) == 1 and not loose and visible_dirs(dirs[0]) and dirs[0].name not in ("train", *VALIDATION_NAMES):
            path = dirs[0]
            continue
        return path


def _class_files(class_dir: Path, skipped: list[Path]) -> list[Path]:
    """Every photo under ``class_dir`` (sub-folders included, hidden ones not), sorted; others to ``skipped``."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(class_dir):
        dirs[:] = sorted(d for d in dirs if not hidden(d))
        for name in sorted(files):
            if hidden(name):
                continue
            path = Path(folder) / name
            (found if path.suffix.lower() in PHOTO_SUFFIXES else skipped).append(path)
    return found


def find_photos(root: Path) -> tuple[str, str | None, list[str], dict[str, dict[str, list[Path]]], list[Path]]:
    """(layout, validation folder name, classes, split → class → files, skipped files) of a photo folder."""
    names = {p.name: p for p in visible_dirs(root)}
    val_name = next((n for n in VALIDATION_NAMES if n in names), None)
    skipped: list[Path] = []
    if "train" in names and val_name is not None:
        layout, splits = "split", {"train": names["train"], "val": names[val_name]}
    elif "train" in names:
        layout, splits = "flat", {"train": names["train"]}
    else:
        layout, splits = "flat", {"train": root}
    classes = [p.name for p in visible_dirs(splits["train"])]
    if len(classes) < 2:
        raise PhotoFolderError(
            f"{splits['train']} holds {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); a classifier "
            f"needs at least two: lay the photos out as <class>/*.jpg (or train/<class>/ and val/<class>/)"
        )
    files: dict[str, dict[str, list[Path]]] = {}
    for split, folder in splits.items():
        present = {p.name for p in visible_dirs(folder)}
        if split == "val" and present - set(classes):
            extra = ", ".join(sorted(present - set(classes)))
            raise PhotoFolderError(
                f"{folder} has class folders that train/ lacks ({extra}); the model could never answer them: "
                f"add them to train/ or remove them from {folder.name}/"
            )
        files[split] = {c: _class_files(folder / c, skipped) if c in present else [] for c in classes}
        skipped += [p for p in folder.iterdir() if p.is_file() and not hidden(p.name)]
    empty = [c for c in classes if not files["train"][c]]
    if empty:
        raise PhotoFolderError(
            f"empty class folder(s) in {splits['train']}: {', '.join(empty)} (no photos); add photos or remove "
            f"the folder(s)"
        )
    return layout, val_name if layout == "split" else None, classes, files, skipped


# --------------------------------------------------------------------------- decoding, with a content-keyed cache


def _decode(data: bytes, pre: dict[str, Any]) -> np.ndarray:
    from handlers import imaging

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EXIF and palette warnings of odd files: the result is checked instead
        image = imaging.decode_image(data)
        return np.ascontiguousarray(imaging.fit(image, pre))


class PixelCache:
    """uint8 pixels of each photo at one preprocessing, stored under the photo's content hash."""

    def __init__(self, pre: dict[str, Any]) -> None:
        key = f"{pre['channels']}x{pre['height']}x{pre['width']}-{pre.get('crop', 'resize')}"
        self.folder = cache_dir() / "photos" / key

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.npy"

    def get(self, digest: str) -> np.ndarray | None:
        path = self.path(digest)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # a half-written entry from a killed run: decode again

    def put(self, digest: str, pixels: np.ndarray) -> None:
        """Store atomically (a temporary file per thread, renamed); a cache that cannot be written is skipped."""
        path = self.path(digest)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.save(f, pixels, allow_pickle=False)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)


def _load_one(photo: Photo, pre: dict[str, Any], cache: PixelCache) -> tuple[np.ndarray | None, str]:
    try:
        data = photo.path.read_bytes()
    except OSError as e:
        return None, f"unreadable ({e.strerror or e})"
    photo.digest = hashlib.sha256(data).hexdigest()[:40]
    pixels = cache.get(photo.digest)
    if pixels is not None:
        return pixels, ""
    try:
        pixels = _decode(data, pre)
    except Exception as e:  # any decoder failure is this photo's problem, never the run's
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, reason
    cache.put(photo.digest, pixels)
    return pixels, ""


def decode_all(
    photos: list[Photo], pre: dict[str, Any], progress: bool, label: str
) -> Iterator[tuple[Photo, np.ndarray | None, str]]:
    """(photo, pixels or None, why not) for every photo, decoded on all cores (cached ones read back)."""
    from tqdm import tqdm

    cache = PixelCache(pre)
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        results = pool.map(lambda p: _load_one(p, pre, cache), photos)
        for photo, (pixels, why) in tqdm(
            zip(photos, results), total=len(photos), desc=label, unit="photo", disable=not progress, leave=False
        ):
            yield photo, pixels, why


# --------------------------------------------------------------------------- the dataset


def stratified_split(labels: list[int], groups: list[str], fraction: float, seed: int) -> list[bool]:
    """Which samples go to validation: ``fraction`` of each class (at least one where a class has two or more),
    drawn with ``seed``; samples sharing a group (identical bytes) always land on the same side."""
    g = torch.Generator().manual_seed(seed)
    to_val = [False] * len(labels)
    for c in sorted(set(labels)):
        keys = sorted({groups[i] for i, y in enumerate(labels) if y == c})
        order = torch.randperm(len(keys), generator=g).tolist()
        n_val = min(len(keys) - 1, max(1 if len(keys) >= 2 else 0, round(len(keys) * fraction)))
        chosen = {keys[i] for i in order[:n_val]}
        for i, y in enumerate(labels):
            if y == c and groups[i] in chosen:
                to_val[i] = True
    return to_val


def scan_photos(
    root: Path,
    pre: dict[str, Any],
    *,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    on_bad_image: str = "skip",
    progress: bool = True,
) -> tuple[PhotoScan, dict[str, np.ndarray]]:
    """Scan, decode and split a photo folder; returns the scan and the uint8 pixels by content hash."""
    if on_bad_image not in ("skip", "fail"):
        raise ValueError(f"on_bad_image must be skip or fail (got {on_bad_image!r})")
    if not 0 < val_fraction < 1:
        raise ValueError(f"the validation fraction must be between 0 and 1 (got {val_fraction})")
    folder = resolve_folder(root)
    layout, val_name, classes, files, skipped = find_photos(folder)
    scan = PhotoScan(folder, layout, val_name, classes, [], [])
    scan.skipped = [scan.rel(p) for p in skipped]
    pixels: dict[str, np.ndarray] = {}
    for split in files:
        photos = [Photo(p, classes.index(c)) for c in classes for p in files[split][c]]
        good = []
        for photo, array, why in decode_all(photos, pre, progress, f"reading {split} photos"):
            if array is None:
                if on_bad_image == "fail":
                    raise PhotoFolderError(f"{photo.path}: {why} (--on-bad-image skip lists such files and goes on)")
                scan.bad.append((scan.rel(photo.path), why))
                continue
            pixels[photo.digest] = array
            good.append(photo)
        if split == "train":
            scan.train = good
        else:
            scan.val = good
    if layout == "flat":
        to_val = stratified_split(
            [p.label for p in scan.train], [p.digest for p in scan.train], val_fraction, split_seed
        )
        scan.val = [p for p, v in zip(scan.train, to_val) if v]
        scan.train = [p for p, v in zip(scan.train, to_val) if not v]
    else:
        seen = {p.digest for p in scan.train}
        scan.duplicates = [scan.rel(p.path) for p in scan.val if p.digest in seen]
        scan.val = [p for p in scan.val if p.digest not in seen]
    empty = [c for c, n in zip(classes, scan.counts("train")) if n == 0]
    if empty:
        raise PhotoFolderError(f"no readable training photo in class folder(s) {', '.join(empty)}; see the list above")
    if not scan.val:
        raise PhotoFolderError(f"{folder}: no validation photos (every class needs two photos or more to split)")
    return scan, pixels


def _stack(photos: list[Photo], pixels: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {
        "x": torch.from_numpy(np.stack([pixels[p.digest] for p in photos])),
        "y": torch.tensor([p.label for p in photos], dtype=torch.long),
    }


def describe_scan(scan: PhotoScan) -> list[str]:
    """What a person should see before training: classes and counts, the imbalance, what was left out."""
    train, val = scan.counts("train"), scan.counts("val")
    width = max(len(c) for c in scan.classes)
    lines = [
        f"{len(scan.classes)} classes from {scan.root} "
        + (f"(train/ and {scan.val_name}/)" if scan.layout == "split" else "(one folder per class, split here)"),
        f"  {'class':<{width}}  train    val",
    ]
    lines += [f"  {c:<{width}}  {t:>5}  {v:>5}" for c, t, v in zip(scan.classes, train, val)]
    lines.append(f"  {'total':<{width}}  {sum(train):>5}  {sum(val):>5}")
    if max(train) > IMBALANCE_RATIO * min(train):
        big, small = scan.classes[train.index(max(train))], scan.classes[train.index(min(train))]
        lines.append(
            f"warning: unbalanced classes ({big} has {max(train)} training photos, {small} {min(train)}, over "
            f"{IMBALANCE_RATIO:g}x); --class-weights weights the loss by class"
        )
    if scan.bad:
        lines.append(f"skipped {len(scan.bad)} photo(s) that do not decode (listed in the run's bad_images.csv):")
        lines += [f"  {path}: {why}" for path, why in scan.bad[:10]] + (["  ..."] if len(scan.bad) > 10 else [])
    if scan.skipped:
        lines.append(f"skipped {len(scan.skipped)} file(s) that are not photos (e.g. {scan.skipped[0]})")
    if scan.duplicates:
        lines.append(f"left {len(scan.duplicates)} validation photo(s) out: the same file is in train/")
    return lines


def load_photo_folder(
    root: Path,
    download: bool = False,
    *,
    photos: str | None = None,
    preprocessing: dict[str, Any] | None = None,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    on_bad_image: str = "skip",
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> DataBundle:
    """A photo folder (``photos``, else ``root``) as a :class:`DataBundle` at ``preprocessing``'s size."""
    if preprocessing is None:
        raise ValueError("a photo folder is read at a model's size: give the preprocessing")
    pre = dict(preprocessing)
    scan, pixels = scan_photos(
        Path(photos or root),
        pre,
        val_fraction=val_fraction,
        split_seed=split_seed,
        on_bad_image=on_bad_image,
        progress=progress,
    )
    if log is not None:
        for line in describe_scan(scan):
            log(line)
    options = {
        "photos": str(scan.root),
        "preprocessing": pre,
        "val_fraction": val_fraction,
        "split_seed": split_seed,
        "on_bad_image": on_bad_image,
    }
    bundle = DataBundle(
        "photo-folder",
        _stack(scan.train, pixels),
        _stack(scan.val, pixels),
        f"photos in {scan.root} ({len(scan.train)} train / {len(scan.val)} validation, {len(scan.classes)} classes)",
        list(scan.classes),
        meta={
            "dataset_options": options,
            "content_sha256": scan.content_hash(),
            "layout": scan.layout,
            "validation_folder": scan.val_name,
            "class_counts": {"train": scan.counts("train"), "val": scan.counts("val")},
        },
    )
    bundle.preprocessing = pre
    bundle.found = scan
    return bundle


def write_scan(scan: PhotoScan, out_dir: Path) -> None:
    """The split's file lists, the photos left out and why, and the classes, into a run folder."""
    import csv
    import json

    split_dir = out_dir / "split"
    split_dir.mkdir(parents=True, exist_ok=True)
    for name, photos in (("train", scan.train), ("val", scan.val)):
        rows = [f"{scan.rel(p.path)}\t{scan.classes[p.label]}\t{p.digest}" for p in photos]
        (split_dir / f"{name}.tsv").write_text("path\tclass\tsha256\n" + "".join(r + "\n" for r in rows))
    with open(out_dir / "bad_images.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "reason"])
        writer.writerows(scan.bad)
    summary = {
        "root": str(scan.root),
        "layout": scan.layout,
        "validation_folder": scan.val_name,
        "classes": scan.classes,
        "train_counts": scan.counts("train"),
        "val_counts": scan.counts("val"),
        "bad_images": len(scan.bad),
        "skipped_files": scan.skipped,
        "val_duplicates_of_train": scan.duplicates,
        "content_sha256": scan.content_hash(),
    }
    (out_dir / "photos.json").write_text(json.dumps(summary, indent=2))
