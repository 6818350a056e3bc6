"""Serving throughput and latency: requests/s, p50 and p99 at 1, 8 and 32 concurrent clients.

Both engines serve the same archives with 2 worker processes. TorchServe, without and with server-side
batching; the KServe engine (``zoo-serve start --engine kserve``) through KServe v1 (the same raw PNG
body as TorchServe's ``/predictions``) and through the Open Inference Protocol v2 over REST (JSON, the
PNG as a base64 ``BYTES`` input). Endpoints:
- ``trivial``: a handler that answers "ok" (TorchServe's own floor on this machine),
- ``mnist-cnn``: the digit model on onnxruntime, sent a 28x28 PNG,
- ``resnet``: the seed's CIFAR ResNet on onnxruntime, sent a 32x32 PNG;
plus the in-process reference: PNG decode + preprocessing + onnxruntime in a loop, no HTTP, and
``trivial`` and ``mnist-cnn`` once more under TorchServe's own verbose logging (``zoo-serve start
--verbose-logs``) to show what the quiet default logging is worth.

The load comes from ``wrk`` (Debian package) when installed, else from an asyncio client; it runs on
the same machine as the server, as the floor does. Prints a table and writes JSON to
``benchmarks/results/serving-<machine>.json``.

    python benchmarks/serving_speed.py
    python benchmarks/serving_speed.py --duration 20 --models mnist-cnn --clients 8 32
    python benchmarks/serving_speed.py --soak 10 --soak-clients 32      # both engines, 10 minutes each
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from loadgen import asyncio_load, png, wrk

from export.core import export
from handlers import imaging
from serving.archive import build_archive, find_tool
from serving.client import read_token
from serving.server import ServerConfig, free_port, start, stop
from training.machine import machine_record

RESULTS = Path(__file__).resolve().parent / "results"
TRIVIAL_HANDLER = """
def handle(data, context):
    if data is None:
        return None
    return ["ok"] * len(data)
"""


def trivial_archive(store: Path) -> str:
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        handler = Path(tmp) / "trivial_handler.py"
        handler.write_text(TRIVIAL_HANDLER)
        subprocess.run(
            [
                find_tool("torch-model-archiver"),
                "--model-name",
                "trivial",
                "--version",
                "1.0",
                "--handler",
                f"{handler.with_suffix('')}:handle",
                "--export-path",
                str(store),
                "--force",
            ],
            check=True,
        )
    return "trivial"


def in_process(export_dir: Path, body: bytes, seconds: float) -> dict:
    """Decode + preprocess + onnxruntime per request, in a loop, no HTTP (one thread per worker, 2 workers' worth)."""
    import onnxruntime as ort

    record = json.loads((export_dir / "export.json").read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(export_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    latencies = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        x = imaging.preprocess(imaging.decode_image(body), record["preprocessing"])[None]
        probs = imaging.softmax(session.run(None, {name: x})[0][0])
        probs.argsort()
        latencies.append(time.perf_counter() - t0)
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "rps": len(ms) / sum(latencies),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "tool": "loop (1 thread)",
    }


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the engine, its workers), in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            proc = int(stat.parent.name)
            children.setdefault(int(fields[1]), []).append(proc)
            rss[proc] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [pid]
    while todo:
        proc = todo.pop()
        total += rss.get(proc, 0)
        todo += children.get(proc, [])
    return total / 1e6


def _log_bytes(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in (run_dir / "logs").rglob("*") if p.is_file())


def soak(args: argparse.Namespace) -> None:
    """N minutes at C clients on each engine: requests, errors, p50/p99, RSS and log bytes written, per minute."""
    if shutil.which("wrk") is None:
        raise SystemExit("the soak needs wrk (apt-get install wrk)")
    model = args.models[0] if args.models != ["trivial", "mnist-cnn", "resnet"] else "mnist-cnn"
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = tmp / "store"
        info = build_archive(model, runtime="onnx", store=store, exports_dir=tmp / "exports", log=lambda m: None)
        record = json.loads((Path(info["export_dir"]) / "export.json").read_text())
        c, h, w = record["parts"]["model"]["inputs"][0]["shape"][1:]
        body = png((h, w) if c == 1 else (h, w, c))
        for engine in args.engines:
            cfg = ServerConfig(
                run_dir=tmp / f"soak-{engine}",
                engine=engine,
                store=store,
                models=[model],
                port=free_port(),
                grpc_port=free_port(),
                management_port=free_port(),
                metrics_port=free_port(),
                workers=args.workers,
            )
            state = start(cfg, log=lambda m: None)
            path = f"/predictions/{model}" if engine == "torchserve" else f"/v1/models/{model}:predict"
            rows = []
            try:
                token = read_token(cfg.run_dir)
                logs0 = _log_bytes(cfg.run_dir)
                for minute in range(1, args.soak + 1):
                    r = wrk(f"http://127.0.0.1:{cfg.port}{path}", body, token, args.soak_clients, 60, tmp, "image/png")
                    row = {
                        "minute": minute,
                        "requests": r["requests"],
                        "errors": r["non_2xx"] + r["socket_errors"],
                        "rps": round(r["rps"], 1),
                        "p50_ms": r["p50_ms"],
                        "p99_ms": r["p99_ms"],
                        "rss_mb": round(_tree_rss_mb(state["pid"]), 1),
                        "log_bytes": _log_bytes(cfg.run_dir) - logs0,
                    }
                    rows.append(row)
                    print(engine, row, flush=True)
            finally:
                stop(cfg.run_dir, log=lambda m: None)
            base = rows[0]["rss_mb"]
            per_minute = rows[-1]["log_bytes"] / len(rows)
            results[engine] = {
                "rows": rows,
                "requests": sum(r["requests"] for r in rows),
                "errors": sum(r["errors"] for r in rows),
                "rss_growth_after_minute_1": round((max(r["rss_mb"] for r in rows) - base) / base, 4),
                "log_bytes_per_minute": round(per_minute),
                "log_mb_per_day": round(per_minute * 1440 / 1e6, 1),
            }
    machine = machine_record()
    print(
        f"\nsoak: {args.soak} min at {args.soak_clients} clients, {model}, {args.workers} workers, wrk; {machine['line']}"
    )
    print(
        f"{'engine':<11} {'minute':>6} {'requests':>9} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7} {'log bytes':>10}"
    )
    for engine, result in results.items():
        for r in result["rows"]:
            print(
                f"{engine:<11} {r['minute']:>6} {r['requests']:>9} {r['errors']:>6} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                f"{r['rss_mb']:>7.0f} {r['log_bytes']:>10}"
            )
        print(
            f"{engine}: {result['requests']} requests, {result['errors']} errors, RSS growth after minute 1 "
            f"{result['rss_growth_after_minute_1']:.1%}, log {result['log_bytes_per_minute']} B/min "
            f"(~{result['log_mb_per_day']} MB a day at this rate)"
        )
    out = args.out or RESULTS / "soak-cpu.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "model": model,
                "minutes": args.soak,
                "clients": args.soak_clients,
                "workers": args.workers,
                "engines": results,
            },
            indent=2,
        )
    )
    print(f"written {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=["trivial", "mnist-cnn", "resnet"])
    parser.add_argument("--clients", nargs="*", type=int, default=[1, 8, 32])
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per cell (the median is reported)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8, help="server batch size of the batched runs")
    parser.add_argument("--max-batch-delay", type=int, default=5, help="ms")
    parser.add_argument("--engines", nargs="*", default=["torchserve", "kserve"], choices=["torchserve", "kserve"])
    parser.add_argument(
        "--no-verbose-reference",
        dest="verbose_reference",
        action="store_false",
        help="skip the reference runs under TorchServe's own (verbose) logging",
    )
    parser.add_argument("--trained", action="store_true", help="serve the models' trained weights (default: random)")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also serve each model's int8 ONNX model as MODEL-int8 "
        "(calibrated on its training images: needs --data-dir or ZOO_DATA_DIR)",
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--soak",
        type=int,
        metavar="MINUTES",
        help="soak mode: this many minutes at --soak-clients on each of --engines (trained mnist-cnn "
        "unless --models names one), a row a minute: requests, errors, p50/p99, RSS, log bytes",
    )
    parser.add_argument("--soak-clients", type=int, default=32)
    args = parser.parse_args()
    if args.soak:
        soak(args)
        return

    use_wrk = shutil.which("wrk") is not None
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        store = tmp / "store"
        bodies, exports = {}, {}
        for model in args.models:
            if model == "trivial":
                trivial_archive(store)
                bodies[model] = png((28, 28))
                continue
            exports[model] = tmp / "exports" / model
            export(model, exports[model], formats=["onnx"], log=lambda m: None, random_weights=not args.trained)
            build_archive(exports[model], runtime="onnx", store=store, name=model, log=lambda m: None)
            spec_shape = json.loads((exports[model] / "export.json").read_text())["parts"]["model"]["inputs"][0][
                "shape"
            ]
            c, h, w = spec_shape[1:]
            bodies[model] = png((h, w) if c == 1 else (h, w, c))
            if args.int8:  # the same export's int8 model (static QDQ, calibrated on training images)
                build_archive(
                    exports[model],
                    runtime="onnx-int8",
                    store=store,
                    name=f"{model}-int8",
                    data_dir=args.data_dir,
                    log=lambda m: None,
                )
                bodies[f"{model}-int8"] = bodies[model]
        served = list(bodies)
        for model in exports:
            r = in_process(exports[model], bodies[model], min(args.duration, 5))
            rows.append({"model": model, "setup": "in-process decode+ORT (no HTTP)", "clients": 1, **r})
            print(rows[-1], flush=True)
        setups: list[tuple[str, int, bool, list[str]]] = []
        if "torchserve" in args.engines:
            setups += [("torchserve", 1, False, served), ("torchserve", args.batch_size, False, served)]
            reference = [m for m in served if m in ("trivial", "mnist-cnn")]
            if args.verbose_reference and reference:  # TorchServe's own logging and log-line metrics, for comparison
                setups.append(("torchserve", 1, True, reference))
        if "kserve" in args.engines:
            setups.append(("kserve", 1, False, [m for m in served if m != "trivial"]))
        for engine, batch, verbose, models in setups:
            cfg = ServerConfig(
                run_dir=tmp / f"run-{engine}{batch}{verbose}",
                engine=engine,
                store=store,
                models=models,
                port=free_port(),
                grpc_port=free_port(),
                management_port=free_port(),
                metrics_port=free_port(),
                workers=args.workers,
                batch_size=batch,
                max_batch_delay_ms=args.max_batch_delay,
                verbose_logs=verbose,
            )
            start(cfg, log=lambda m: None)
            # (setup label, path, body, content type) per protocol the engine speaks
            if engine == "kserve":
                protocols = [
                    ("KServe v1, raw PNG", "/v1/models/{}:predict", None, "image/png"),
                    ("KServe v2 REST, base64 BYTES", "/v2/models/{}/infer", "v2", "application/json"),
                ]
            else:
                label = (
                    "TorchServe, no batching"
                    if batch == 1
                    else f"TorchServe, batch {batch} / {args.max_batch_delay} ms"
                )
                protocols = [
                    (label + (", verbose logs" if verbose else ""), "/predictions/{}", None, "application/octet-stream")
                ]
            try:
                token = read_token(cfg.run_dir)
                for setup, path, encoding, ctype in protocols:
                    _measure_setup(
                        rows, setup, models, bodies, path, encoding, ctype, token, cfg.port, args, use_wrk, tmp
                    )
            finally:
                stop(cfg.run_dir, log=lambda m: None)

    floor = {(r["setup"], r["clients"]): r["rps"] for r in rows if r["model"] == "trivial"}
    for r in rows:
        if (r["setup"], r["clients"]) in floor and r["model"] != "trivial":
            r["vs_floor"] = r["rps"] / floor[(r["setup"], r["clients"])]
    machine = machine_record()
    print(
        f"\nserving on {machine['line']}; {args.workers} workers; load from {'wrk' if use_wrk else 'asyncio'} on the same machine"
    )
    print(f"{'model':<12} {'setup':<44} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs floor':>8}")
    for r in rows:
        vs = f"{r['vs_floor']:.0%}" if "vs_floor" in r else ""
        print(
            f"{r['model']:<12} {r['setup']:<44} {r['clients']:>7} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {vs:>8}"
        )
    out = args.out or RESULTS / "serving-cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "workers": args.workers,
                "duration_s": args.duration,
                "load": "wrk" if use_wrk else "asyncio",
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten {out}")


def _measure_setup(
    rows: list[dict],
    setup: str,
    models: list[str],
    bodies: dict[str, bytes],
    path: str,
    encoding: str | None,
    content_type: str,
    token: str,
    port: int,
    args: argparse.Namespace,
    use_wrk: bool,
    tmp: Path,
) -> None:
    """Every model of one server and protocol at every client count: the median of ``args.repeats`` runs."""

    def body(model: str) -> bytes:
        if encoding == "v2":
            return json.dumps(
                {
                    "inputs": [
                        {
                            "name": "image",
                            "datatype": "BYTES",
                            "shape": [1],
                            "data": [base64.b64encode(bodies[model]).decode()],
                        }
                    ]
                }
            ).encode()
        return bodies[model]

    def measure(model: str, clients: int, seconds: int) -> dict:
        if use_wrk:
            return wrk(
                f"http://127.0.0.1:{port}{path.format(model)}", body(model), token, clients, seconds, tmp, content_type
            )
        return asyncio.run(
            asyncio_load("127.0.0.1", port, path.format(model), body(model), token, clients, seconds, content_type)
        )

    for model in models:
        measure(model, 8, 2)  # warm-up
    for clients in args.clients:
        # models take turns within each repeat, so that the floor and the models it is compared
        # with see the same drift of this (shared, noisy) machine
        runs: dict[str, list[dict]] = {m: [] for m in models}
        for _ in range(args.repeats):
            for model in models:
                runs[model].append(measure(model, clients, args.duration))
        for model in models:
            ordered = sorted(runs[model], key=lambda x: x["rps"])
            r = {**ordered[len(ordered) // 2], "rps_all": [round(x["rps"], 1) for x in runs[model]]}
            rows.append({"model": model, "setup": setup, "clients": clients, **r})
            print(rows[-1], flush=True)


if __name__ == "__main__":
    main()
