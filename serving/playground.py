"""The playground's logic, apart from its page (:mod:`.ui`): which models a running server serves and what each
kind of model is asked, uploads read safely, result files kept briefly, and one call per tab through the project's
:class:`~serving.client.Client`."""

from __future__ import annotations

import base64
import io
import itertools
import json
import os
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from handlers import imaging

from .client import Client
from .demo import png_bytes
from .server import status

#: Per-tab function names (``api_name``), so that gradio_client can call each tab as the page does.
KINDS = ("classify", "generate", "reconstruct", "tag", "next_words", "q_values", "tensors")


class ServedModel:
    """One model as the page sees it: name, task, labels, preprocessing, inputs, card."""

    def __init__(self, name: str, info: dict[str, Any]) -> None:
        self.name = name
        self.task = info.get("task", "")
        self.handler = info.get("handler", "")
        self.labels = info.get("labels")
        self.preprocessing = info.get("preprocessing") or {}
        self.inputs = info.get("inputs") or []
        self.runtime = info.get("runtime", "")
        self.weights = info.get("weights")

    @property
    def kind(self) -> str:
        return {
            "ImageClassifierHandler": "classify",
            "GeneratorHandler": "generate",
            "AutoencoderHandler": "reconstruct",
            "TaggerHandler": "tag",
            "LanguageModelHandler": "next_words",
            "QNetworkHandler": "q_values",
        }.get(self.handler, "tensors")


def _archive_info(store: Path, name: str) -> dict[str, Any]:
    """What a zoo archive says of itself (the KServe engine's metadata has no task or labels)."""
    with zipfile.ZipFile(store / f"{name}.mar") as archive:
        record = json.loads(archive.read("export.json"))
        serving = json.loads(archive.read("serving.json"))
    from handlers.tasks import handler_class

    part = record["parts"][serving["part"]]
    return {
        "task": record["model"]["task"],
        "labels": record.get("labels"),
        "preprocessing": record.get("preprocessing"),
        "inputs": part["inputs"],
        "runtime": serving["runtime"],
        "weights": record.get("weights"),
        "handler": handler_class(record["model"]["task"], {"name": serving["part"]}).__name__,
    }


def served_models(run_dir: Path) -> tuple[dict[str, Any], list[ServedModel]]:
    """The server's state and its models, as the server describes them."""
    info = status(run_dir)
    if not info.get("running"):
        raise RuntimeError(f"no server is running from {run_dir}: start one with `zoo-serve start` first")
    state = json.loads((Path(info["run_dir"]) / "server.json").read_text())
    models = []
    for name, described in info.get("models", {}).items():
        if info.get("engine") == "kserve" or "handler" not in described:
            described = {**described, **_archive_info(Path(state["store"]), name)}
        models.append(ServedModel(name, described))
    return info, models


class PlaygroundError(Exception):
    """A failure the page shows as it is (raised as ``gr.Error``, which Gradio shows even with show_error off)."""


def fail(message: str) -> PlaygroundError:
    """The error to raise for ``message``: Gradio's own ``gr.Error`` where Gradio is installed."""
    try:
        import gradio as gr
    except ImportError:  # pragma: no cover - the page itself needs gradio
        return PlaygroundError(message)
    return gr.Error(message, print_exception=False)


#: The largest upload the page reads (the endpoints refuse larger requests anyway).
MAX_UPLOAD_BYTES = 8 * 2**20


def read_upload(path: Any) -> tuple[bytes, Any]:
    """An uploaded file's bytes and its decoded picture, refused (by size, then by the header's pixel count,
    before anything is decoded) with a message that says what to fix."""
    from handlers.imaging import BadImage, decode_image

    file = Path(str(path))
    size = file.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise fail(
            f"{file.name}: {size / 2**20:.1f} MB is more than the {MAX_UPLOAD_BYTES // 2**20} MB the page "
            "reads; send a smaller image"
        )
    data = file.read_bytes()
    try:
        return data, decode_image(data)
    except BadImage as e:
        raise fail(f"{file.name}: {e}") from None


class ResultFiles:
    """Pictures the page returns, each written once under a name of its own and with bytes of its own (a
    request id in the PNG), so that Gradio never rewrites a file another request is streaming. Files older
    than ``keep_s`` are removed as new ones are written."""

    def __init__(self, folder: Path, keep_s: float = 600.0) -> None:
        self.folder, self.keep_s = folder, keep_s
        self._count = itertools.count()
        self._pruned_at = 0.0

    def _path(self, suffix: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        if now - self._pruned_at > min(30.0, self.keep_s):  # not a folder scan per picture
            self._pruned_at = now
            for old in self.folder.glob("r-*"):
                try:
                    if now - old.stat().st_mtime > self.keep_s:
                        old.unlink()
                except FileNotFoundError:
                    pass
        return self.folder / f"r-{os.getpid()}-{next(self._count)}-{uuid.uuid4().hex[:12]}{suffix}"

    def png(self, picture: Any) -> str:
        from PIL import Image, PngImagePlugin

        image = picture if isinstance(picture, Image.Image) else Image.fromarray(np.asarray(picture))
        path = self._path(".png")
        info = PngImagePlugin.PngInfo()
        info.add_text("request", path.stem)
        tmp = path.with_suffix(".tmp")
        image.save(tmp, format="PNG", pnginfo=info)
        os.replace(tmp, path)
        return str(path)

    def gif(self, frames: list[Any], duration_ms: int) -> str:
        path = self._path(".gif")
        tmp = path.with_suffix(".tmp")
        frames[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=duration_ms,
            loop=0,
            comment=path.stem.encode(),
        )
        os.replace(tmp, path)
        return str(path)


def _decode_png(text: str) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(text))).convert("RGB")


def sketch_to_digit(value: Any) -> np.ndarray | None:
    """A sketchpad drawing (dark strokes on a light canvas, any size) → a 28x28 white-on-black digit laid out as
    MNIST's (:func:`handlers.imaging.mnist_layout`). None for an empty canvas."""
    composite = value.get("composite") if isinstance(value, dict) else value
    if composite is None:
        return None
    array = np.asarray(composite)
    if array.ndim == 3 and array.shape[2] == 4:  # RGBA: strokes over a transparent or white canvas
        rgb = array[..., :3].astype(np.float32)
        alpha = array[..., 3:4].astype(np.float32) / 255
        array = (rgb * alpha + 255 * (1 - alpha)).mean(axis=2)
    elif array.ndim == 3:
        array = array[..., :3].mean(axis=2)
    digit = imaging.mnist_layout(255 - array.astype(np.float32), threshold=40 / 255)
    if digit is None:
        return None
    return (digit / max(float(digit.max()), 1.0) * 255).astype(np.uint8)


class Playground:
    """The page's functions: each calls the endpoint and returns what the page shows; any failure (a bad upload,
    a refusal by the server, a server that is gone) raises ``gr.Error`` with a message that says what to fix."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.info, self.models = served_models(self.run_dir)
        self.engine = self.info.get("engine", "torchserve")
        self.client = Client.from_run_dir(self.run_dir)  # where to connect; each thread gets its own connection
        self.files = ResultFiles(self.run_dir / "ui")
        self._local = threading.local()

    def connection(self) -> Client:
        """This thread's client (an HTTP connection serves one request at a time; Gradio runs events in threads)."""
        mine = getattr(self._local, "client", None)
        if mine is None or getattr(self._local, "like", None) is not self.client:
            c = self.client
            mine = self._local.client = Client(c.host, c.port, c.token, c.engine)
            self._local.like = c
        return mine

    def by_name(self, name: str) -> ServedModel:
        return next(m for m in self.models if m.name == name)

    def call(self, model: ServedModel, payload: Any, content_type: str | None = None) -> tuple[Any, str]:
        """(answer, a status line: latency, engine, runtime); raises with the server's own message on a refusal."""
        try:
            code, body, seconds = self.connection().predict(model.name, payload, content_type)
        except OSError as e:
            raise fail(
                f"The server did not answer ({e.__class__.__name__}: {e}). Is it running? `zoo-serve status`"
            ) from None
        where = f"{self.engine}, {model.runtime or 'runtime ?'}"
        if code != 200:
            message = body.get("error") if isinstance(body, dict) else str(body)[:300]
            raise fail(f"HTTP {code} from {where}: {message}")
        return body, f"{seconds * 1000:.1f} ms round trip ({where})"

    # -- image classifiers
    def _image(self, sketch: Any, upload: Any) -> tuple[bytes, Any]:
        """The request's image bytes and picture: an upload (checked before it is decoded), else the drawing."""
        if upload is not None:
            return read_upload(upload)
        from PIL import Image

        digit = sketch_to_digit(sketch) if sketch is not None else None
        if digit is None:
            raise fail("Draw a digit or upload an image first.")
        return png_bytes(digit), Image.fromarray(digit)

    def classify(self, name: str, sketch: Any, upload: Any, top_k: int = 5) -> tuple[dict[str, float], Any, str]:
        model = self.by_name(name)
        data, picture = self._image(sketch, upload)
        answer, line = self.call(model, {"image": base64.b64encode(data).decode(), "top_k": int(top_k)})
        seen = imaging.denormalize(imaging.preprocess(picture, model.preprocessing), model.preprocessing)
        shown = self.files.png((seen.transpose(1, 2, 0) * 255).astype(np.uint8).squeeze())
        return {p["label"]: p["probability"] for p in answer["predictions"]}, shown, line

    # -- generators
    def generate(self, name: str, n: int, seed: int) -> tuple[list[Any], str]:
        answer, line = self.call(self.by_name(name), {"n": int(n), "seed": int(seed)})
        return [self.files.png(_decode_png(p)) for p in answer.get("images_png", [])], line

    def walk(self, name: str, seed_a: int, seed_b: int, steps: int) -> tuple[list[Any], str]:
        """A straight walk between two latent points (drawn from the model's noise from two seeds), decoded by the
        endpoint in one request: the VAE's (or a GAN's) latent space, seen between two samples."""
        model = self.by_name(name)
        dim = int(model.inputs[0]["shape"][1])
        uniform = model.preprocessing.get("noise") == "uniform"

        def point(seed: int) -> np.ndarray:
            rng = np.random.default_rng(int(seed))
            return rng.uniform(-1, 1, dim) if uniform else rng.standard_normal(dim)

        a, b = point(seed_a), point(seed_b)
        path = [((1 - t) * a + t * b).round(6).tolist() for t in np.linspace(0, 1, int(steps))]
        answer, line = self.call(model, {"z": path})
        return [self.files.png(_decode_png(p)) for p in answer.get("images_png", [])], line

    # -- autoencoders
    def reconstruct(self, name: str, sketch: Any, upload: Any) -> tuple[Any, Any, str]:
        model = self.by_name(name)
        data, picture = self._image(sketch, upload)
        answer, line = self.call(model, {"image": base64.b64encode(data).decode()})
        return (
            self.files.png(picture),
            self.files.png(_decode_png(answer["reconstruction_png"])),
            line + f"; code {np.round(answer['code'], 3).tolist()}",
        )

    # -- text
    def tag(self, name: str, sentence: str) -> tuple[list[tuple[str, str]], str]:
        answer, line = self.call(self.by_name(name), {"sentence": sentence})
        return [(t["word"] + " ", t["tag"]) for t in answer["tags"]], line

    def next_words(
        self, name: str, context: str, length: int = 8, progress: Any = None
    ) -> tuple[dict[str, float], str, str]:
        model = self.by_name(name)
        answer, line = self.call(model, {"context": context.split(), "top_k": 5})
        words = context.split()
        for i in range(int(length)):  # a greedy continuation, one endpoint call a word
            if progress is not None:
                progress((i, int(length)), desc="continuing")
            step, _ = self.call(model, {"context": words[-2:], "top_k": 1})
            words.append(step["predictions"][0]["word"])
        return {p["word"]: p["probability"] for p in answer["predictions"]}, " ".join(words), line

    # -- the Q-network
    def q_values(self, name: str, x: float, v: float, angle: float, omega: float) -> tuple[dict[str, float], str]:
        answer, line = self.call(self.by_name(name), {"state": [float(x), float(v), float(angle), float(omega)]})
        labels = self.by_name(name).labels or ["left", "right"]
        return {
            f"{labels[i]} (Q={q:.3f})": float(i == answer["action"]) for i, q in enumerate(answer["q_values"])
        }, line

    def play(self, name: str, seed: int = 0, max_steps: int = 200, progress: Any = None) -> tuple[Any, str]:
        """One greedy CartPole-v1 episode, every action chosen by the endpoint; an animated GIF of it."""
        import gymnasium as gym
        from PIL import Image

        env = gym.make("CartPole-v1", render_mode="rgb_array")
        state, _ = env.reset(seed=int(seed))
        frames, total, line = [], 0.0, ""
        t0 = time.perf_counter()
        try:
            for step in range(int(max_steps)):
                if progress is not None:
                    progress((step, int(max_steps)), desc="playing")
                frames.append(Image.fromarray(np.asarray(env.render())).resize((300, 200)))
                answer, line = self.call(self.by_name(name), {"state": [float(s) for s in state]})
                state, reward, done, truncated, _ = env.step(int(answer["action"]))
                total += float(reward)
                if done or truncated:
                    break
        finally:
            env.close()
        path = self.files.gif(frames, 40)
        return path, f"return {total:.0f} in {len(frames)} steps, {time.perf_counter() - t0:.1f} s ({line})"

    # -- any other tensors: a curve in, a curve out
    def tensors(self, name: str, request: str) -> tuple[Any, str]:
        try:
            payload = json.loads(request)
        except ValueError as e:
            raise fail(f"Not JSON: {e}") from None
        answer, line = self.call(self.by_name(name), payload, "application/json")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 3))
        for key, value in answer.items():
            if isinstance(value, list):
                axes.plot(np.asarray(value, dtype=np.float64).reshape(-1), label=key)
        axes.legend()
        figure.tight_layout()
        return figure, line

    def example_request(self, model: ServedModel) -> str:
        """A request that fits the model's inputs: a sine wave along sequence axes, zeros elsewhere."""
        request = {}
        for spec in model.inputs:
            batch = [int(a) for a, n in (spec.get("dynamic_axes") or {}).items() if n == "batch"]
            shape = [
                max(int(d), 1) for i, d in enumerate(spec["shape"]) if i not in batch
            ]  # one request: no batch axis
            values = np.zeros(shape)
            if len(shape) == 2 and shape[1] == 1:  # a sequence of scalars: one period of a sine
                values[:, 0] = np.sin(np.linspace(0, 2 * np.pi, shape[0]))
            request[spec["name"]] = values.round(3).tolist()
        return json.dumps(request)
