"""Property-based fuzzing of every handler class, in process, with Hypothesis.

For arbitrary bytes, arbitrary JSON values and structurally plausible but wrong requests (wrong types,
shapes, ranges, sizes, encodings, content types), alone and in batches, a handler never raises and
answers every request with either a valid answer (200) or a 4xx; every body is strict JSON (NaN and
Infinity refused), marked ``application/json``, and an error body stays short whatever was sent.
The handlers run as TorchServe runs them: the archive's own files, TorchServe's real ``Context``.

Runs are derandomised (the same examples every run, so CI is reproducible); ``ZOO_FUZZ=explore``
draws fresh examples and ``ZOO_FUZZ_EXAMPLES=N`` sets how many per test.
"""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from http import HTTPStatus
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

pytest.importorskip("ts.context", reason="TorchServe's Python package provides the request context")
from ts.context import Context, RequestProcessor

from handlers.engine_torchserve import handle
from handlers.tasks import load_handler

EXAMPLES = int(os.environ.get("ZOO_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("ZOO_FUZZ") != "explore",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
#: The longest error body any request may produce (messages quote short excerpts only).
MAX_ERROR_BODY = 2500
PHRASES = {s.phrase for s in HTTPStatus}
CONTENT_TYPES = [
    "application/json",
    "application/octet-stream",
    "text/plain",
    "image/png",
    "",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "application/ld+json",
]
#: One archive (ONNX runtime) per handler class.
HANDLED = {
    "classifier": "ImageClassifierHandler",
    "autoencoder": "AutoencoderHandler",
    "dcgan": "GeneratorHandler",
    "vae": "GeneratorHandler",
    "ngram": "LanguageModelHandler",
    "tagger": "TaggerHandler",
    "dqn": "QNetworkHandler",
    "rnn": "ZooHandler",
}


@pytest.fixture(scope="module")
def handlers(model_archives, tmp_path_factory) -> dict[str, Any]:
    """Each archive unpacked the way TorchServe unpacks it, its handler loaded from the archive's files."""
    root = tmp_path_factory.mktemp("unpacked")
    loaded = {}
    for base in HANDLED:
        folder = root / base
        with zipfile.ZipFile(model_archives["store"] / f"{base}-onnx.mar") as archive:
            archive.extractall(folder)
        loaded[base] = load_handler(folder)
        assert type(loaded[base]).__name__ == HANDLED[base]
    return loaded


def _context(content_types: list[str]) -> Context:
    ctx = Context("fuzz", ".", {}, len(content_types), None, "0.12.0")
    ctx.request_processor = [RequestProcessor({"Content-Type": c, "body": {"content-type": c}}) for c in content_types]
    return ctx


def _strict(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"response holds {token}: not JSON")

    return json.loads(text, parse_constant=refuse)


def answer(handler: Any, requests: list[tuple[bytes, str]]) -> list[tuple[int, Any]]:
    """Run ``requests`` (body, content type) as one TorchServe batch; check the properties every answer has."""
    ctx = _context([c for _, c in requests])
    bodies = handle(handler, [{"body": body} for body, _ in requests], ctx)
    assert isinstance(bodies, list) and len(bodies) == len(requests)
    results = []
    for i, text in enumerate(bodies):
        assert isinstance(text, str)
        parsed = _strict(text)
        code = ctx.request_processor[i].get_response_status_code() or 200
        phrase = ctx.request_processor[i].get_response_status_phrase()
        assert ctx.get_response_headers(i).get("content-type") == "application/json"
        if code == 200:
            assert isinstance(parsed, dict) and "error" not in parsed, parsed
        else:
            assert 400 <= code < 500, (code, parsed)
            assert isinstance(parsed, dict) and isinstance(parsed.get("error"), str) and parsed["status"] == code
            assert len(text) <= MAX_ERROR_BODY, f"{len(text)}-byte error body"
            assert phrase in PHRASES, phrase  # the reason phrase never carries client text
        results.append((code, parsed))
    return results


# ------------------------------------------------------------------------------------------ strategies
json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
#: Numbers of every kind a JSON array can carry, extremes included (NaN/Infinity are encoded as the
#: non-JSON tokens Python writes for them, which a strict server must refuse).
numbers = st.one_of(
    st.integers(-300, 300),
    st.floats(-1e3, 1e3),
    st.floats(),
    st.integers(-(2**80), 2**80),
    st.sampled_from([1e39, -3.5e38, 3.4e38, 1e308, 5e-324, 2**63, -(2**63) - 1]),
)
nested_numbers = st.recursive(numbers, lambda inner: st.lists(inner, max_size=4), max_leaves=30)
oversized_text = st.integers(1, 200_000).map(lambda n: "w" * n)


@st.composite
def shaped_array(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    """A nested list of exactly ``shape`` (a right-shaped request whose values may still be wrong)."""
    flat = draw(
        st.lists(st.one_of(st.integers(0, 255), numbers), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
    )
    return np.asarray(flat, dtype=object).reshape(shape).tolist()


@st.composite
def image_bytes(draw: st.DrawFn) -> bytes:
    """A valid image file: any size up to 64 px, mode and common format."""
    fmt = draw(st.sampled_from(["PNG", "JPEG", "BMP", "GIF", "TIFF"]))
    modes = {
        "PNG": ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"],
        "JPEG": ["L", "RGB", "CMYK"],
        "BMP": ["1", "L", "P", "RGB"],
        "GIF": ["L", "P"],
        "TIFF": ["L", "RGB", "RGBA", "I", "F"],
    }[fmt]
    mode = draw(st.sampled_from(modes))
    width, height = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(pixels)  # RGBA
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)
    elif mode in ("I", "F"):
        image = image.convert("L").convert("I").convert(mode)
    else:
        image = image.convert(mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def plausible(handler: Any, base: str) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects with the endpoint's own field names (and a few others) holding values of every type."""
    spec_shapes = {s["name"]: tuple(s["shape"][1:]) for s in handler.input_specs}
    values = st.one_of(
        json_values,
        nested_numbers,
        numbers,
        st.text(max_size=30),
        oversized_text,
        st.lists(st.text(max_size=10), max_size=6),
        st.lists(st.text(max_size=3), min_size=250, max_size=300),
        st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()),
        image_bytes().map(lambda b: base64.b64encode(b).decode()),
        *[
            shaped_array(tuple(int(d) for d in shape))
            for shape in spec_shapes.values()
            if all(isinstance(d, int) for d in shape)
        ],
        shaped_array((28, 28)) if base in ("classifier", "autoencoder") else st.nothing(),
    )
    keys = st.one_of(st.sampled_from(list(handler.fields)), st.text(max_size=6), oversized_text)
    return st.dictionaries(keys, values, max_size=3)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN/Infinity become the non-JSON tokens NaN/Infinity


content_types = st.sampled_from(CONTENT_TYPES)


# ------------------------------------------------------------------------------------------ properties
@pytest.mark.parametrize("base", list(HANDLED))
@FUZZ
@given(body=st.binary(max_size=2048), content_type=content_types)
def test_arbitrary_bytes(handlers, base, body, content_type):
    answer(handlers[base], [(body, content_type)])


@pytest.mark.parametrize("base", list(HANDLED))
@FUZZ
@given(value=json_values, encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]), content_type=content_types)
def test_arbitrary_json(handlers, base, value, encoding, content_type):
    body = json.dumps(value, ensure_ascii=False).encode(encoding, errors="replace")
    answer(handlers[base], [(body, content_type)])


@pytest.mark.parametrize("base", list(HANDLED))
@FUZZ
@given(data=st.data())
def test_plausible_but_wrong_requests(handlers, base, data):
    request = data.draw(plausible(handlers[base], base))
    [(code, body)] = answer(handlers[base], [(_json(request), data.draw(content_types))])
    if code == 200:  # an accepted request only had fields of this endpoint
        assert set(request) <= set(handlers[base].fields)


@pytest.mark.parametrize("base", ["classifier", "dqn", "tagger", "dcgan"])
@FUZZ
@given(data=st.data())
def test_a_batch_answers_each_request_as_alone(handlers, base, data):
    """TorchServe batches requests; one bad request never changes what the others get."""
    handler = handlers[base]
    requests = data.draw(
        st.lists(
            st.one_of(
                st.tuples(plausible(handler, base).map(_json), content_types),
                st.tuples(st.binary(max_size=256), content_types),
            ),
            min_size=2,
            max_size=5,
        )
    )
    together = answer(handler, requests)
    alone = [answer(handler, [r])[0] for r in requests]
    assert [c for c, _ in together] == [c for c, _ in alone]


@pytest.mark.parametrize("base", ["classifier", "autoencoder"])
@FUZZ
@given(image=image_bytes(), as_json=st.booleans())
def test_every_valid_image_gets_an_answer(handlers, base, image, as_json):
    body = _json({"image": base64.b64encode(image).decode()}) if as_json else image
    [(code, answer_body)] = answer(handlers[base], [(body, "application/json" if as_json else "image/png")])
    assert code == 200, answer_body


# ------------------------------------------------------------------------------------------ the trial's cases
TRIAL = [  # (endpoint, body, status, words in the message): the defects a hostile-input trial found
    ("dqn", b'{"state": [1e39, 0, 0, 0]}', 422, "float32 range"),
    ("dqn", b'{"state": [0, 0, 0, NaN]}', 400, "NaN is not valid JSON"),
    ("dqn", b'{"state": [0, 0, 0, 1e400]}', 422, "outside the range"),
    ("tagger", b'{"sentence": ["the"]}', 422, "'sentence' must be a string"),
    ("tagger", b'{"sentence": null}', 422, "'sentence' must be a string"),
    ("tagger", b'{"words": "the dog"}', 422, "'words' must be an array of strings"),
    ("ngram", b'{"text": 5}', 422, "'text' must be a string"),
    ("ngram", b'{"context": ["so", "gazed"], "top_k": true}', 422, "'top_k' must be an integer"),
    ("classifier", b'{"data": [[1, 2], [3]]}', 422, "jagged"),
    ("classifier", b'{"image": "aGk=", "invert": 1}', 422, "'invert' must be a string"),
    ("dcgan", b'{"n": "2"}', 422, "'n' must be an integer"),
    ("dcgan", b'{"seed": 1.5}', 422, "'seed' must be an integer"),
    ("rnn", b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nested too deeply"),
    ("dqn", b'{"' + b"k" * 1_000_000 + b'": 1}', 422, "unknown field"),
]


@pytest.mark.parametrize("base,body,status,words", TRIAL, ids=[f"{b}-{i}" for i, (b, *_) in enumerate(TRIAL)])
def test_hostile_trial_cases(handlers, base, body, status, words):
    [(code, answer_body)] = answer(handlers[base], [(body, "application/json")])
    assert code == status and words in answer_body["error"], answer_body


def test_a_model_output_that_is_not_finite_is_an_error_not_json_nan(handlers):
    """Outputs are checked too: a NaN answer (here a handler whose model returns NaN) is a 422 message."""
    handler = handlers["dqn"]
    original = handler.runtime.run
    handler.runtime.run = lambda inputs: [np.full((inputs[0].shape[0], 2), np.nan, np.float32)]
    try:
        [(code, body)] = answer(handler, [(b'{"state": [0, 0, 0, 0]}', "application/json")])
    finally:
        handler.runtime.run = original
    assert code == 422 and "not finite" in body["error"]


def test_messages_quote_client_text_briefly(handlers):
    long_word = "z" * 50_000
    [(code, body)] = answer(handlers["ngram"], [(_json({"context": ["so", long_word]}), "application/json")])
    assert code == 422 and "50,000 characters" in body["error"] and len(body["error"]) < 300
