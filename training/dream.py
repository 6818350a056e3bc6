"""Deep Dream (S3): gradient ascent on the input image to amplify what one layer of a trained network
responds to, over a pyramid of octaves so that patterns appear at several scales.

The network runs only up to the chosen layer, so images of any size work, also on models whose
classifier head expects a fixed input size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class _Reached(Exception):
    """Raised by the hook once the chosen layer has run: nothing after it is needed."""


@dataclass
class DreamResult:
    image: torch.Tensor  # (1, C, H, W), in the model's normalised input space
    layer: str
    activation_before: float  # mean squared activation of the layer on the input image
    activation_after: float  # the same on the dreamed image


def feature_layers(model: nn.Module) -> list[str]:
    """Names of the convolutional layers, in the order the model defines them (candidates for ``layer``)."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d))]


def default_layer(model: nn.Module) -> str:
    """A convolution two thirds of the way in: deep enough for shapes, shallow enough for detail."""
    layers = feature_layers(model)
    if not layers:
        raise ValueError("this model has no convolutional layer to dream on (Deep Dream needs an image network)")
    return layers[(2 * len(layers)) // 3 if len(layers) > 2 else len(layers) - 1]


def _activation(model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    captured: list[torch.Tensor] = []

    def hook(_m: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        captured.append(output)
        raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not captured:
        raise ValueError("the chosen layer did not run for this input")
    return captured[0]


def _octave_sizes(height: int, width: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    sizes = [(max(8, round(height / scale**i)), max(8, round(width / scale**i))) for i in range(octaves)]
    return sizes[::-1]  # smallest first


def dream(
    model: nn.Module,
    image: torch.Tensor,
    layer: str | None = None,
    *,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps: int = 20,
    lr: float = 0.02,
    jitter: int = 2,
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: Callable[[Iterator[int]], Iterator[int]] = iter,
) -> DreamResult:
    """Amplify ``layer``'s activations (mean square) in ``image`` (1, C, H, W, normalised).

    Each octave starts from the previous octave's result upscaled, plus the original image at that size;
    each step moves the image along its normalised gradient, with a random shift (``jitter`` pixels) so
    the patterns do not lock to the pixel grid. ``bounds`` (low, high per channel) keep pixels valid.
    """
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"expected one image of shape (1, C, H, W), got {tuple(image.shape)}")
    if octaves < 1 or steps < 1 or octave_scale <= 1:
        raise ValueError("octaves and steps must be >= 1 and octave_scale > 1")
    layer = layer or default_layer(model)
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        raise ValueError(f"no layer {layer!r}; convolutional layers: {', '.join(feature_layers(model)) or 'none'}")
    module = modules[layer]
    model = model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = float(_activation(model, module, image).pow(2).mean())
    base = image.detach()
    detail = torch.zeros_like(base)
    current = base
    sizes = _octave_sizes(base.shape[-2], base.shape[-1], octaves, octave_scale)
    for size in sizes:
        base_here = F.interpolate(base, size=size, mode="bilinear", align_corners=False)
        detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
        current = (base_here + detail).detach()
        for _ in progress(iter(range(steps))):
            dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
            shifted = torch.roll(current, (dy, dx), (-2, -1)).requires_grad_(True)
            objective = _activation(model, module, shifted).pow(2).mean()
            (grad,) = torch.autograd.grad(objective, shifted)
            step = lr * grad / grad.abs().mean().clamp(min=1e-8)
            current = torch.roll((shifted + step).detach(), (-dy, -dx), (-2, -1))
            if bounds is not None:
                current = torch.maximum(torch.minimum(current, bounds[1]), bounds[0])
        detail = current - base_here
    with torch.no_grad():
        after = float(_activation(model, module, current).pow(2).mean())
    return DreamResult(current.detach(), layer, before, after)
