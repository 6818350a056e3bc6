"""Trained weights: a registry of cards (data, not code), safetensors files checked by hash, a download cache.

Modelled on torchvision's ``Weights`` (``models/_api.py``) and timm's ``_registry``/``_pretrained``/``_hub``:
each entry is named ``MODEL.TAG`` (``lenet.mnist``, ``gan.mnist-lsgan``) and carries its file, hash, the metrics
measured on its evaluation split, how it was trained, and the preprocessing and labels a server needs.

>>> import zoo
>>> model = zoo.get_model("lenet", weights="DEFAULT")       # or weights="mnist", or "lenet.mnist"
>>> w = zoo.get_weights("lenet.mnist")
>>> w.metrics["test_accuracy"], w.transforms()              # the card's figure, the preprocessing it used

The cards live in ``registry.json`` beside this file (the packaged ones: one source of truth for README,
``zoo info``, export and serving) and in ``$ZOO_HOME/weights/registry.json`` (cards a user built with
``zoo weights build``; they take precedence). A file is looked for in the package (shipped weights), then
in the cache (``$ZOO_HOME/weights/``), then fetched from the card's ``url`` (or ``$ZOO_WEIGHTS_URL/FILE``)
with its sha256 checked while it downloads.

Modules: :mod:`.card` (the typed card, loading into a model), :mod:`.registry` (lookup, writing cards),
:mod:`.files` (paths, safetensors, hashes), :mod:`.hub` (downloads), :mod:`.table` (README's table).
"""

from __future__ import annotations

from .card import ImageTransform, Weights, load_into, model_kwargs_for
from .files import (
    FILES_DIR,
    META_KEY,
    PACKAGE_DIR,
    REGISTRY_FILE,
    WeightsError,
    is_pretrained_source,
    load_file,
    registry_path,
    save_file,
    serialize,
    sha256_file,
    weights_dir,
    zoo_home,
)
from .hub import download
from .registry import (
    FILE_SUFFIXES,
    REGISTRY_FORMAT,
    built_default_weights,
    default_weights,
    get_model_weights,
    get_weights,
    is_weights_source,
    list_weights,
    registry,
    resolve_weights,
    update_card,
    write_card,
)
from .table import gpu_table, int8_table, markdown_table

__all__ = [
    "FILES_DIR",
    "FILE_SUFFIXES",
    "META_KEY",
    "PACKAGE_DIR",
    "REGISTRY_FILE",
    "REGISTRY_FORMAT",
    "ImageTransform",
    "Weights",
    "WeightsError",
    "built_default_weights",
    "default_weights",
    "download",
    "get_model_weights",
    "get_weights",
    "is_weights_source",
    "list_weights",
    "is_pretrained_source",
    "load_file",
    "load_into",
    "markdown_table",
    "int8_table",
    "gpu_table",
    "model_kwargs_for",
    "registry",
    "registry_path",
    "resolve_weights",
    "save_file",
    "serialize",
    "sha256_file",
    "update_card",
    "weights_dir",
    "write_card",
    "zoo_home",
]
