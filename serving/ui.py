"""``zoo-serve ui``: a browser playground for a running server (either engine), one tab per served model.

The page is a Gradio app on 127.0.0.1 that talks to the inference endpoints only through the project's own
:class:`~serving.client.Client` (the access key stays in this process, never in the browser). What each tab
offers comes from what the server says it serves (TorchServe's describe answer; for the KServe engine its
v2 metadata plus the archive it serves). Telemetry and share links are off: nothing leaves the machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .playground import (
    Playground,
    sketch_to_digit,
)

__all__ = ["Playground", "build", "serve", "sketch_to_digit"]


def build(playground: Playground) -> Any:
    """The Gradio page: a tab per served model."""
    import gradio as gr

    with gr.Blocks(title="torch-model-zoo playground", analytics_enabled=False) as page:
        gr.Markdown(
            f"## torch-model-zoo playground\nServed by **{playground.engine}** at {playground.info.get('inference')}: "
            + ", ".join(m.name for m in playground.models)
        )
        for model in playground.models:
            name = gr.State(model.name)
            card = model.weights or {}
            with gr.Tab(model.name, elem_id=f"tab-{model.name}"):
                if card:
                    metric = (card.get("headline") or {}).get("metric")
                    gr.Markdown(
                        f"`{card.get('name')}`: {metric} {card.get('metrics', {}).get(metric)} on "
                        f"{(card.get('dataset') or {}).get('split_description', '')}"
                    )
                status_line = gr.Markdown(elem_id=f"status-{model.name}")
                if model.kind in ("classify", "reconstruct"):
                    gray = int(model.preprocessing.get("channels", 3)) == 1
                    with gr.Row():
                        sketch = gr.Sketchpad(
                            label="draw a digit",
                            type="numpy",
                            canvas_size=(280, 280),
                            brush=gr.Brush(default_size=20, colors=["#000000"], color_mode="fixed"),
                            visible=gray,
                            elem_id=f"sketch-{model.name}",
                        )
                        upload = gr.File(
                            label="or upload an image (PNG, JPEG, ...)",
                            type="filepath",
                            file_types=["image"],
                            elem_id=f"upload-{model.name}",
                        )
                    button = gr.Button(
                        "Classify" if model.kind == "classify" else "Reconstruct", elem_id=f"run-{model.name}"
                    )
                    if model.kind == "classify":
                        top_k = gr.Slider(1, 10, value=5, step=1, label="top k")
                        with gr.Row():
                            labels = gr.Label(label="prediction", elem_id=f"label-{model.name}")
                            seen = gr.Image(label="what the model saw", height=140, type="filepath")
                        button.click(
                            playground.classify,
                            [name, sketch, upload, top_k],
                            [labels, seen, status_line],
                            api_name=f"classify_{_api(model.name)}",
                            concurrency_limit=None,
                        )
                    else:
                        with gr.Row():
                            original = gr.Image(label="input", height=140, type="filepath")
                            rebuilt = gr.Image(label="reconstruction", height=140, type="filepath")
                        button.click(
                            playground.reconstruct,
                            [name, sketch, upload],
                            [original, rebuilt, status_line],
                            api_name=f"reconstruct_{_api(model.name)}",
                            concurrency_limit=None,
                        )
                elif model.kind == "generate":
                    with gr.Row():
                        n = gr.Slider(1, 64, value=16, step=1, label="samples")
                        seed = gr.Number(value=0, precision=0, label="seed")
                    button = gr.Button("Sample", elem_id=f"run-{model.name}")
                    gallery = gr.Gallery(label="samples", columns=8, format="png", elem_id=f"gallery-{model.name}")
                    button.click(
                        playground.generate,
                        [name, n, seed],
                        [gallery, status_line],
                        api_name=f"generate_{_api(model.name)}",
                        concurrency_limit=None,
                    )
                    with gr.Row():
                        seed_a = gr.Number(value=1, precision=0, label="walk from seed")
                        seed_b = gr.Number(value=2, precision=0, label="to seed")
                        steps = gr.Slider(2, 16, value=8, step=1, label="steps")
                    walk = gr.Button("Walk between two latent points", elem_id=f"walk-{model.name}")
                    path = gr.Gallery(
                        label="latent walk", columns=8, format="png", elem_id=f"walk-gallery-{model.name}"
                    )
                    walk.click(
                        playground.walk,
                        [name, seed_a, seed_b, steps],
                        [path, status_line],
                        api_name=f"walk_{_api(model.name)}",
                        concurrency_limit=None,
                    )
                elif model.kind == "tag":
                    sentence = gr.Textbox(value="The quick brown fox jumps over the lazy dog .", label="sentence")
                    button = gr.Button("Tag", elem_id=f"run-{model.name}")
                    tagged = gr.HighlightedText(label="parts of speech")
                    button.click(
                        playground.tag,
                        [name, sentence],
                        [tagged, status_line],
                        api_name=f"tag_{_api(model.name)}",
                        concurrency_limit=None,
                    )
                elif model.kind == "next_words":
                    context = gr.Textbox(value="so gazed", label="context (the last two words count)")
                    length = gr.Slider(0, 30, value=8, step=1, label="words to continue")
                    button = gr.Button("Next words", elem_id=f"run-{model.name}")
                    with gr.Row():
                        nexts = gr.Label(label="next word")
                        continuation = gr.Textbox(label="greedy continuation")
                    button.click(
                        _with_progress(playground.next_words),
                        [name, context, length],
                        [nexts, continuation, status_line],
                        api_name=f"next_words_{_api(model.name)}",
                        concurrency_limit=LONG_EVENTS,
                        concurrency_id="long",
                    )
                elif model.kind == "q_values":
                    with gr.Row():
                        state = [
                            gr.Number(value=0.0, label=s)
                            for s in ("cart position", "cart velocity", "pole angle", "pole angular velocity")
                        ]
                    button = gr.Button("Q-values", elem_id=f"run-{model.name}")
                    action = gr.Label(label="action")
                    button.click(
                        playground.q_values,
                        [name, *state],
                        [action, status_line],
                        api_name=f"q_values_{_api(model.name)}",
                        concurrency_limit=None,
                    )
                    episode_seed = gr.Number(value=0, precision=0, label="episode seed")
                    play = gr.Button("Play one greedy episode through the endpoint")
                    movie = gr.Image(label="episode", type="filepath")
                    play.click(
                        _with_progress(playground.play),
                        [name, episode_seed],
                        [movie, status_line],
                        api_name=f"play_{_api(model.name)}",
                        concurrency_limit=LONG_EVENTS,
                        concurrency_id="long",
                    )
                else:
                    request = gr.Code(value=playground.example_request(model), language="json", label="request")
                    button = gr.Button("Run", elem_id=f"run-{model.name}")
                    curve = gr.Plot(label="outputs")
                    button.click(
                        playground.tensors,
                        [name, request],
                        [curve, status_line],
                        api_name=f"tensors_{_api(model.name)}",
                        concurrency_limit=None,
                    )
    return page


#: Every event runs through Gradio's queue (only queued events show a ``gr.Error``'s message to the user): the
#: one-call events with no limit of their own, those that call the endpoint many times (a CartPole episode: up to
#: 200 calls) at most this many at once, showing their progress.
LONG_EVENTS = 2


def _with_progress(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` as a Gradio event function that reports its progress (Gradio injects ``gr.Progress``)."""
    import gradio as gr

    def event(*args: Any, progress: Any = gr.Progress()) -> Any:
        return method(*args, progress=progress)

    event.__name__ = event.__qualname__ = method.__name__  # not functools.wraps: Gradio must see this signature
    event.__doc__ = method.__doc__
    return event


def _api(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def serve(run_dir: Path, port: int = 7860, block: bool = True, log: Callable[[str], None] = print) -> Any:
    """Start the page on 127.0.0.1:``port`` (no share link, no telemetry); return the Gradio app."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    playground = Playground(run_dir)
    page = build(playground)
    log(f"playground for {', '.join(m.name for m in playground.models)} at http://127.0.0.1:{port}")
    page.launch(
        server_name="127.0.0.1",
        server_port=port,
        share=False,
        prevent_thread_lock=not block,
        quiet=True,
        ssr_mode=False,
        mcp_server=False,
        footer_links=[],
        show_error=False,
    )
    return page
