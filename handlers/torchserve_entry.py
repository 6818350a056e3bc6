"""TorchServe entry point of every zoo archive (archived as ``zoo_entry.py``; ``--handler zoo_entry:handle``).

The handler package travels inside the archive as ``zoo_handlers/``.
"""

from __future__ import annotations

from typing import Any

_service: Any = None
_handle: Any = None


def handle(data: Any, context: Any) -> Any:
    global _service, _handle
    if _service is None:
        from zoo_handlers.engine_torchserve import handle as adapter
        from zoo_handlers.tasks import load_handler

        props = context.system_properties
        _service, _handle = load_handler(props.get("model_dir", "."), props.get("gpu_id")), adapter
    if data is None:
        return None
    return _handle(_service, data, context)
