"""One trial of a sweep or a search: a recipe's run with some hyper-parameters and model arguments set.

Parameters are named as on the command line: a profile field (``lr``, ``batch_size``) or ``model.ARG`` (a builder
argument); ``label`` names a recipe variant and sets nothing. Values may be text (``"1e-3"``, ``"true"``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .engine import TrainConfig, Trainer
from .recipes import Recipe, get_recipe, parse_value

MODEL_PREFIX = "model."


def model_arguments(recipe: Recipe) -> dict[str, Any]:
    """The builder arguments of the recipe's model, with the values the recipe builds it with."""
    import zoo

    return {**zoo.get_spec(recipe.model).default_kwargs, **recipe.model_kwargs}


def convert_model_arg(recipe: Recipe, key: str, value: Any) -> Any:
    """A model argument as its builder takes it (text is read like the argument's value); ValueError naming it."""
    known = model_arguments(recipe)
    if key not in known:
        raise ValueError(f"{recipe.model} has no argument {key!r}; it has: {', '.join(known) or 'none'}")
    if not isinstance(value, str):
        return value
    try:
        return parse_value(value, known[key])
    except ValueError as e:
        raise ValueError(f"model argument {key}={value}: {e}") from None


def split_params(
    recipe: Recipe, profile_name: str | None, base_overrides: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(profile overrides, model arguments) of ``params``, each converted and checked (ValueError naming a bad one)."""
    fields = {k: v for k, v in params.items() if k != "label" and not k.startswith(MODEL_PREFIX)}
    profile = recipe.profile(profile_name or recipe.default).with_overrides(**{**base_overrides, **fields})
    model_kwargs = {
        k.removeprefix(MODEL_PREFIX): convert_model_arg(recipe, k.removeprefix(MODEL_PREFIX), v)
        for k, v in params.items()
        if k.startswith(MODEL_PREFIX)
    }
    return {k: getattr(profile, k) for k in fields}, model_kwargs


def trial_config(base: TrainConfig, params: Mapping[str, Any], out: Path, **changes: Any) -> TrainConfig:
    """``base`` with ``params`` set on top of its own overrides and model arguments, writing into ``out``."""
    overrides, model_kwargs = split_params(get_recipe(base.recipe), base.profile, base.overrides, params)
    return replace(
        base,
        overrides={**base.overrides, **overrides},
        model_kwargs={**base.model_kwargs, **model_kwargs},
        out=out,
        **changes,
    )


class TrialRunner:
    """Runs the trials of one base configuration (a sweep's, a search worker's), reading the dataset once."""

    def __init__(self, base: TrainConfig, log: Callable[[str], None] | None = None) -> None:
        self.base = base
        self.data = base.data
        self.log = log

    def run_trial(
        self, params: Mapping[str, Any], out: Path, on_eval: Callable[[dict[str, Any]], None] | None = None
    ) -> tuple[dict[str, Any], Trainer]:
        """Train with ``params`` into ``out``; (summary, trainer). ``on_eval`` sees each evaluation (a search
        prunes there by raising); whatever happens, later trials reuse the dataset this one read."""
        cfg = trial_config(self.base, params, out, data=self.data, on_eval=on_eval or self.base.on_eval)
        trainer = Trainer(cfg, log=self.log)
        try:
            return trainer.fit(), trainer
        finally:
            self.data = getattr(trainer, "data", self.data)
