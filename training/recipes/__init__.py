"""Recipes: what ``zoo-train NAME`` runs. Each has the seed's hyper-parameters as its ``seed``
profile and, where a better recipe exists, a documented ``fast`` profile (never used unless asked).

One module per kind of task (``images``, ``generative``, ``sequences``, ``small``) registers its recipes; what a
recipe is lives in ``base``. Every public name is importable from ``training.recipes``.
"""

from __future__ import annotations

from . import generative, images, photos, sequences, small, speed  # noqa: F401  (each registers its recipes)
from .base import (
    OPTIMIZERS,
    PRECISIONS,
    RECIPES,
    SCHEDULERS,
    Profile,
    Recipe,
    RunStart,
    decide_start,
    get_recipe,
    list_recipes,
    parse_value,
    register,
)

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "RECIPES",
    "SCHEDULERS",
    "Profile",
    "Recipe",
    "RunStart",
    "decide_start",
    "get_recipe",
    "list_recipes",
    "parse_value",
    "register",
]
