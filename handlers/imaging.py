"""Image decoding and preprocessing shared by the TorchServe handlers and ``zoo-predict``.

Self-contained (NumPy and Pillow only) so that it can ship inside a model archive.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

#: Refuse decompression bombs: 40 megapixels is far above any model input here.
MAX_PIXELS = 40_000_000


class BadImage(ValueError):
    """The bytes are not a usable image; the message says why."""


def decode_image(data: bytes) -> Image.Image:
    """Decode PNG/JPEG/... bytes fully (a truncated file fails here, not later)."""
    if not data:
        raise BadImage("empty image")
    try:
        with warnings.catch_warnings():  # Pillow warns past 89 MP on open; the header is checked here instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise BadImage(f"image too large ({img.width}x{img.height}); at most {MAX_PIXELS:,} pixels")
        img.load()
        return img
    except BadImage:
        raise
    except UnidentifiedImageError:
        raise BadImage("not an image Pillow can decode (send PNG or JPEG bytes)") from None
    except Image.DecompressionBombError as e:
        raise BadImage(str(e)) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImage(f"corrupt or truncated image ({e})") from None


def looks_inverted(gray: np.ndarray) -> bool:
    """True when the picture is dark ink on light paper (its border is bright)."""
    h, w = gray.shape
    border = int(gray[0].sum()) + int(gray[-1].sum()) + int(gray[:, 0].sum()) + int(gray[:, -1].sum())
    return border / (2 * (h + w)) > 127.0


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Any Pillow image as the model reads it: ``L`` (one channel) or ``RGB``.

    The camera's EXIF orientation is applied; 16-bit and 32-bit grey levels are scaled to 8 bits (Pillow's own
    conversion clips them to white); palette images with transparency go through RGBA as Pillow requires; CMYK,
    RGBA, LA, 1-bit and the rest convert as Pillow converts them (alpha dropped).
    """
    from PIL import ImageOps

    mode = "L" if channels == 1 else "RGB"
    img = ImageOps.exif_transpose(image) or image
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        wide = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I;16") or float(wide.max(initial=0)) > 255 else 255.0
        img = Image.fromarray(np.clip(wide / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("P", "PA") and "transparency" in img.info:  # Pillow converts these through RGBA
        img = img.convert("RGBA")
    return img if img.mode == mode else img.convert(mode)


def fit(image: Image.Image, pre: Mapping[str, Any]) -> np.ndarray:
    """PIL image → uint8 pixels (C, H, W) at the model's size, before normalisation.

    ``pre["crop"] == "center"`` resizes the shorter side to the model's size and cuts the centre (torchvision's
    ``Resize`` + ``CenterCrop``: photos keep their proportions); otherwise the whole picture is resized to
    ``height`` x ``width``. The photo-folder training cache stores exactly these pixels, so a served photo reads
    as it did in training.
    """
    channels = int(pre.get("channels", 3))
    img = to_mode(image, channels)
    width, height = int(pre["width"]), int(pre["height"])
    if pre.get("crop") == "center" and img.size != (width, height):
        scale = max(width / img.width, height / img.height)
        resized = (max(width, round(img.width * scale)), max(height, round(img.height * scale)))
        left, top = (resized[0] - width) // 2, (resized[1] - height) // 2
        box = (left / scale, top / scale, (left + width) / scale, (top + height) / scale)
        img = img.resize((width, height), Image.Resampling.BILINEAR, box=box, reducing_gap=None)
    elif img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(img)  # uint8 (H, W) or (H, W, 3)
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def preprocess(image: Image.Image, pre: Mapping[str, Any], invert: str = "auto") -> np.ndarray:
    """PIL image → float32 (C, H, W), resized (:func:`fit`) and normalised as ``pre`` says.

    ``pre``: ``{"height", "width", "channels", "mean", "std"}`` (the model's preprocessing; optional ``crop`` and
    ``invert``). ``invert`` (single-channel models): ``"auto"`` inverts dark-on-light pictures (a photo of a
    digit on paper) the way the seed's predict script does, ``"yes"``/``"no"`` force it. A model whose
    preprocessing says ``"invert": "no"`` (one fine-tuned on photos) is never inverted on a guess.
    """
    pixels = fit(image, pre)
    if int(pre.get("channels", 3)) == 1:
        if invert == "auto":
            invert = str(pre.get("invert", "auto"))
        if invert == "yes" or (invert == "auto" and looks_inverted(pixels[0])):
            pixels = 255 - pixels
    return normalize(pixels, pre)


@lru_cache(maxsize=16)
def _cached_stats(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1), np.asarray(std, dtype=np.float32).reshape(-1, 1, 1))


def _stats(pre: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    channels = int(pre.get("channels", 1))
    return _cached_stats(tuple(pre.get("mean", [0.0] * channels)), tuple(pre.get("std", [1.0] * channels)))


def normalize(pixels: np.ndarray, pre: Mapping[str, Any]) -> np.ndarray:
    """0-255 pixels (C, H, W) → the model's input: ``(pixels / 255 - mean) / std``, float32."""
    mean, std = _stats(pre)
    x = np.ascontiguousarray(pixels, dtype=np.float32) / np.float32(255.0)  # a new array: the input is kept
    x -= mean
    x /= std
    return x


def denormalize(x: np.ndarray, pre: Mapping[str, Any]) -> np.ndarray:
    """A model-space image (C, H, W) back to [0, 1] (the inverse of :func:`normalize`, clipped)."""
    mean, std = _stats(pre)
    return np.clip(x * std + mean, 0, 1)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def to_png(image: np.ndarray) -> bytes:
    """(C, H, W) or (H, W) floats in [0, 1] → PNG bytes."""
    array = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray((array * 255).round().astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def mnist_layout(ink: np.ndarray, threshold: float = 0.05, box: int = 20, size: int = 28) -> np.ndarray | None:
    """A digit laid out as MNIST's are: cropped to its ink (values above ``threshold`` times the brightest), scaled
    so that its longer side is ``box`` pixels (aspect kept, bilinear), placed in ``size`` x ``size`` with its centre
    of mass in the middle. ``ink``: bright strokes on a dark ground, any scale; the result keeps that scale
    (float32). None when there is no ink."""
    ink = np.asarray(ink, dtype=np.float32)
    peak = float(ink.max()) if ink.size else 0.0
    if peak <= 0:
        return None
    ys, xs = np.nonzero(ink > threshold * peak)
    if len(ys) == 0:
        return None
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = box / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = np.asarray(
        Image.fromarray(crop, mode="F").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32
    ).clip(0, peak)
    mass = max(float(small.sum()), 1e-12)
    cy = float((small.sum(1) * np.arange(h)).sum()) / mass
    cx = float((small.sum(0) * np.arange(w)).sum()) / mass
    top = min(max(round(size / 2 - cy), 0), size - h)
    left = min(max(round(size / 2 - cx), 0), size - w)
    canvas = np.zeros((size, size), np.float32)
    canvas[top : top + h, left : left + w] = small
    return canvas
