"""``zoo-serve deploy``: one archived model → a container build context and a KServe ``InferenceService``.

The context holds the unpacked archive (artifact, ``export.json``, ``serving.json`` and the request core as
``zoo_handlers/``) and a Dockerfile that installs only what serving needs (kserve, the runtime, NumPy,
Pillow, at the versions installed here) and runs :mod:`handlers.kserve_server`. The manifest is built
from the ``kserve`` SDK's own model classes, so a misspelt field cannot reach the cluster.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from .archive import unpack
from .config import ServingError

HTTP_PORT, GRPC_PORT = 8080, 8081
MODEL_ROOT = "/opt/zoo"


def _pin(package: str, fallback: str) -> str:
    try:
        return f"{package}=={metadata.version(package)}"
    except metadata.PackageNotFoundError:
        return fallback


def requirements(runtime: str, gpu: bool) -> list[str]:
    """What the serving container installs: the versions this machine serves with."""
    ort_version = None
    for dist in ("onnxruntime-gpu", "onnxruntime"):
        try:
            ort_version = metadata.version(dist)
            break
        except metadata.PackageNotFoundError:
            continue
    packages = [_pin("kserve", "kserve"), _pin("numpy", "numpy"), _pin("pillow", "pillow")]
    if runtime == "onnx":
        name = "onnxruntime-gpu" if gpu else "onnxruntime"
        packages.append(f"{name}=={ort_version}" if ort_version else name)
    else:
        packages.append(_pin("torch", "torch"))
    return packages


def dockerfile(name: str, runtime: str, gpu: bool, max_request_mb: int) -> str:
    model_dir = f"{MODEL_ROOT}/{name}"
    torch_index = (
        ""
        if runtime != "torchscript" or gpu
        else " --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple"
    )
    args = [
        "python",
        "-m",
        "zoo_handlers.kserve_server",
        "--model-dir",
        model_dir,
        "--host",
        "0.0.0.0",
        "--http-port",
        str(HTTP_PORT),
        "--grpc-port",
        str(GRPC_PORT),
    ] + (["--gpu-id", "0"] if gpu else [])
    return "\n".join(
        [
            f"# Written by `zoo-serve deploy {name}`: KServe's model server with the zoo's request core.",
            "FROM python:3.11-slim",
            f"RUN pip install --no-cache-dir{torch_index} " + " ".join(f'"{p}"' for p in requirements(runtime, gpu)),
            f"COPY model {model_dir}",
            f"WORKDIR {model_dir}",
            f"ENV PYTHONPATH={model_dir} PYTHONUNBUFFERED=1 ZOO_MAX_REQUEST_MB={max_request_mb}",
            "USER 65534",
            f"EXPOSE {HTTP_PORT} {GRPC_PORT}",
            f"ENTRYPOINT {json.dumps(args)}",
            "",
        ]
    )


def service_name(name: str) -> str:
    """A Kubernetes (DNS-1123) name for an endpoint name."""
    dns = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    if not dns:
        raise ServingError(f"cannot make a Kubernetes name from {name!r}; pass --service-name")
    return dns


def inference_service(
    name: str,
    image: str,
    *,
    gpu: bool = False,
    min_replicas: int = 1,
    max_replicas: int = 3,
    cpu: str = "1",
    memory: str = "2Gi",
    namespace: str | None = None,
    grpc: bool = False,
    service: str | None = None,
) -> dict[str, Any]:
    """The ``InferenceService`` (custom predictor) as a plain dict, built with the kserve SDK's classes."""
    from kserve import (
        ApiClient,
        V1beta1InferenceService,
        V1beta1InferenceServiceSpec,
        V1beta1PredictorSpec,
        constants,
    )
    from kubernetes.client import (
        V1Container,
        V1ContainerPort,
        V1HTTPGetAction,
        V1ObjectMeta,
        V1Probe,
        V1ResourceRequirements,
    )

    if not 0 <= min_replicas <= max_replicas or max_replicas < 1:
        raise ServingError(f"replicas: need 0 <= min ({min_replicas}) <= max ({max_replicas}) and max >= 1")
    resources = {"cpu": cpu, "memory": memory}
    limits = {**resources, **({"nvidia.com/gpu": "1"} if gpu else {})}
    port = (
        V1ContainerPort(container_port=GRPC_PORT, name="h2c", protocol="TCP")
        if grpc
        else V1ContainerPort(container_port=HTTP_PORT, name="http1", protocol="TCP")
    )
    container = V1Container(
        name="kserve-container",
        image=image,
        ports=[port],
        resources=V1ResourceRequirements(requests=resources, limits=limits),
        readiness_probe=V1Probe(
            http_get=V1HTTPGetAction(path=f"/v2/models/{name}/ready", port=HTTP_PORT),
            initial_delay_seconds=2,
            period_seconds=5,
        ),
    )
    isvc = V1beta1InferenceService(
        api_version=constants.KSERVE_V1BETA1,
        kind=constants.KSERVE_KIND_INFERENCESERVICE,
        metadata=V1ObjectMeta(
            name=service or service_name(name),
            namespace=namespace,
            labels={"app.kubernetes.io/part-of": "torch-model-zoo", "zoo/model": service_name(name)},
        ),
        spec=V1beta1InferenceServiceSpec(
            predictor=V1beta1PredictorSpec(min_replicas=min_replicas, max_replicas=max_replicas, containers=[container])
        ),
    )
    return ApiClient().sanitize_for_serialization(isvc)


def deploy(
    name: str,
    out: Path,
    store: Path = Path("model_store"),
    image: str | None = None,
    gpu: bool = False,
    min_replicas: int = 1,
    max_replicas: int = 3,
    cpu: str = "1",
    memory: str = "2Gi",
    namespace: str | None = None,
    grpc: bool = False,
    max_request_mb: int = 8,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write ``out/`` (Dockerfile, model/, inferenceservice.yaml) for ``store/NAME.mar``."""
    import yaml

    mar = store / f"{name}.mar"
    if not mar.is_file():
        raise ServingError(f"no archive {mar}: create it with `zoo-serve archive` first")
    model = out / "model"
    if model.exists():
        shutil.rmtree(model)
    unpack(mar, model)
    if not (model / "zoo_handlers" / "kserve_server.py").is_file():
        raise ServingError(
            f"{mar} was archived before this KServe engine (no zoo_handlers/kserve_server.py); re-archive "
            "it with `zoo-serve archive`"
        )
    serving = json.loads((model / "serving.json").read_text())
    image = image or f"zoo-{service_name(name)}:latest"
    (out / "Dockerfile").write_text(dockerfile(name, serving["runtime"], gpu, max_request_mb))
    (out / ".dockerignore").write_text("inferenceservice.yaml\n")
    manifest = inference_service(
        name,
        image,
        gpu=gpu,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        cpu=cpu,
        memory=memory,
        namespace=namespace,
        grpc=grpc,
    )
    (out / "inferenceservice.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    service = manifest["metadata"]["name"]
    steps = [
        f"docker build -t {image} {out}",
        f"docker push {image}",
        f"kubectl apply -f {out / 'inferenceservice.yaml'}",
        f"kubectl get inferenceservice {service}   # READY True, then its URL answers /v2/models/{name}/infer",
    ]
    log(f"wrote {out}/Dockerfile, {out}/model/ and {out}/inferenceservice.yaml; next:\n  " + "\n  ".join(steps))
    return {
        "name": name,
        "service": service,
        "image": image,
        "out": str(out),
        "runtime": serving["runtime"],
        "gpu": gpu,
        "manifest": str(out / "inferenceservice.yaml"),
        "next": steps,
    }
