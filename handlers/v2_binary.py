"""The Open Inference Protocol's binary tensor extension, checked before anything parses it.

A binary request is a JSON header of ``Inference-Header-Content-Length`` bytes followed by the raw tensors
of every input whose ``parameters.binary_data_size`` is set, in input order (``BYTES`` elements as a
4-byte little-endian length, then the bytes). :func:`check_binary_request` refuses, with a message that
names the fault, every body whose parts do not add up, so that no array is ever built from one.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from .validate import RequestError, excerpt

#: Bytes per element of the fixed-size datatypes (BYTES is length-prefixed).
ITEM_BYTES = {
    "BOOL": 1,
    "UINT8": 1,
    "INT8": 1,
    "UINT16": 2,
    "INT16": 2,
    "FP16": 2,
    "BF16": 2,
    "UINT32": 4,
    "INT32": 4,
    "FP32": 4,
    "UINT64": 8,
    "INT64": 8,
    "FP64": 8,
}
DATATYPES = (*ITEM_BYTES, "BYTES")
HEADER = "Inference-Header-Content-Length"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def header_length(value: str | bytes, body_size: int) -> int:
    """The JSON header's length from the header field: a decimal number of bytes within the body."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if not text.strip().isdigit() or not text.strip().isascii():
        raise RequestError(f"{HEADER} must be a whole number of bytes, got {excerpt(text)}")
    length = int(text)
    if length == 0 or length > body_size:
        raise RequestError(
            f"{HEADER} is {length}, but the body holds {body_size} bytes: the JSON header must be "
            f"1 to {body_size} bytes long"
        )
    return length


def check_binary_request(body: bytes, header_value: str | bytes) -> None:
    """Refuse (``RequestError``, a 400) a binary-extension body whose header, sizes, shapes and datatypes do
    not describe exactly the bytes that follow it."""
    length = header_length(header_value, len(body))
    try:
        head = json.loads(body[:length])
    except (UnicodeDecodeError, ValueError) as e:
        raise RequestError(f"the first {length} bytes ({HEADER}) are not a JSON object: {excerpt(str(e))}") from None
    if not isinstance(head, dict) or not isinstance(head.get("inputs"), list) or not head["inputs"]:
        raise RequestError(f'the JSON header must be an object with a non-empty "inputs" list ({HEADER}: {length})')
    offset = length
    for i, tensor in enumerate(head["inputs"]):
        where = f"input {i}"
        if not isinstance(tensor, dict):
            raise RequestError(f"{where} is not a JSON object")
        name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
        if isinstance(name, str):
            where = f"input {excerpt(name)}"
        else:
            raise RequestError(f'{where} has no "name" string')
        if not isinstance(shape, list) or not all(_whole(d) for d in shape):
            raise RequestError(f'{where}: "shape" must be a list of whole numbers, got {excerpt(json.dumps(shape))}')
        if datatype not in DATATYPES:
            raise RequestError(f"{where}: datatype {excerpt(str(datatype))} is not one of {', '.join(DATATYPES)}")
        parameters = tensor.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise RequestError(f'{where}: "parameters" must be a JSON object')
        size = (parameters or {}).get("binary_data_size")
        if size is None:
            if "data" not in tensor:
                raise RequestError(f'{where} has neither "data" nor parameters.binary_data_size')
            continue
        if "data" in tensor:
            raise RequestError(f'{where} has both "data" and parameters.binary_data_size: send one')
        if not _whole(size):
            raise RequestError(
                f"{where}: binary_data_size must be a whole number of bytes, got {excerpt(json.dumps(size))}"
            )
        if offset + size > len(body):
            raise RequestError(
                f"{where}: binary_data_size {size} runs past the end of the body ({len(body) - offset} "
                f"bytes left after the header and the inputs before it)"
            )
        elements = math.prod(shape)
        if datatype == "BYTES":
            _check_bytes_elements(body[offset : offset + size], elements, where)
        elif size != elements * ITEM_BYTES[datatype]:
            raise RequestError(
                f"{where}: shape {shape} of {datatype} is {elements * ITEM_BYTES[datatype]} bytes, but "
                f"binary_data_size is {size}"
            )
        offset += size
    if offset != len(body):
        raise RequestError(
            f"the body has {len(body) - offset} bytes after the last binary input: the header and the "
            f"binary_data_size of the inputs must add up to the body's {len(body)} bytes"
        )
    outputs = head.get("outputs")
    if outputs is not None and (
        not isinstance(outputs, list)
        or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outputs)
    ):
        raise RequestError('"outputs" must be a list of objects, each with a "name" string')


def _check_bytes_elements(data: bytes, elements: int, where: str) -> None:
    """``elements`` length-prefixed byte strings filling ``data`` exactly."""
    pos = 0
    for n in range(elements):
        if pos + 4 > len(data):
            raise RequestError(
                f"{where}: BYTES element {n} has no 4-byte length (the data end after {n} of {elements} elements)"
            )
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + size > len(data):
            raise RequestError(f"{where}: BYTES element {n} says {size} bytes, {len(data) - pos} are left")
        pos += size
    if pos != len(data):
        raise RequestError(f"{where}: {len(data) - pos} bytes left over after {elements} BYTES elements")
