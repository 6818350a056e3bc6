"""What a recipe is (:class:`Recipe`, its :class:`Profile` of hyper-parameters) and the registry of them."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from zoo.errors import unknown_name


@dataclass(frozen=True)
class Profile:
    """Hyper-parameters of one way to train a recipe."""

    epochs: int
    batch_size: int
    optimizer: str = "adam"  # adam | adamw | sgd | rmsprop
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    alpha: float = 0.99  # RMSprop smoothing
    scheduler: str | None = None  # None | onecycle | cosine | triangle (extra: lr_start, lr_peak_at, lr_end)
    label_smoothing: float = 0.0
    precision: str = "fp32"  # fp32 | bf16 | auto (bf16 autocast where the hardware has it; see training.precision)
    channels_last: bool = False
    shuffle: bool = True
    augment: Mapping[str, Any] = field(default_factory=dict)
    eval_batch_size: int = 1000
    extra: Mapping[str, Any] = field(default_factory=dict)  # step-specific settings
    notes: str = ""

    def __post_init__(self) -> None:
        """Refuse values no run can use (a zero batch, a negative epoch count, an unknown optimiser, ...)."""
        problems = [
            f"{name} must be {rule} (got {getattr(self, name)!r})"
            for name, rule, ok in (
                ("epochs", "a whole number >= 1", _whole(self.epochs, 1)),
                ("batch_size", "a whole number >= 1", _whole(self.batch_size, 1)),
                ("eval_batch_size", "a whole number >= 1", _whole(self.eval_batch_size, 1)),
                ("lr", "a finite number > 0", _real(self.lr) and self.lr > 0),
                ("weight_decay", "a finite number >= 0", _real(self.weight_decay) and self.weight_decay >= 0),
                ("momentum", "in [0, 1)", _real(self.momentum) and 0 <= self.momentum < 1),
                ("alpha", "in [0, 1]", _real(self.alpha) and 0 <= self.alpha <= 1),
                (
                    "betas",
                    "two numbers in [0, 1)",
                    len(self.betas) == 2 and all(_real(b) and 0 <= b < 1 for b in self.betas),
                ),
                ("label_smoothing", "in [0, 1)", _real(self.label_smoothing) and 0 <= self.label_smoothing < 1),
                ("optimizer", f"one of {', '.join(OPTIMIZERS)}", self.optimizer in OPTIMIZERS),
                (
                    "scheduler",
                    f"none or one of {', '.join(SCHEDULERS)}",
                    self.scheduler is None or self.scheduler in SCHEDULERS,
                ),
                ("precision", f"one of {', '.join(PRECISIONS)}", self.precision in PRECISIONS),
            )
            if not ok
        ]
        if problems:
            raise ValueError("; ".join(problems))

    def with_overrides(self, **overrides: Any) -> Profile:
        """A copy with fields replaced; values given as strings are converted to the field's type. ``FIELD.KEY``
        sets one entry of a mapping field (``extra.tta=0``, ``augment.flip=false``)."""
        known = {f.name: f for f in fields(self)}
        converted: dict[str, Any] = {}
        for dotted in [k for k in overrides if "." in k]:
            field_name, key = dotted.split(".", 1)
            current = converted.get(field_name, getattr(self, field_name, None))
            if field_name not in known or not isinstance(current, Mapping):
                raise ValueError(f"{dotted}: {field_name} is not a hyper-parameter with named entries")
            value = overrides.pop(dotted)
            if isinstance(value, str):
                value = parse_entry(value, current.get(key))
            converted[field_name] = {**current, key: value}
        for key, value in overrides.items():
            if key not in known:
                raise ValueError(f"unknown hyper-parameter {key!r}; known: {', '.join(sorted(known))}")
            current = getattr(self, key)
            if isinstance(value, str) and not isinstance(current, str):
                try:
                    value = parse_value(value, current)
                except ValueError as e:
                    kind = _kind(current)
                    raise ValueError(f"{key}={value!r}: expected {kind}" if kind else f"{key}: {e}") from None
            converted[key] = value
        return replace(self, **converted)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def with_saved(self, saved: Mapping[str, Any]) -> Profile:
        """This profile with the hyper-parameters a checkpoint recorded (``to_dict`` output)."""
        return self.with_overrides(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items()})


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULERS = ("onecycle", "cosine", "triangle")
PRECISIONS = ("fp32", "bf16", "auto")


def _whole(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _kind(like: Any) -> str:
    if isinstance(like, bool):
        return "true or false"
    if isinstance(like, int):
        return "a whole number"
    if isinstance(like, float):
        return "a number"
    if isinstance(like, tuple):
        return "numbers separated by '/' (e.g. 0.9/0.999)"
    return ""


def parse_entry(text: str, like: Any) -> Any:
    """Command-line text as the value of a mapping's entry: the kind of the entry it replaces, else a JSON literal
    (``true``, ``0.5``, ``[0.35, 1.0]``), else the text itself."""
    if isinstance(like, str):
        return text
    if like is not None and not isinstance(like, (list, dict)):
        return parse_value(text, like)
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_value(text: str, like: Any) -> Any:
    """Command-line text as a value of ``like``'s kind (bool, int, float, a '/'-separated tuple, or text)."""
    if isinstance(like, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    if isinstance(like, tuple):
        return tuple(float(v) for v in text.split("/"))
    if like is None:
        return None if text.lower() in ("none", "") else text
    raise ValueError(f"cannot set this hyper-parameter from the command line ({text!r})")


@dataclass(frozen=True)
class RunStart:
    """What a recipe decides when a fresh run starts, from what the machine has (see :attr:`Recipe.start`)."""

    model_kwargs: Mapping[str, Any]
    preprocessing: Mapping[str, Any] | None = None
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""  # said to the user and kept in the run's record


@dataclass(frozen=True)
class Recipe:
    """A model, a dataset, a task step and its profiles."""

    name: str
    model: str
    step: str
    dataset: str
    description: str
    source: str
    profiles: Mapping[str, Profile]
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: Mapping[str, Any] | None = None
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    alt_datasets: tuple[str, ...] = ()
    variants: tuple[Mapping[str, Any], ...] = ()  # run as a comparison (one run per variant)
    target: str = ""
    #: The profile ``zoo-train NAME`` runs: ``seed`` unless the tutorial's hyper-parameters do not learn
    #: (or the tutorial gave none for this model); then ``departure`` says why.
    default: str = "seed"
    departure: str = ""
    #: Called with the run's model arguments when a fresh run starts: settings that depend on the machine (the
    #: pretrained weights a recipe starts from, where they cannot be downloaded). A resumed run keeps its own.
    start: Callable[[Mapping[str, Any]], RunStart] | None = None

    def check_dataset(self, name: str) -> None:
        """Refuse a dataset this recipe's model cannot read (another shape, other classes)."""
        if name != self.dataset and name not in self.alt_datasets:
            allowed = ", ".join((self.dataset, *self.alt_datasets))
            raise ValueError(f"{self.name} uses {allowed}; --dataset {name} does not fit it")

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ValueError(f"{self.name} has no profile {name!r}; it has: {', '.join(self.profiles)}") from None


def decide_start(recipe: Recipe, model_kwargs: Mapping[str, Any]) -> RunStart | None:
    """What ``recipe`` decides for a fresh run on this machine (:attr:`Recipe.start`), given the run's own model
    arguments; None where it decides nothing."""
    return None if recipe.start is None else recipe.start({**recipe.model_kwargs, **model_kwargs})


RECIPES: dict[str, Recipe] = {}
#: The MNIST recipes also train on scikit-learn's 8x8 digits (upscaled), which need no download.
MNIST_ALT = ("digits",)


def register(recipe: Recipe) -> Recipe:
    if recipe.name in RECIPES:
        raise ValueError(f"duplicate recipe {recipe.name}")
    if recipe.default not in recipe.profiles:
        raise ValueError(f"{recipe.name}: default profile {recipe.default!r} is not one of its profiles")
    if recipe.default != "seed" and not recipe.departure:
        raise ValueError(f"{recipe.name}: a default other than the seed profile needs a departure note")
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise unknown_name("recipe", name, RECIPES, "zoo-train --list") from None


def list_recipes() -> list[str]:
    return sorted(RECIPES)
