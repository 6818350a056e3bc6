"""The model registry: ``register_model``, ``get_model``, ``list_models``, ``get_spec``.

Modelled on torchvision's ``models/_api.py``: every architecture is a builder function
registered under a stable name together with a :class:`ModelSpec` that tells training,
export and serving what the model consumes and produces.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from .errors import unknown_name

__all__ = [
    "TensorSpec",
    "Part",
    "ModelSpec",
    "TASKS",
    "register_model",
    "get_model",
    "get_spec",
    "list_models",
    "count_parameters",
]

#: Task kinds a model can declare. Training picks its step, serving its handler, from these.
TASKS = (
    "image-classification",
    "autoencoder",
    "vae",
    "gan",
    "language-model",
    "tagging",
    "q-network",
    "sequence-regression",
    "regression",
    "classification",
)

Dim = int | str  # an int, or the name of a builder keyword whose value is the size


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor of a model part.

    ``shape`` is an example shape, batch first. An entry may name a builder keyword
    (``"num_classes"``) whose value fills it in. ``dynamic`` maps axis → axis name
    (``{0: "batch"}``); axes sharing a name must be equal. Integer inputs draw example
    values from ``[0, high)``, where ``high`` may also name a builder keyword.
    """

    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"
    dynamic: Mapping[int, str] = field(default_factory=lambda: {0: "batch"})
    high: Dim = 2

    def resolve(self, kwargs: Mapping[str, Any]) -> TensorSpec:
        """Return a copy with every keyword reference replaced by its value."""

        def value(d: Dim) -> int:
            return int(kwargs[d]) if isinstance(d, str) else d

        return replace(self, shape=tuple(value(d) for d in self.shape), high=value(self.high))

    @property
    def batch_axis(self) -> int | None:
        return next((axis for axis, name in self.dynamic.items() if name == "batch"), None)

    def sample_shape(self) -> tuple[Dim, ...]:
        """The shape of one sample: the example shape without its batch axis."""
        return tuple(d for i, d in enumerate(self.shape) if i != self.batch_axis)

    def concrete_shape(self, sizes: Mapping[str, int] | None = None) -> tuple[int, ...]:
        """The shape with dynamic axes set from ``sizes`` (axis name → size)."""
        sizes = sizes or {}
        return tuple(
            int(sizes.get(self.dynamic[i], d)) if i in self.dynamic else int(d) for i, d in enumerate(self.shape)
        )

    def example(self, sizes: Mapping[str, int] | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """A random tensor of this spec (shape from :meth:`concrete_shape`)."""
        shape = self.concrete_shape(sizes)
        if self.dtype == "int64":
            return torch.randint(0, int(self.high), shape, generator=generator, dtype=torch.int64)
        return torch.randn(shape, generator=generator, dtype=getattr(torch, self.dtype))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "dynamic_axes": {str(k): v for k, v in self.dynamic.items()},
        }


@dataclass(frozen=True)
class Part:
    """A deployable piece of a model: the whole model (``module=""``) or a submodule.

    A GAN has a ``generator`` and a ``discriminator`` part; a VAE adds ``encoder`` and
    ``decoder`` parts to its full ``model`` part. Export writes one artifact per part.
    """

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    module: str = ""

    def resolve(self, kwargs: Mapping[str, Any]) -> Part:
        return replace(
            self,
            inputs=tuple(t.resolve(kwargs) for t in self.inputs),
            outputs=tuple(t.resolve(kwargs) for t in self.outputs),
        )

    def get(self, model: nn.Module) -> nn.Module:
        """The module that implements this part."""
        return model.get_submodule(self.module) if self.module else model

    def example_inputs(self, sizes: Mapping[str, int] | None = None, seed: int = 0) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        return tuple(t.example(sizes, g) for t in self.inputs)

    def dynamic_names(self) -> list[str]:
        """Every dynamic axis name used by this part, in first-seen order."""
        names: list[str] = []
        for t in self.inputs + self.outputs:
            for n in t.dynamic.values():
                if n not in names:
                    names.append(n)
        return names

    def torch_export_dynamic_shapes(self, only: Iterable[str] | None = None) -> tuple[dict[int, Any], ...]:
        """``dynamic_shapes`` for :func:`torch.export.export`: one ``Dim`` per axis name.

        ``only`` keeps just these axis names dynamic (the others become static).
        """
        keep = set(self.dynamic_names() if only is None else only)
        dims = {n: torch.export.Dim(n, min=1, max=1 << 16) for n in self.dynamic_names() if n in keep}
        return tuple({axis: dims[n] for axis, n in t.dynamic.items() if n in dims} for t in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }


@dataclass(frozen=True)
class ModelSpec:
    """What training, export and serving need to know about a registered model."""

    name: str
    task: str
    builder: Callable[..., nn.Module]
    parts: tuple[Part, ...]
    source: str
    summary: str
    preprocessing: Mapping[str, Any] | None = None
    labels: tuple[str, ...] | None = None
    recipes: tuple[str, ...] = ()
    reference_params: Mapping[str, int] = field(default_factory=dict)
    reference_kwargs: Mapping[str, Any] = field(default_factory=dict)
    faithful: bool = True
    #: Builder arguments that only say which pretrained weights to start from (a backbone's), each with the module
    #: prefix those weights load under (``{"backbone_weights": "backbone."}``): rebuilding a trained model sets them
    #: to None, since its own tensors hold the backbone (no download, no second load).
    start_kwargs: Mapping[str, str] = field(default_factory=dict)

    def rebuild_kwargs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``kwargs`` of a trained build, without fetching what it started from."""
        return {k: (None if k in self.start_kwargs else v) for k, v in kwargs.items()}

    @property
    def default_kwargs(self) -> dict[str, Any]:
        """The builder's keyword arguments and their defaults."""
        return {
            p.name: p.default
            for p in inspect.signature(self.builder).parameters.values()
            if p.default is not inspect.Parameter.empty
        }

    def resolved(self, **kwargs: Any) -> ModelSpec:
        """The spec with shapes filled in for a build with these keyword arguments."""
        merged = {**self.default_kwargs, **kwargs}
        return replace(self, parts=tuple(p.resolve(merged) for p in self.parts))

    def at_image_size(self, height: int, width: int) -> ModelSpec:
        """The spec with every ``image`` input at ``height`` x ``width`` (a model fine-tuned at another size than
        its architecture's example: resnet18 on 64 px photos)."""

        def resize(t: TensorSpec) -> TensorSpec:
            return replace(t, shape=(*t.shape[:-2], height, width)) if t.name == "image" and len(t.shape) == 4 else t

        return replace(self, parts=tuple(replace(p, inputs=tuple(resize(t) for t in p.inputs)) for p in self.parts))

    def part(self, name: str) -> Part:
        for p in self.parts:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no part {name!r}; parts: {[p.name for p in self.parts]}")

    def to_dict(self) -> dict[str, Any]:
        spec = self.resolved()
        return {
            "name": self.name,
            "task": self.task,
            "source": self.source,
            "summary": self.summary,
            "faithful": self.faithful,
            "kwargs": _jsonable(self.default_kwargs),
            "parts": [p.to_dict() for p in spec.parts],
            "preprocessing": _jsonable(self.preprocessing),
            "labels": list(self.labels) if self.labels else None,
            "recipes": list(self.recipes),
            "reference_params": dict(self.reference_params),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    task: str,
    parts: Iterable[Part],
    source: str,
    preprocessing: Mapping[str, Any] | None = None,
    labels: Iterable[str] | None = None,
    recipes: Iterable[str] = (),
    reference_params: Mapping[str, int] | None = None,
    reference_kwargs: Mapping[str, Any] | None = None,
    faithful: bool = True,
    start_kwargs: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder function under ``name`` (decorator).

    ``reference_params`` maps part name to the parameter count the catalogue
    (``ZOO.md``) states for a build with ``reference_kwargs``; tests check it. ``start_kwargs`` maps the
    arguments that choose pretrained weights to start from (set to None when trained weights are loaded) to the
    module prefix those weights load under.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")

    def wrapper(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"a model is already registered as {name!r}")
        summary = (inspect.getdoc(builder) or "").split("\n\n")[0].replace("\n", " ")
        _REGISTRY[name] = ModelSpec(
            name=name,
            task=task,
            builder=builder,
            parts=tuple(parts),
            source=source,
            summary=summary,
            preprocessing=dict(preprocessing) if preprocessing else None,
            labels=tuple(labels) if labels else None,
            recipes=tuple(recipes),
            reference_params=dict(reference_params or {}),
            reference_kwargs=dict(reference_kwargs or {}),
            faithful=faithful,
            start_kwargs=dict(start_kwargs or {}),
        )
        return builder

    return wrapper


def _lookup(name: str) -> ModelSpec:
    _load_builtin_models()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise unknown_name("model", name, _REGISTRY, "zoo list") from None


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name`` (``ValueError`` if unknown)."""
    return _lookup(name)


def get_model(name: str, weights: Any = None, **kwargs: Any) -> nn.Module:
    """Build the model registered under ``name`` with builder keyword arguments ``kwargs``.

    ``weights`` loads trained weights (see :mod:`zoo.weights`): ``"DEFAULT"``, a tag (``"mnist"``), a full
    ``MODEL.TAG`` name or a :class:`~zoo.weights.Weights`; the model is then built with the card's arguments
    and returned in eval mode. ``None`` (the default) gives fresh random weights, as torchvision does. With
    weights and another ``num_classes`` than the card's, the trained backbone gets a fresh head of that size
    (timm's convention): ``get_model("resnet18", weights="resnet18.cifar10", num_classes=5)``.
    """
    spec = _lookup(name)
    unknown = set(kwargs) - set(spec.default_kwargs)
    if unknown:
        raise TypeError(
            f"{name} does not take {', '.join(sorted(unknown))}; "
            f"it takes: {', '.join(spec.default_kwargs) or 'no arguments'}"
        )
    if weights is None:
        return spec.builder(**kwargs)
    from .weights import load_into, model_kwargs_for, resolve_weights

    w = resolve_weights(name, weights)
    trained_classes = w.model_kwargs.get("num_classes", spec.default_kwargs.get("num_classes"))
    if "num_classes" in kwargs and kwargs["num_classes"] != trained_classes:
        # timm's convention: the trained backbone with a fresh head for the new class count
        from .heads import load_with_new_head

        rest = {k: v for k, v in kwargs.items() if k != "num_classes"}
        trained = spec.rebuild_kwargs(model_kwargs_for(w, rest, spec.default_kwargs))
        model = spec.builder(**{**trained, "num_classes": kwargs["num_classes"]})
        load_with_new_head(model, w.state_dict())
        return model.eval()
    return load_into(spec.builder(**spec.rebuild_kwargs(model_kwargs_for(w, kwargs, spec.default_kwargs))), w)


def list_models(task: str | None = None) -> list[str]:
    """Sorted registry names, optionally only those of one task kind."""
    _load_builtin_models()
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return sorted(n for n, s in _REGISTRY.items() if task is None or s.task == task)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _load_builtin_models() -> None:
    from . import models  # noqa: F401  (importing registers every built-in model)
