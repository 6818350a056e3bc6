"""Thin task handlers on the shared base: images, generation, text, tagging, Q-values, tensors."""

from __future__ import annotations

import base64
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from . import imaging
from .base import RequestError, ZooHandler, decode_base64
from .validate import INT64_MAX, excerpt, integer, string

MAX_GENERATE = 64
MAX_WORDS = 256
MAX_WORD_CHARS = 64
MAX_TOP_K = 1000


class ImageInput(ZooHandler):
    """Images as raw PNG/JPEG bytes, ``{"image": base64}``, or ``{"data": pixels}`` (0-255, H x W or C x H x W)."""

    fields: tuple[str, ...] = ("image", "data", "invert")

    def parse(self, payload: Any) -> tuple[list[np.ndarray], dict[str, Any]]:
        pre = self.preprocessing
        invert = "auto"
        info: dict[str, Any] = {"top_k": 5}
        if payload in (b"", ""):
            raise RequestError("empty request: send PNG/JPEG bytes, or JSON with 'image' or 'data'")
        if isinstance(payload, str):
            raise RequestError(
                "a text body is not an image: send PNG/JPEG bytes (Content-Type: application/octet-stream "
                "or image/png), or JSON with 'image' (base64) or 'data' (pixels)"
            )
        if isinstance(payload, (bytes, bytearray)):
            image = self.decode(bytes(payload))
        else:
            obj = self.json_object(payload)
            if "top_k" in self.fields:
                info["top_k"] = integer(obj, "top_k", 5, 1, MAX_TOP_K)
            invert = string(obj, "invert", "auto", choices=("auto", "yes", "no")) or "auto"
            if ("image" in obj) == ("data" in obj):
                raise RequestError("send exactly one of 'image' (base64 PNG/JPEG) or 'data' (pixel array)", 422)
            if "image" in obj:
                image = self.decode(decode_base64(obj["image"], "image"))
            else:
                c, h, w = int(pre.get("channels", 1)), int(pre["height"]), int(pre["width"])
                shape = (h, w) if c == 1 and _depth(obj["data"]) == 2 else (c, h, w)
                pixels = self.array(obj["data"], "data", shape)
                if pixels.min() < 0 or pixels.max() > 255:
                    raise RequestError("'data' pixels must lie in 0..255", 422)
                return [imaging.normalize(pixels.reshape(c, h, w), pre)[None]], info
        return [imaging.preprocess(image, pre, invert)[None]], info

    def decode(self, data: bytes) -> Any:
        try:
            return imaging.decode_image(data)
        except imaging.BadImage as e:
            raise RequestError(str(e)) from None


class ImageClassifierHandler(ImageInput):
    """Image → top-k labels with probabilities."""

    fields = ImageInput.fields + ("top_k",)

    def respond(self, info: dict[str, Any], outputs: list[np.ndarray]) -> dict[str, Any]:
        probs = imaging.softmax(outputs[0][0].astype(np.float64))
        order = np.argsort(-probs)[: info["top_k"]]
        labels = self.labels or [str(i) for i in range(len(probs))]
        return {
            "model": self.model_name,
            "predictions": [{"label": labels[i], "index": int(i), "probability": float(probs[i])} for i in order],
        }


class AutoencoderHandler(ImageInput):
    """Image → its code and the reconstruction as a PNG (base64)."""

    def respond(self, info: dict[str, Any], outputs: list[np.ndarray]) -> dict[str, Any]:
        code, recon = outputs[0][0], outputs[1][0]
        return {
            "model": self.model_name,
            "code": code.reshape(-1).tolist(),
            "reconstruction_png": base64.b64encode(
                imaging.to_png(imaging.denormalize(recon, self.preprocessing))
            ).decode(),
        }


class GeneratorHandler(ZooHandler):
    """``{"n": k, "seed": s}`` → k generated samples: PNG images (GAN, DCGAN, VAE decoder) or vectors; or
    ``{"z": [[...], ...]}``: the samples of these latent points (a walk between two of them, say)."""

    fields = ("n", "seed", "z")

    def noise(self, n: int, seed: int) -> np.ndarray:
        dim = int(self.input_specs[0]["shape"][1])
        rng = np.random.default_rng(seed)
        if self.preprocessing.get("noise") == "uniform":
            return rng.uniform(-1.0, 1.0, (n, dim)).astype(np.float32)
        return rng.standard_normal((n, dim)).astype(np.float32)

    def parse(self, payload: Any) -> tuple[list[np.ndarray], dict[str, Any]]:
        obj = self.json_object({} if payload in (b"", "") else payload)
        if "z" in obj:
            if "n" in obj or "seed" in obj:
                raise RequestError("send either 'z' (latent points) or 'n' and 'seed', not both", 422)
            dim = int(self.input_specs[0]["shape"][1])
            z = self.array(obj["z"], "z", [None, dim])
            if not 1 <= len(z) <= MAX_GENERATE:
                raise RequestError(f"'z' holds {len(z)} latent points; send 1 to {MAX_GENERATE}", 422)
            return [np.ascontiguousarray(z, dtype=np.float32)], {"seed": None}
        n = integer(obj, "n", 1, 1, MAX_GENERATE) or 1
        seed = integer(obj, "seed", None, 0, INT64_MAX)
        if seed is None:
            seed = int(np.random.default_rng().integers(2**31))
        return [self.noise(n, seed)], {"seed": seed}

    def respond(self, info: dict[str, Any], outputs: list[np.ndarray]) -> dict[str, Any]:
        out = outputs[0]
        result: dict[str, Any] = {"model": self.model_name, "seed": info["seed"], "n": int(out.shape[0])}
        if out.ndim == 4:
            result["images_png"] = [
                base64.b64encode(imaging.to_png(imaging.denormalize(x, self.preprocessing))).decode() for x in out
            ]
        else:
            result["samples"] = out.tolist()
        return result


class LanguageModelHandler(ZooHandler):
    """Context words (``"so gazed"`` as text, or ``{"context": [...]}``) → top-k next words."""

    fields = ("context", "text", "top_k")

    def parse(self, payload: Any) -> tuple[list[np.ndarray], dict[str, Any]]:
        size = int(self.input_specs[0]["shape"][1])
        info = {"top_k": integer(payload, "top_k", 5, 1, MAX_TOP_K) if isinstance(payload, dict) else 5}
        words = self.words(payload, list_field="context", text_field="text", max_words=MAX_WORDS)
        if len(words) < size:
            raise RequestError(f"need at least {size} context words, got {len(words)}", 422)
        vocab = self.vocab_index
        context = words[-size:]
        unknown = [w for w in context if w not in vocab]
        if unknown:
            raise RequestError(
                f"word(s) not in the vocabulary ({len(vocab)} words): {', '.join(excerpt(w) for w in unknown[:5])}", 422
            )
        return [np.asarray([[vocab[w] for w in context]], dtype=np.int64)], info

    @cached_property
    def vocab_index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.meta["vocab"])}

    def respond(self, info: dict[str, Any], outputs: list[np.ndarray]) -> dict[str, Any]:
        probs = imaging.softmax(outputs[0][0].astype(np.float64))
        vocab = self.meta["vocab"]
        order = np.argsort(-probs)[: info["top_k"]]
        return {
            "model": self.model_name,
            "predictions": [{"word": vocab[i], "probability": float(probs[i])} for i in order],
        }


class TaggerHandler(ZooHandler):
    """A sentence (text, ``{"sentence": ...}`` or ``{"words": [...]}``) → (word, tag) pairs."""

    fields = ("sentence", "words")

    @cached_property
    def indices(self) -> tuple[dict[str, int], dict[str, int]]:
        """Word and character vocabularies as index lookups (unknown → 1, the UNK index)."""
        return ({w: i for i, w in enumerate(self.meta["words"])}, {c: i for i, c in enumerate(self.meta["chars"])})

    def parse(self, payload: Any) -> tuple[list[np.ndarray], dict[str, Any]]:
        words = self.words(payload, list_field="words", text_field="sentence", max_words=MAX_WORDS)
        if not words:
            raise RequestError("empty sentence", 422)
        w_index, c_index = self.indices
        lower = [w.lower() for w in words]
        ids = np.asarray([[w_index.get(w, 1) for w in lower]], dtype=np.int64)
        # A long word (a URL, an e-mail address) is tagged from its first MAX_WORD_CHARS characters: what is
        # computed stays bounded, what a person may write does not (the request's size is bounded elsewhere).
        read = [w[:MAX_WORD_CHARS] for w in lower]
        chars = np.zeros((1, len(words), max(len(w) for w in read)), dtype=np.int64)
        for j, w in enumerate(read):
            chars[0, j, : len(w)] = [c_index.get(c, 1) for c in w]
        return [ids, chars], {"words": words}

    def respond(self, info: dict[str, Any], outputs: list[np.ndarray]) -> dict[str, Any]:
        words = info["words"]
        probs = imaging.softmax(outputs[0][0].astype(np.float64))
        tags = self.labels or self.meta["tags"]
        answer = []
        for w, p in zip(words, probs):
            entry = {"word": w, "tag": tags[int(p.argmax())], "probability": float(p.max())}
            if len(w) > MAX_WORD_CHARS:
                entry["note"] = f"tagged from its first {MAX_WORD_CHARS} characters (the word has {len(w)})"
            answer.append(entry)
        return {"model": self.model_name, "tags": answer}


class QNetworkHandler(ZooHandler):
    """``{"state": [...]}`` → Q-values and the greedy action."""

    def respond(self, info: dict[str, Any], outputs: list[np.ndarray]) -> dict[str, Any]:
        q = outputs[0][0]
        action = int(q.argmax())
        labels = self.labels or [str(i) for i in range(len(q))]
        return {"model": self.model_name, "q_values": q.tolist(), "action": action, "label": labels[action]}


def _depth(value: Any) -> int:
    """How deeply the first elements of a nested array nest (the array's claimed rank)."""
    depth = 0
    while isinstance(value, list) and value and depth < 8:
        value, depth = value[0], depth + 1
    return depth


def handler_class(task: str, part: dict[str, Any]) -> type[ZooHandler]:
    """The handler for a model's task and the part being served."""
    name = part["name"]
    if task == "image-classification":
        return ImageClassifierHandler
    if task == "autoencoder" and name == "model":
        return AutoencoderHandler
    if name in ("generator", "decoder"):
        return GeneratorHandler
    if task == "language-model":
        return LanguageModelHandler
    if task == "tagging":
        return TaggerHandler
    if task == "q-network":
        return QNetworkHandler
    return ZooHandler


def load_handler(model_dir: str | Path, gpu_id: int | None = None) -> ZooHandler:
    """Build and set up the right handler for an unpacked archive (or any folder with serving.json)."""
    import json

    model_dir = Path(model_dir)
    serving = json.loads((model_dir / "serving.json").read_text())
    record = json.loads((model_dir / "export.json").read_text())
    handler = handler_class(record["model"]["task"], {"name": serving["part"]})()
    handler.setup(model_dir, gpu_id)
    handler.initialized = True
    return handler
