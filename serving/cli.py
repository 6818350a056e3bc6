"""``zoo-serve``: archive exports, start/stop TorchServe, query it, and the end-to-end demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

import zoo
from export.cli import VIEWS_OPTION
from zoo.errors import ZooGroup
from zoo.weights import is_pretrained_source, is_weights_source

from .archive import RUNTIMES, ArchiveError, build_archive
from .client import Client
from .server import ENGINES, ServerConfig, ServingError, start, status, stop

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
RUN_DIR = click.option(
    "--run-dir",
    type=click.Path(path_type=Path),
    default=Path("runs/serve"),
    show_default=True,
    help="Where config, logs, PID file and the access key of this server live.",
)
RANDOM_WEIGHTS = click.option(
    "--random-weights", is_flag=True, help="A model name without trained weights: serve fresh random (seeded) weights."
)
STORE = click.option(
    "--store",
    type=click.Path(path_type=Path),
    default=Path("model_store"),
    show_default=True,
    help="Model store folder (the .mar files).",
)


@click.group(cls=ZooGroup, context_settings=CONTEXT)
@click.version_option(package_name="torch-model-zoo")
def main() -> None:
    """Serve zoo models over HTTP with TorchServe, or with KServe's model server (Open Inference Protocol).

    \b
    zoo-serve demo                                  shipped digit model → export → serve → query (--train: train first)
    zoo-serve start mnist-cnn                       serve a model's default trained weights (archived on the way)
    zoo-serve archive exports/mnist-cnn             export folder (or checkpoint) → model_store/mnist-cnn.mar
    zoo-serve start mnist-cnn --batch-size 8        TorchServe: loopback only, token auth on, management API off
    zoo-serve start mnist-cnn --engine kserve       KServe: v2 (REST + gRPC) and v1, loopback only, token auth on
    zoo-serve predict mnist-cnn digit.png           a client that finds the token (either engine)
    zoo-serve deploy mnist-cnn --out deploy/        container build context + KServe InferenceService manifest
    zoo-serve ui                                    a browser playground for the running server (the ui extra)
    zoo-serve status / zoo-serve stop
    """


@main.command("archive")
@click.argument("source")
@click.option(
    "--runtime",
    type=click.Choice(RUNTIMES),
    default="onnx",
    show_default=True,
    help="Which exported runtime the archive runs (onnx-int8: the int8 ONNX model, quantised and "
    "accuracy-checked first when the export has none; see `zoo-export --quantize`).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Dataset folder for int8 calibration (default $ZOO_DATA_DIR, else ./data).",
)
@click.option("--part", help="Which part to serve (default: generator for GANs, decoder for the VAE, else model).")
@click.option("--name", help="Archive/endpoint name (default: the model name, plus -PART for other parts).")
@STORE
@click.option(
    "--exports",
    type=click.Path(path_type=Path),
    default=Path("exports"),
    show_default=True,
    help="Where a checkpoint SOURCE is exported first.",
)
@RANDOM_WEIGHTS
@VIEWS_OPTION
def archive_cmd(
    source: str,
    runtime: str,
    data_dir: Path | None,
    part: str | None,
    name: str | None,
    store: Path,
    exports: Path,
    random_weights: bool,
    views: int,
) -> None:
    """Write STORE/NAME.mar from SOURCE: trained weights (mnist-cnn.mnist), a model name (its default trained
    weights), an export folder or a checkpoint."""
    info = build_archive(
        source,
        runtime,
        part,
        name,
        store,
        exports,
        log=lambda m: click.echo(m, err=True),
        random_weights=random_weights,
        data_dir=data_dir,
        views=views,
    )
    click.echo(json.dumps(info))


@main.command("start")
@click.argument("names", nargs=-1)
@RUN_DIR
@STORE
@click.option(
    "--engine",
    type=click.Choice(list(ENGINES)),
    default="torchserve",
    show_default=True,
    help="torchserve: /predictions/NAME. kserve: KServe's model server, Open Inference Protocol v2 "
    "(/v2/models/NAME/infer and gRPC) and KServe v1 (/v1/models/NAME:predict); needs the kserve extra.",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8080,
    show_default=True,
    help="Inference API port (127.0.0.1 only); the KServe engine also serves /metrics here.",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(1, 65535),
    default=8081,
    show_default=True,
    help="KServe engine: the gRPC (Open Inference Protocol) port.",
)
@click.option(
    "--management-port", type=click.IntRange(1, 65535), default=8081, show_default=True, help="TorchServe only."
)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=8082, show_default=True, help="TorchServe only.")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes per model (KServe: REST worker processes for all models).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1024),
    default=1,
    show_default=True,
    help="TorchServe server-side batch size (KServe: clients batch, up to 64 requests a call).",
)
@click.option(
    "--max-batch-delay",
    type=click.IntRange(0, 60_000),
    default=5,
    show_default=True,
    help="ms to wait to fill a batch.",
)
@click.option(
    "--max-request-mb",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="Largest request body the handler accepts (a JSON 413 above it). TorchServe's front end "
    "passes bodies up to max(64, 4x this) MB to the handler and answers larger ones with an "
    "empty 413 itself.",
)
@click.option("--timeout", type=float, default=180, show_default=True, help="Seconds to wait for the models.")
@click.option(
    "--verbose-logs",
    is_flag=True,
    help="TorchServe: its own logging (DEBUG, ~30 lines a request, metrics as log lines) for debugging; by "
    "default logs/ holds one access line a request, worker output, start-up and errors, and metrics "
    "are served in Prometheus format on the metrics port. KServe: an access line and timing lines "
    "per request; by default logs/kserve.log holds start-up, refusals (one line each) and faults. "
    "Both engines rotate their logs at 100 MB and keep 5 gzipped files.",
)
@RANDOM_WEIGHTS
def start_cmd(
    names: tuple[str, ...],
    run_dir: Path,
    store: Path,
    engine: str,
    port: int,
    grpc_port: int,
    management_port: int,
    metrics_port: int,
    workers: int,
    batch_size: int,
    max_batch_delay: int,
    max_request_mb: int,
    timeout: float,
    verbose_logs: bool,
    random_weights: bool,
) -> None:
    """Start a server with NAMES (default: every .mar in the store); returns once each model answers.

    A NAME with no archive in the store that names trained weights (mnist-cnn.mnist) or a model (mnist-cnn: its
    default trained weights) is exported, parity-checked and archived first.
    """
    models = []
    for name in list(names) or sorted(p.stem for p in store.glob("*.mar")):
        source = name
        if is_pretrained_source(name):  # a save-pretrained folder: served under its weights' name
            name = zoo.get_weights(source).name
        models.append(name)
        if not (store / f"{name}.mar").is_file() and (is_weights_source(source) or source in zoo.list_models()):
            build_archive(
                source,
                name=name,
                store=store,
                exports_dir=run_dir / "exports",
                log=lambda m: click.echo(m, err=True),
                random_weights=random_weights,
            )
    cfg = ServerConfig(
        run_dir=run_dir,
        engine=engine,
        store=store,
        models=models,
        port=port,
        grpc_port=grpc_port,
        management_port=management_port,
        metrics_port=metrics_port,
        workers=workers,
        batch_size=batch_size,
        max_batch_delay_ms=max_batch_delay,
        max_request_mb=max_request_mb,
        verbose_logs=verbose_logs,
    )
    state = start(cfg, timeout, log=lambda m: click.echo(m, err=True))
    if engine == "kserve":
        click.echo(
            f"KServe is up at http://127.0.0.1:{port} and grpc 127.0.0.1:{grpc_port} (pid {state['pid']}) "
            f"serving {', '.join(models)}"
        )
        click.echo("  v2: POST /v2/models/NAME/infer; v1: POST /v1/models/NAME:predict; metadata: GET /v2/models/NAME")
    else:
        click.echo(f"TorchServe is up at http://127.0.0.1:{port} (pid {state['pid']}) serving {', '.join(models)}")
    click.echo(f"access key: {state['key_file']} (send it as 'Authorization: Bearer <inference key>')")
    metrics = f"http://127.0.0.1:{port if engine == 'kserve' else metrics_port}/metrics"
    click.echo(
        f"logs: {Path(state['run_dir']) / 'logs'}; metrics: {metrics}; stop with `zoo-serve stop --run-dir {run_dir}`"
    )


@main.command("deploy")
@click.argument("name")
@click.option(
    "--engine",
    type=click.Choice(["kserve"]),
    default="kserve",
    show_default=True,
    help="The engine the container runs (KServe's model server; TorchServe images are upstream's).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Folder for the build context and manifest."
)
@STORE
@click.option("--image", help="Image reference to build and push (default: zoo-NAME:latest).")
@click.option("--gpu", is_flag=True, help="onnxruntime-gpu in the image and one nvidia.com/gpu per replica.")
@click.option(
    "--min-replicas", type=click.IntRange(0), default=1, show_default=True, help="0 lets KServe scale to zero."
)
@click.option("--max-replicas", type=click.IntRange(1), default=3, show_default=True)
@click.option("--cpu", default="1", show_default=True, help="CPU request and limit per replica.")
@click.option("--memory", default="2Gi", show_default=True, help="Memory request and limit per replica.")
@click.option("--namespace", help="Kubernetes namespace (default: kubectl's current one).")
@click.option("--grpc", is_flag=True, help="Expose the gRPC port (h2c) instead of REST: KServe routes one port.")
@click.option("--max-request-mb", type=click.IntRange(1, 1024), default=8, show_default=True)
def deploy_cmd(
    name: str,
    engine: str,
    out: Path,
    store: Path,
    image: str | None,
    gpu: bool,
    min_replicas: int,
    max_replicas: int,
    cpu: str,
    memory: str,
    namespace: str | None,
    grpc: bool,
    max_request_mb: int,
) -> None:
    """Write a container build context and a KServe InferenceService manifest for STORE/NAME.mar (JSON summary)."""
    from .deploy import deploy

    info = deploy(
        name,
        out,
        store,
        image=image,
        gpu=gpu,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu=cpu,
        memory=memory,
        namespace=namespace,
        grpc=grpc,
        max_request_mb=max_request_mb,
        log=lambda m: click.echo(m, err=True),
    )
    click.echo(json.dumps(info))


@main.command("ui")
@RUN_DIR
@click.option(
    "--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="The page's port (127.0.0.1 only)."
)
def ui_cmd(run_dir: Path, port: int) -> None:
    """A browser playground for the server of RUN_DIR (either engine): a tab per served model (draw a digit, sample
    a generator, tag a sentence, ...). Needs the ui extra: pip install '.[ui]'. Stop it with Ctrl-C."""
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise click.ClickException("the playground needs the ui extra: pip install 'torch-model-zoo[ui]'")
    from .ui import serve

    try:
        serve(run_dir, port, log=click.echo)
    except RuntimeError as e:
        raise click.ClickException(str(e)) from None


@main.command("stop")
@RUN_DIR
def stop_cmd(run_dir: Path) -> None:
    """Stop the server of RUN_DIR and wait until its processes are gone."""
    click.echo("stopped" if stop(run_dir) else f"no server running from {run_dir}")


@main.command("status")
@RUN_DIR
def status_cmd(run_dir: Path) -> None:
    """Is the server of RUN_DIR up, and what does each model serve? (JSON)"""
    click.echo(json.dumps(status(run_dir), indent=2))


@main.command("predict")
@click.argument("name")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@RUN_DIR
@click.option("--content-type", help="Override the content type (default: JSON for .json files, else bytes).")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object per file: {file, status, latency_ms, answer}."
)
def predict_cmd(name: str, files: tuple[Path, ...], run_dir: Path, content_type: str | None, as_json: bool) -> None:
    """Send each FILE to model NAME and print the answer and the latency (exit 1 when any answer is not 200)."""
    try:
        client = Client.from_run_dir(run_dir)
    except (FileNotFoundError, KeyError) as e:
        raise click.ClickException(f"{e}; start a server first (`zoo-serve start`)") from None
    failed = False
    for path in files:
        ctype = content_type or (
            "application/json"
            if path.suffix == ".json"
            else "text/plain"
            if path.suffix == ".txt"
            else "application/octet-stream"
        )
        code, body, seconds = client.predict(name, path.read_bytes(), ctype)
        failed |= code != 200
        if as_json:
            click.echo(
                json.dumps({"file": str(path), "status": code, "latency_ms": round(seconds * 1000, 3), "answer": body})
            )
        else:
            click.echo(f"{path}: HTTP {code} in {seconds * 1000:.1f} ms: {json.dumps(body)}")
    sys.exit(1 if failed else 0)


@main.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Use real MNIST from this folder (MNIST/raw/) instead of the built-in digits.",
)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True)
@click.option(
    "--requests",
    "n_requests",
    type=click.IntRange(1),
    default=500,
    show_default=True,
    help="Images sent over HTTP (the shipped sample holds 500).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--runtime", type=click.Choice(["onnx", "torchscript"]), default="onnx", show_default=True)
@click.option(
    "--train",
    is_flag=True,
    help="Train the digit CNN first (the whole tour) instead of serving the shipped trained weights.",
)
def demo_cmd(data_dir: Path | None, out: Path, n_requests: int, port: int, runtime: str, train: bool) -> None:
    """The whole path on a fresh machine: the shipped trained digit CNN (or, with --train, one trained now),
    exported with parity checks, archived, served by TorchServe; real test images classified over HTTP;
    predictions, accuracy and latency printed; server stopped."""
    from .demo import run_demo

    try:
        run_demo(out, data_dir, n_requests, port, runtime, log=click.echo, train=train)
    except (ServingError, ArchiveError, RuntimeError, ValueError) as e:
        raise click.ClickException(str(e)) from None
