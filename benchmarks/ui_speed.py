"""What the playground adds to an answer: the digit classifier's endpoint alone vs the same request through the page
(``zoo-serve ui``, driven by gradio_client, Gradio's own client), 200 requests each, one client, p50/p99.

    python benchmarks/ui_speed.py [--requests 200]

Writes ``benchmarks/results/ui-cpu.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "ui-cpu.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    from gradio_client import Client as GradioClient
    from gradio_client import handle_file
    from PIL import Image

    from serving.archive import build_archive
    from serving.client import Client
    from serving.server import ServerConfig, free_port, start, stop
    from serving.ui import serve

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        build_archive(
            "mnist-cnn.mnist", name="digits", store=tmp / "store", exports_dir=tmp / "exports", log=lambda m: None
        )
        cfg = ServerConfig(
            run_dir=tmp / "run",
            store=tmp / "store",
            models=["digits"],
            port=free_port(),
            management_port=free_port(),
            metrics_port=free_port(),
        )
        start(cfg, log=lambda m: None)
        port = free_port()
        app = serve(cfg.run_dir, port, block=False, log=lambda m: None)
        try:
            digit = (np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)
            png = tmp / "digit.png"
            Image.fromarray(digit).save(png)
            endpoint = Client.from_run_dir(cfg.run_dir)
            payload = {"image": base64.b64encode(png.read_bytes()).decode(), "top_k": 5}
            page = GradioClient(f"http://127.0.0.1:{port}/", verbose=False)

            def timed(call) -> list[float]:
                for _ in range(10):  # warm-up
                    call()
                out = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    call()
                    out.append((time.perf_counter() - t0) * 1000)
                return out

            direct = timed(lambda: endpoint.predict("digits", payload))
            through = timed(lambda: page.predict(None, handle_file(str(png)), 5, api_name="/classify_digits"))
            # Gradio's own floor: the same event with no image (answered at once, no upload, no endpoint call)
            floor = timed(lambda: page.predict(None, None, 5, api_name="/classify_digits"))
        finally:
            app.close()
            stop(cfg.run_dir, log=lambda m: None)
    from training.machine import machine_record

    result = {
        "machine": machine_record(),
        "requests": args.requests,
        "cores": os.cpu_count(),
        "endpoint_ms": {"p50": float(np.percentile(direct, 50)), "p99": float(np.percentile(direct, 99))},
        "page_ms": {"p50": float(np.percentile(through, 50)), "p99": float(np.percentile(through, 99))},
        "gradio_floor_ms": {"p50": float(np.percentile(floor, 50)), "p99": float(np.percentile(floor, 99))},
    }
    result["added_p50_ms"] = result["page_ms"]["p50"] - result["endpoint_ms"]["p50"]
    print(f"endpoint alone: p50 {result['endpoint_ms']['p50']:.1f} ms, p99 {result['endpoint_ms']['p99']:.1f} ms")
    print(
        f"through the page (gradio_client): p50 {result['page_ms']['p50']:.1f} ms, p99 {result['page_ms']['p99']:.1f} ms"
    )
    print(f"the same event without an image (Gradio's floor): p50 {result['gradio_floor_ms']['p50']:.1f} ms")
    print(f"the page adds {result['added_p50_ms']:.1f} ms at p50")
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
