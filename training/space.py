"""The space of a search or sweep: ``FIELD=VALUES`` specs parsed, checked against the recipe and typed.

A space is ``FIELD=VALUES``: ``log:LOW:HIGH`` (log-uniform), ``LOW:HIGH`` (uniform; whole numbers for a whole-number
field) or ``V1,V2,...`` (a choice). FIELD is a profile field (``lr``, ``batch_size``, ``optimizer``, ...) or
``model.ARG`` (a builder argument).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.errors import ZooError

from .recipes import Profile, Recipe
from .trials import MODEL_PREFIX, convert_model_arg, model_arguments


class SearchError(ZooError):
    """A search that cannot start: a bad space, an unreachable storage, a study of another recipe."""


@dataclass(frozen=True)
class Dimension:
    """One searched field: ``kind`` is ``choice``, ``float`` or ``int``; ``log`` for a log scale."""

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SearchError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise SearchError(f"{what}: {text!r} is not a finite number")
    return value


def parse_space(specs: Sequence[str], *, grid: bool = False) -> dict[str, list[str]]:
    """``["lr=log:1e-4:1e-1,batch_size=32,64"]`` → ``{"lr": ["log:1e-4:1e-1"], "batch_size": ["32", "64"]}``: a comma
    followed by ``NAME=`` starts a field, other commas separate values (several flags may also be given)."""
    space: dict[str, list[str]] = {}
    flag = "--sweep" if grid else "--search"
    for spec in specs:
        current = None
        for token in spec.split(","):
            token = token.strip()
            if "=" in token:
                current, _, value = token.partition("=")
                current = current.strip()
                if not current:
                    raise SearchError(f"{flag} {spec!r}: a field name is missing before '='")
                if current in space:
                    raise SearchError(f"{flag}: {current} is given twice")
                space[current] = [value.strip()] if value.strip() else []
            elif current is None:
                raise SearchError(
                    f"{flag} expects FIELD=VALUES (e.g. lr=log:1e-4:1e-1 or batch_size=32,64); got {spec!r}"
                )
            elif token:
                space[current].append(token)
    for name, values in space.items():
        if not values:
            raise SearchError(f"{flag}: {name} has no values")
    return space


def dimensions(space: Mapping[str, list[str]], recipe: Recipe, profile: Profile, grid: bool = False) -> list[Dimension]:
    """Check every field against the recipe (it exists; each value is of its kind) and type the ranges."""
    fields = profile.to_dict()
    model_defaults = model_arguments(recipe)
    out = []
    for name, values in space.items():
        if name.startswith(MODEL_PREFIX):
            arg = name.removeprefix(MODEL_PREFIX)
            if arg not in model_defaults:
                raise SearchError(f"the model has no argument {arg!r}; it has: {', '.join(model_defaults) or 'none'}")
            like = model_defaults[arg]
        elif name in fields:
            like = getattr(profile, name)
        else:
            raise SearchError(
                f"{name} is not a field of this recipe; searchable: {', '.join(sorted(fields))}, or model.ARG"
            )
        ranged = len(values) == 1 and ":" in values[0]
        if ranged and grid:
            raise SearchError(f"--sweep {name}: a sweep lists values (v1,v2,...); a range ({values[0]}) needs --search")
        if not ranged:
            for value in values:  # every choice must convert to the field's kind
                try:
                    if name.startswith(MODEL_PREFIX):
                        convert_model_arg(recipe, name.removeprefix(MODEL_PREFIX), value)
                    else:
                        profile.with_overrides(**{name: value})
                except ValueError as e:
                    raise SearchError(str(e)) from None
            out.append(Dimension(name, "choice", tuple(values)))
            continue
        parts = values[0].split(":")
        log = parts[0] == "log"
        if log:
            parts = parts[1:]
        if len(parts) != 2:
            raise SearchError(f"{name}={values[0]}: a range is LOW:HIGH or log:LOW:HIGH")
        low, high = (_number(p, name) for p in parts)
        if isinstance(like, bool) or not isinstance(like, (int, float)):
            raise SearchError(f"{name} is not a number (it is {like!r}): list its choices instead of a range")
        if not low < high:
            raise SearchError(f"{name}={values[0]}: LOW must be below HIGH")
        if log and low <= 0:
            raise SearchError(f"{name}={values[0]}: a log range needs LOW > 0")
        kind = "int" if isinstance(like, int) else "float"
        if kind == "int" and not (low.is_integer() and high.is_integer()):
            raise SearchError(f"{name} is a whole number: its range needs whole ends, got {values[0]}")
        out.append(Dimension(name, kind, low=low, high=high, log=log))
    return out
