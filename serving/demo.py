"""The main job, end to end: trained weights (shipped, or trained now) → export (parity-checked) → archive →
TorchServe → HTTP → stop."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .archive import build_archive
from .client import Client
from .server import ServerConfig, free_port, start, stop


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 image array (H, W) or (H, W, 3) as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


DEMO_WEIGHTS = "mnist-cnn.mnist"
#: The first 500 MNIST test digits, shipped with the package (zoo/samples/README.md: source and licence).
SAMPLE = Path(__file__).resolve().parent.parent / "zoo" / "samples" / "mnist-test-500.npz"


def demo_digits(data_dir: Path | None, n: int, built_in: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """(images uint8 N x 28 x 28, labels, where from): MNIST test from ``data_dir``, the built-in 8x8 digits'
    test split scaled up (``built_in``: what a model trained on them is judged on), else the shipped sample."""
    if data_dir is not None or built_in:
        from training.data import load_dataset

        bundle = load_dataset("digits" if built_in else "mnist", data_dir)
        assert bundle.test is not None
        where = "the built-in digits' test split" if built_in else f"MNIST test from {data_dir}"
        return bundle.test["x"][:n, 0].numpy(), bundle.test["y"][:n].numpy(), where
    with np.load(SAMPLE) as sample:
        images, labels = sample["images"][:n], sample["labels"][:n]
    return images, labels, f"the first {len(labels)} MNIST test digits shipped with the package"


def run_demo(
    out: Path,
    data_dir: Path | None,
    n_requests: int,
    port: int,
    runtime: str,
    log: Callable[[str], None] = print,
    train: bool = False,
) -> dict:
    """Serve the shipped digit model (``train``: train one first), classify real test digits over HTTP."""
    from export.core import export

    out = out.resolve()
    dataset = "mnist" if data_dir else "digits"
    if train:
        from training.engine import TrainConfig, Trainer

        epochs = 1 if data_dir else 8
        log(
            f"[1/5] training mnist-cnn on {'MNIST from ' + str(data_dir) if data_dir else 'the built-in digits'} "
            f"({epochs} epoch{'s' if epochs > 1 else ''}) ..."
        )
        summary = Trainer(
            TrainConfig(
                recipe="mnist-cnn-mnist",
                dataset=dataset,
                data_dir=data_dir,
                device="auto",
                out=out / "train",
                overrides={"epochs": epochs},
            )
        ).fit()
        log(f"      test accuracy {summary['test_accuracy']:.4f}; checkpoint {summary['best_checkpoint']}")
        source = summary["best_checkpoint"]
    else:
        import zoo

        card = zoo.get_weights(DEMO_WEIGHTS)
        metric, _ = card.headline
        log(
            f"[1/5] the shipped trained weights {DEMO_WEIGHTS}: {metric} {card.metrics[metric]:.4f} on "
            f"{card.card['dataset']['split_description']} (`zoo weights info {DEMO_WEIGHTS}`; --train trains one instead)"
        )
        source = DEMO_WEIGHTS

    log("[2/5] exporting to TorchScript, ONNX and torch.export, checking parity on real test images ...")
    record = export(source, out / "export", data_dir=data_dir, log=lambda m: None)
    real = record["parts"]["model"]["parity"]["cases"].get("real", {})
    for runtime_name in ("torchscript", "onnxruntime", "exported"):
        r = real.get(runtime_name, {})
        if r:
            log(
                f"      {runtime_name:<12} argmax agrees on {r['argmax_agree']} test images, "
                f"max abs error {r['outputs']['logits']['max_abs']:.1e}"
            )
    if not record["passed"]:
        raise RuntimeError(f"parity check failed; see {out / 'export' / 'export.json'}")

    log(f"[3/5] archiving the {runtime} model for TorchServe ...")
    info = build_archive(out / "export", runtime=runtime, store=out / "model_store", log=lambda m: None)
    log(f"      {info['mar']}")

    ports = [port, free_port(), free_port()]
    cfg = ServerConfig(
        run_dir=out / "serve",
        store=out / "model_store",
        models=[info["name"]],
        port=ports[0],
        management_port=ports[1],
        metrics_port=ports[2],
    )
    log(f"[4/5] starting TorchServe on 127.0.0.1:{port} (token auth on; logs in {cfg.run_dir / 'logs'}) ...")
    t0 = time.perf_counter()
    start(cfg, log=lambda m: None)
    log(f"      up in {time.perf_counter() - t0:.1f} s")
    try:
        images, labels, where = demo_digits(data_dir, n_requests, built_in=train and data_dir is None)
        client = Client.from_run_dir(cfg.run_dir)
        log(f"[5/5] sending {len(images)} real test images as PNG over HTTP ({where}) ...")
        latencies, correct = [], 0
        for i, (image, label) in enumerate(zip(images, labels)):
            code, body, seconds = client.predict(info["name"], png_bytes(image), "image/png")
            if code != 200:
                raise RuntimeError(f"HTTP {code}: {body}")
            top = body["predictions"][0]
            latencies.append(seconds * 1000)
            correct += int(top["label"] == str(int(label)))
            if i < 8:
                log(
                    f"      image {i}: true {int(label)} → predicted {top['label']} (p={top['probability']:.3f}) "
                    f"in {seconds * 1000:.1f} ms"
                )
        lat = np.array(latencies)
        result = {
            "requests": len(lat),
            "accuracy": correct / len(lat),
            "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)),
            "mean_ms": float(lat.mean()),
        }
        log(
            f"      {len(lat)} requests: accuracy {result['accuracy']:.3f}, latency p50 {result['p50_ms']:.1f} ms, "
            f"p99 {result['p99_ms']:.1f} ms (one client, sequential)"
        )
    finally:
        stop(cfg.run_dir, log=lambda m: None)
        log("      TorchServe stopped.")
    log(f"done: everything is under {out}")
    return result
