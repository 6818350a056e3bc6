"""TorchServe adapter over the request core: a TorchServe batch in, one strict-JSON body per request out,
with each request's status, standard reason phrase and ``application/json`` set on the context."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from .base import Answer, RequestError, ZooHandler


def handle(handler: ZooHandler, data: list[dict[str, Any]], context: Any) -> list[str]:
    """TorchServe's ``handle(data, context)`` for ``handler``; never raises for a bad request."""
    payloads: list[Any] = []
    described: dict[int, Answer] = {}
    for i, request in enumerate(data):
        if _header(context, i, "describe"):
            described[i] = handler.success(handler.describe())
            continue
        try:
            payloads.append(_payload(handler, request, _content_type(context, i)))
        except RequestError as e:
            payloads.append(e)
    answered = iter(handler.answer(payloads))
    answers = [described[i] if i in described else next(answered) for i in range(len(data))]
    for i, answer in enumerate(answers):
        if context is not None and hasattr(context, "set_response_content_type"):
            if answer.status != 200:
                context.set_response_status(code=answer.status, phrase=HTTPStatus(answer.status).phrase, idx=i)
            context.set_response_content_type(i, "application/json")
    return [a.text for a in answers]


def _payload(handler: ZooHandler, request: dict[str, Any], content_type: str) -> Any:
    """The request's body: raw bytes/text decoded by the core, or JSON TorchServe already parsed."""
    value = request.get("data")
    if value is None:
        value = request.get("body")
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, str)):
        return handler.read_body(value, content_type)
    return value  # already parsed by a TorchServe that decodes JSON bodies itself


def _content_type(context: Any, index: int) -> str:
    """The request body's content type as TorchServe reports it ("" when unknown)."""
    if context is None or not hasattr(context, "get_request_header"):
        return ""
    for key in ("body", "data", "Content-Type", "content-type"):  # the body part's own type, else the request's
        try:
            value = context.get_request_header(index, key)
        except Exception:
            value = None
        if isinstance(value, dict):
            value = value.get("content-type")
        if isinstance(value, str) and value:
            return value
    return ""


def _header(context: Any, index: int, key: str) -> bool:
    if context is None or not hasattr(context, "get_request_header"):
        return False
    try:
        value = context.get_request_header(index, key)
    except Exception:
        return False
    return str(value).lower() in ("1", "true", "yes")
