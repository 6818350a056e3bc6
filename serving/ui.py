"""``zoo-serve ui``: a browser playground for a running server (either engine), one tab per served model.

The page is a Gradio app on 127.0.0.1 that talks to the inference endpoints only through the project's own
:class:`~serving.client.Client` (the access key stays in this process, never in the browser). What each tab
offers comes from what the server says it serves (TorchServe's describe answer; for the KServe engine its
v2 metadata plus the archive it serves). Telemetry and share links are off: nothing leaves the machine.
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

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
        return {"ImageClassifierHandler": "classify", "GeneratorHandler": "generate", "AutoencoderHandler": "reconstruct",
                "TaggerHandler": "tag", "LanguageModelHandler": "next_words", "QNetworkHandler": "q_values"}.get(
                    self.handler, "tensors")


def _archive_info(store: Path, name: str) -> dict[str, Any]:
    """What a zoo archive says of itself (the KServe engine's metadata has no task or labels)."""
    with zipfile.ZipFile(store / f"{name}.mar") as archive:
        record = json.loads(archive.read("export.json"))
        serving = json.loads(archive.read("serving.json"))
    from handlers.tasks import handler_class

    part = record["parts"][serving["part"]]
    return {"task": record["model"]["task"], "labels": record.get("labels"), "preprocessing": record.get("preprocessing"),
            "inputs": part["inputs"], "runtime": serving["runtime"], "weights": record.get("weights"),
            "handler": handler_class(record["model"]["task"], {"name": serving["part"]}).__name__}


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
    """The page's functions: each calls the endpoint and returns what the page shows, never raising."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.info, self.models = served_models(self.run_dir)
        self.engine = self.info.get("engine", "torchserve")
        self.client = Client.from_run_dir(self.run_dir)

    def by_name(self, name: str) -> ServedModel:
        return next(m for m in self.models if m.name == name)

    def call(self, model: ServedModel, payload: Any, content_type: str | None = None) -> tuple[Any, str]:
        """(answer or None, a status line: latency, engine, runtime, or the server's own error message)."""
        try:
            code, body, seconds = self.client.predict(model.name, payload, content_type)
        except OSError as e:
            return None, f"**The server did not answer** ({e.__class__.__name__}: {e}). Is it running? `zoo-serve status`"
        where = f"{self.engine}, {model.runtime or 'runtime ?'}"
        if code != 200:
            message = body.get("error") if isinstance(body, dict) else str(body)[:300]
            return None, f"**HTTP {code}** from {where}: {message}"
        return body, f"{seconds * 1000:.1f} ms round trip ({where})"

    # -- image classifiers
    def classify(self, name: str, sketch: Any, upload: Any, top_k: int = 5) -> tuple[dict[str, float], Any, str]:
        model = self.by_name(name)
        if upload is not None:
            png = png_bytes(np.asarray(upload))
        else:
            digit = sketch_to_digit(sketch) if sketch is not None else None
            if digit is None:
                return {}, None, "Draw a digit or upload an image first."
            png = png_bytes(digit)
        answer, line = self.call(model, {"image": base64.b64encode(png).decode(), "top_k": int(top_k)})
        if answer is None:
            return {}, None, line
        try:
            seen = imaging.denormalize(imaging.preprocess(imaging.decode_image(png), model.preprocessing), model.preprocessing)
            picture = (seen.transpose(1, 2, 0) * 255).astype(np.uint8).squeeze()
        except imaging.BadImage:
            picture = None
        return {p["label"]: p["probability"] for p in answer["predictions"]}, picture, line

    # -- generators
    def generate(self, name: str, n: int, seed: int) -> tuple[list[Any], str]:
        answer, line = self.call(self.by_name(name), {"n": int(n), "seed": int(seed)})
        if answer is None:
            return [], line
        return [_decode_png(p) for p in answer.get("images_png", [])], line

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
        if answer is None:
            return [], line
        return [_decode_png(p) for p in answer.get("images_png", [])], line

    # -- autoencoders
    def reconstruct(self, name: str, sketch: Any, upload: Any) -> tuple[Any, Any, str]:
        model = self.by_name(name)
        image = np.asarray(upload) if upload is not None else sketch_to_digit(sketch) if sketch is not None else None
        if image is None:
            return None, None, "Draw a digit or upload an image first."
        answer, line = self.call(model, {"image": base64.b64encode(png_bytes(image)).decode()})
        if answer is None:
            return None, None, line
        return image, _decode_png(answer["reconstruction_png"]), line + f"; code {np.round(answer['code'], 3).tolist()}"

    # -- text
    def tag(self, name: str, sentence: str) -> tuple[list[tuple[str, str]], str]:
        answer, line = self.call(self.by_name(name), {"sentence": sentence})
        if answer is None:
            return [], line
        return [(t["word"] + " ", t["tag"]) for t in answer["tags"]], line

    def next_words(self, name: str, context: str, length: int = 8) -> tuple[dict[str, float], str, str]:
        model = self.by_name(name)
        answer, line = self.call(model, {"context": context.split(), "top_k": 5})
        if answer is None:
            return {}, "", line
        words = context.split()
        for _ in range(int(length)):  # a greedy continuation, one endpoint call a word
            step, _ = self.call(model, {"context": words[-2:], "top_k": 1})
            if step is None:
                break
            words.append(step["predictions"][0]["word"])
        return {p["word"]: p["probability"] for p in answer["predictions"]}, " ".join(words), line

    # -- the Q-network
    def q_values(self, name: str, x: float, v: float, angle: float, omega: float) -> tuple[dict[str, float], str]:
        answer, line = self.call(self.by_name(name), {"state": [float(x), float(v), float(angle), float(omega)]})
        if answer is None:
            return {}, line
        labels = self.by_name(name).labels or ["left", "right"]
        return {f"{labels[i]} (Q={q:.3f})": float(i == answer["action"]) for i, q in enumerate(answer["q_values"])}, line

    def play(self, name: str, seed: int = 0, max_steps: int = 200) -> tuple[Any, str]:
        """One greedy CartPole-v1 episode, every action chosen by the endpoint; an animated GIF of it."""
        import gymnasium as gym
        from PIL import Image

        env = gym.make("CartPole-v1", render_mode="rgb_array")
        state, _ = env.reset(seed=int(seed))
        frames, total, line = [], 0.0, ""
        t0 = time.perf_counter()
        for _ in range(int(max_steps)):
            frames.append(Image.fromarray(env.render()).resize((300, 200)))
            answer, line = self.call(self.by_name(name), {"state": [float(s) for s in state]})
            if answer is None:
                env.close()
                return None, line
            state, reward, done, truncated, _ = env.step(int(answer["action"]))
            total += float(reward)
            if done or truncated:
                break
        env.close()
        path = self.run_dir / "ui" / f"episode-{int(seed)}.gif"
        path.parent.mkdir(parents=True, exist_ok=True)
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)
        return str(path), f"return {total:.0f} in {len(frames)} steps, {time.perf_counter() - t0:.1f} s ({line})"

    # -- any other tensors: a curve in, a curve out
    def tensors(self, name: str, request: str) -> tuple[Any, str]:
        try:
            payload = json.loads(request)
        except ValueError as e:
            return None, f"**Not JSON**: {e}"
        answer, line = self.call(self.by_name(name), payload, "application/json")
        if answer is None:
            return None, line
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
            shape = [max(int(d), 1) for i, d in enumerate(spec["shape"]) if i not in batch]  # one request: no batch axis
            values = np.zeros(shape)
            if len(shape) == 2 and shape[1] == 1:  # a sequence of scalars: one period of a sine
                values[:, 0] = np.sin(np.linspace(0, 2 * np.pi, shape[0]))
            request[spec["name"]] = values.round(3).tolist()
        return json.dumps(request)


def build(playground: Playground) -> Any:
    """The Gradio page: a tab per served model."""
    import gradio as gr

    with gr.Blocks(title="torch-model-zoo playground", analytics_enabled=False) as page:
        gr.Markdown(f"## torch-model-zoo playground\nServed by **{playground.engine}** at {playground.info.get('inference')}: "
                    + ", ".join(m.name for m in playground.models))
        for model in playground.models:
            name = gr.State(model.name)
            card = model.weights or {}
            with gr.Tab(model.name, elem_id=f"tab-{model.name}"):
                if card:
                    metric = (card.get("headline") or {}).get("metric")
                    gr.Markdown(f"`{card.get('name')}`: {metric} {card.get('metrics', {}).get(metric)} on "
                                f"{(card.get('dataset') or {}).get('split_description', '')}")
                status_line = gr.Markdown(elem_id=f"status-{model.name}")
                if model.kind in ("classify", "reconstruct"):
                    gray = int(model.preprocessing.get("channels", 3)) == 1
                    with gr.Row():
                        sketch = gr.Sketchpad(label="draw a digit", type="numpy", canvas_size=(280, 280),
                                              brush=gr.Brush(default_size=20, colors=["#000000"], color_mode="fixed"),
                                              visible=gray, elem_id=f"sketch-{model.name}")
                        upload = gr.Image(label="or upload an image", type="numpy", elem_id=f"upload-{model.name}")
                    button = gr.Button("Classify" if model.kind == "classify" else "Reconstruct", elem_id=f"run-{model.name}")
                    if model.kind == "classify":
                        top_k = gr.Slider(1, 10, value=5, step=1, label="top k")
                        with gr.Row():
                            labels = gr.Label(label="prediction", elem_id=f"label-{model.name}")
                            seen = gr.Image(label="what the model saw", height=140)
                        button.click(playground.classify, [name, sketch, upload, top_k], [labels, seen, status_line],
                                     api_name=f"classify_{_api(model.name)}", queue=False)
                    else:
                        with gr.Row():
                            original = gr.Image(label="input", height=140)
                            rebuilt = gr.Image(label="reconstruction", height=140)
                        button.click(playground.reconstruct, [name, sketch, upload], [original, rebuilt, status_line],
                                     api_name=f"reconstruct_{_api(model.name)}", queue=False)
                elif model.kind == "generate":
                    with gr.Row():
                        n = gr.Slider(1, 64, value=16, step=1, label="samples")
                        seed = gr.Number(value=0, precision=0, label="seed")
                    button = gr.Button("Sample", elem_id=f"run-{model.name}")
                    gallery = gr.Gallery(label="samples", columns=8, format="png", elem_id=f"gallery-{model.name}")
                    button.click(playground.generate, [name, n, seed], [gallery, status_line],
                                 api_name=f"generate_{_api(model.name)}", queue=False)
                    with gr.Row():
                        seed_a = gr.Number(value=1, precision=0, label="walk from seed")
                        seed_b = gr.Number(value=2, precision=0, label="to seed")
                        steps = gr.Slider(2, 16, value=8, step=1, label="steps")
                    walk = gr.Button("Walk between two latent points", elem_id=f"walk-{model.name}")
                    path = gr.Gallery(label="latent walk", columns=8, format="png", elem_id=f"walk-gallery-{model.name}")
                    walk.click(playground.walk, [name, seed_a, seed_b, steps], [path, status_line],
                               api_name=f"walk_{_api(model.name)}", queue=False)
                elif model.kind == "tag":
                    sentence = gr.Textbox(value="The quick brown fox jumps over the lazy dog .", label="sentence")
                    button = gr.Button("Tag", elem_id=f"run-{model.name}")
                    tagged = gr.HighlightedText(label="parts of speech")
                    button.click(playground.tag, [name, sentence], [tagged, status_line], api_name=f"tag_{_api(model.name)}", queue=False)
                elif model.kind == "next_words":
                    context = gr.Textbox(value="so gazed", label="context (the last two words count)")
                    length = gr.Slider(0, 30, value=8, step=1, label="words to continue")
                    button = gr.Button("Next words", elem_id=f"run-{model.name}")
                    with gr.Row():
                        nexts = gr.Label(label="next word")
                        continuation = gr.Textbox(label="greedy continuation")
                    button.click(playground.next_words, [name, context, length], [nexts, continuation, status_line],
                                 api_name=f"next_words_{_api(model.name)}", queue=False)
                elif model.kind == "q_values":
                    with gr.Row():
                        state = [gr.Number(value=0.0, label=s) for s in ("cart position", "cart velocity", "pole angle",
                                                                          "pole angular velocity")]
                    button = gr.Button("Q-values", elem_id=f"run-{model.name}")
                    action = gr.Label(label="action")
                    button.click(playground.q_values, [name, *state], [action, status_line],
                                 api_name=f"q_values_{_api(model.name)}", queue=False)
                    episode_seed = gr.Number(value=0, precision=0, label="episode seed")
                    play = gr.Button("Play one greedy episode through the endpoint")
                    movie = gr.Image(label="episode", type="filepath")
                    play.click(playground.play, [name, episode_seed], [movie, status_line], api_name=f"play_{_api(model.name)}", queue=False)
                else:
                    request = gr.Code(value=playground.example_request(model), language="json", label="request")
                    button = gr.Button("Run", elem_id=f"run-{model.name}")
                    curve = gr.Plot(label="outputs")
                    button.click(playground.tensors, [name, request], [curve, status_line],
                                 api_name=f"tensors_{_api(model.name)}", queue=False)
    return page


def _api(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def serve(run_dir: Path, port: int = 7860, block: bool = True, log: Callable[[str], None] = print) -> Any:
    """Start the page on 127.0.0.1:``port`` (no share link, no telemetry); return the Gradio app."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    playground = Playground(run_dir)
    page = build(playground)
    log(f"playground for {', '.join(m.name for m in playground.models)} at http://127.0.0.1:{port}")
    page.launch(server_name="127.0.0.1", server_port=port, share=False, prevent_thread_lock=not block, quiet=True,
                ssr_mode=False, mcp_server=False, footer_links=[], show_error=False)
    return page
