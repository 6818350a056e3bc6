"""Strict reading of client requests: JSON without NaN/Infinity, one type per field, arrays checked for
shape and float32 range before NumPy sees them, and messages that quote at most a short excerpt of what
the client sent.

Self-contained (NumPy only) so that it ships inside a model archive with the handlers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Characters of client text a message (or a log line) quotes at most.
EXCERPT_CHARS = 40
#: Largest magnitude a float32 input holds; larger finite JSON numbers would reach the model as inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class RequestError(Exception):
    """A request the handler refuses: HTTP ``status`` and a message that says what to fix."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """``value`` as a short, escaped (ASCII-only, JSON-quoted) quote: the first ``limit`` characters,
    and the full length when it was cut."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return json.dumps(text)
    return f'{json.dumps(text[:limit])[:-1]}..." ({len(text):,} characters)'


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (what a message tells the client it sent)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _refuse_constant(name: str) -> Any:
    raise RequestError(f"{name} is not valid JSON: send finite numbers")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise RequestError(f"the number {excerpt(text)} is outside the range of a double", 422)
    return value


def loads_strict(raw: bytes | str) -> Any:
    """Parse a JSON body strictly: UTF-8, no NaN/Infinity, no numbers that overflow to infinity,
    nesting within the parser's depth; every failure is a :class:`RequestError` that says what."""
    if isinstance(raw, (bytes, bytearray)):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError(f"the JSON body is not UTF-8 (byte {e.start})") from None
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise RequestError("the JSON body is nested too deeply") from None
    except json.JSONDecodeError as e:
        raise RequestError(f"malformed JSON body: {e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError:  # an integer literal longer than Python converts (4,300 digits)
        raise RequestError("malformed JSON body: a number with too many digits", 422) from None


def dumps_strict(value: Any) -> str:
    """A response body: strict JSON (ValueError where it would hold NaN or Infinity)."""
    return json.dumps(value, allow_nan=False)


# ---------------------------------------------------------------------------------------------- fields
def string(obj: dict[str, Any], name: str, default: str | None = None, choices: Sequence[str] = ()) -> str | None:
    """Field ``name`` of a request object: a string (one of ``choices`` when given)."""
    value = obj.get(name, default)
    if value is None and name not in obj:
        return None
    if not isinstance(value, str):
        raise RequestError(f"{name!r} must be a string, got a JSON {json_type(value)}", 422)
    if choices and value not in choices:
        raise RequestError(f"{name!r} must be one of {', '.join(choices)}; got {excerpt(value)}", 422)
    return value


def integer(obj: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    """Field ``name``: an integer in ``low..high`` (booleans and floats such as 2.0 are refused)."""
    if name not in obj:
        return default
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{name!r} must be an integer from {low} to {high}, got a JSON {json_type(value)}", 422)
    if not low <= value <= high:
        raise RequestError(f"{name!r} must be an integer from {low} to {high}; got {excerpt(str(value))}", 422)
    return value


def string_list(obj: dict[str, Any], name: str, max_items: int) -> list[str]:
    """Field ``name``: an array of at most ``max_items`` non-empty strings."""
    value = obj[name]
    if not isinstance(value, list):
        raise RequestError(f"{name!r} must be an array of strings, got a JSON {json_type(value)}", 422)
    if len(value) > max_items:
        raise RequestError(f"{name!r} has {len(value):,} items; at most {max_items} are accepted", 422)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            what = "an empty string" if item == "" else f"a JSON {json_type(item)}"
            raise RequestError(f"{name!r} must be an array of non-empty strings; item {i} is {what}", 422)
    return value


def nested_shape(value: Any, name: str, max_ndim: int) -> tuple[tuple[int, ...], list[int | float]]:
    """The shape and the numbers (row-major) of a nested JSON array, found without recursion: a
    precise 422 for a non-number, a jagged array or more than ``max_ndim`` dimensions."""
    shape: list[int] = []
    level = [value]
    while level and isinstance(level[0], list):
        if len(shape) == max_ndim:
            raise RequestError(f"{name!r} has more than {max_ndim} dimensions; expected {max_ndim}", 422)
        lengths = {len(x) if isinstance(x, list) else -1 for x in level}
        if len(lengths) != 1 or -1 in lengths:
            raise RequestError(
                f"{name!r} is a jagged array: its rows at depth {len(shape) + 1} differ in length "
                "or mix numbers and arrays",
                422,
            )
        shape.append(lengths.pop())
        level = [y for x in level for y in x]
    for item in level:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise RequestError(f"{name!r} must be an array of numbers; it holds a JSON {json_type(item)}", 422)
    return tuple(shape), level


def number_array(value: Any, name: str, shape: Sequence[int | None], dtype: str = "float32") -> np.ndarray:
    """A JSON array checked against ``shape`` (None = any length, at least 1), finite and within the
    range of ``dtype`` (float32 or int64, whose values must be integers)."""
    want = "x".join("N" if s is None else str(s) for s in shape) or "a number"
    got, numbers = nested_shape(value, name, len(shape))
    if len(got) != len(shape) or any(s is not None and s != d for s, d in zip(shape, got)):
        raise RequestError(f"{name!r} has shape {'x'.join(map(str, got)) or 'scalar'}; expected {want}", 422)
    if any(d == 0 for d in got):
        raise RequestError(f"{name!r} is empty; expected {want}", 422)
    if dtype == "int64":
        if not all(isinstance(v, int) for v in numbers):
            raise RequestError(f"{name!r} must hold integers", 422)
        if not all(INT64_MIN <= v <= INT64_MAX for v in numbers):
            raise RequestError(f"{name!r} holds integers outside the int64 range", 422)
        return np.asarray(numbers, dtype=np.int64).reshape(got)
    try:
        arr = np.asarray(numbers, dtype=np.float64).reshape(got)
    except OverflowError:  # a JSON integer beyond float64
        raise RequestError(
            f"{name!r} holds numbers outside the float32 range (|x| <= {FLOAT32_MAX:.4g})", 422
        ) from None
    if not np.all(np.isfinite(arr)):
        raise RequestError(f"{name!r} contains NaN or infinite values", 422)
    if np.abs(arr).max() > FLOAT32_MAX:
        raise RequestError(
            f"{name!r} holds numbers outside the float32 range (|x| <= {FLOAT32_MAX:.4g}); "
            "the model computes in float32",
            422,
        )
    return arr.astype(np.float32)
