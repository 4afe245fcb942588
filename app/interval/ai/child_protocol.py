"""The messages between the viewer and a model's process: plain JSON, checked on receipt.

Nothing crosses the process boundary as a pickle: every message is one JSON object
sent with ``Connection.send_bytes`` and read with ``recv_bytes(maxlength=...)``, and
each side accepts only the message kinds and field types listed here.  A message
from the model's process that is too large, not JSON, of an unknown kind, or with a
missing, extra or mistyped field raises :class:`ProtocolError`: the model misbehaved.

Parent -> child:

* ``{"kind": "job", "target": str, "inputs": [{"key": str, "array": spec}],
  "kwargs": {...}, "memory": {"limit": int, "headroom": int, "address_space": bool}}``
  (``limit`` 0: none; ``address_space``: also cap RLIMIT_AS, see the runner);
* ``{"kind": "go"}`` once the parent has noted the process's memory use at the start;
* ``{"kind": "outputs", "outputs": [spec]}`` segments created for the results;
* ``{"kind": "cancel"}`` when the user cancels.

Child -> parent:

* ``{"kind": "ready"}`` the inputs are mapped and the memory limit set;
* ``{"kind": "progress", "done": int, "total": int}``;
* ``{"kind": "alloc", "outputs": [{"key": str, "shape": [int], "dtype": str}]}``;
* ``{"kind": "done", "info": {...}}`` the outputs are copied in;
* ``{"kind": "error", "error": "failed" | "memory" | "cancelled", "type": str,
  "interval_error": str | null, "message": str | null, "traceback": str}``:
  ``interval_error`` is the qualified name of an IntervalError class (the parent only
  maps names of its own error classes, never imports anything), ``message`` is null
  when the exception's text could not be read.

``spec`` is :meth:`interval.ai.shm.ArraySpec.to_dict`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_CHILD_MESSAGE_BYTES",
    "MAX_PARENT_MESSAGE_BYTES",
    "ProtocolError",
    "encode",
    "parse_from_child",
    "parse_from_parent",
    "plain_text",
]

MAX_CHILD_MESSAGE_BYTES = 4 * 2**20  # the largest message the parent reads
MAX_PARENT_MESSAGE_BYTES = 64 * 2**20  # the job's keyword arguments travel in one message
MAX_MESSAGE_CHARS = 2000  # an error's text
MAX_TRACEBACK_CHARS = 20_000  # an error's traceback (its end is kept)
MAX_OUTPUTS = 64
MAX_NDIM = 32
MAX_DIM = 2**40
_DTYPE = re.compile(r"^[<>|=]?[biufc][1-9]\d?$")  # numeric / bool dtypes only: "<f4", "|u1"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class ProtocolError(ValueError):
    """A message broke the protocol (too large, not JSON, unknown kind, wrong fields)."""


def encode(message: dict[str, Any]) -> bytes:
    """One message as UTF-8 JSON (raises TypeError for anything that is not plain data)."""
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except ValueError as exc:  # a circular reference
        raise TypeError(str(exc)) from None


def plain_text(text: str, limit: int, *, keep_end: bool = False) -> str:
    """``text`` without control characters (except newline and tab) nor bidirectional
    overrides, at most ``limit`` characters (the start, or the end with ``keep_end``)."""
    text = _CONTROL.sub("", str(text))
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1):] if keep_end else text[: limit - 1] + "…"


# --- field checks -------------------------------------------------------------------------

Check = Callable[[Any], Any]


def _int(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            raise ProtocolError(f"expected a whole number from {low} to {high}")
        return value

    return check


def _str(limit: int) -> Check:
    def check(value: Any) -> str:
        if type(value) is not str or len(value) > limit:
            raise ProtocolError(f"expected a text of at most {limit} characters")
        return value

    return check


def _optional(inner: Check) -> Check:
    return lambda value: None if value is None else inner(value)


def _choice(*allowed: str) -> Check:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ProtocolError(f"expected one of {', '.join(allowed)}")
        return value

    return check


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise ProtocolError("expected a JSON object")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise ProtocolError("expected true or false")
    return value


def _dtype(value: Any) -> str:
    if type(value) is not str or not _DTYPE.match(value):
        raise ProtocolError("expected a numeric dtype such as '<f4'")
    return value


def _shape(value: Any) -> list[int]:
    if type(value) is not list or len(value) > MAX_NDIM:
        raise ProtocolError(f"expected a shape of at most {MAX_NDIM} dimensions")
    return [_int(0, MAX_DIM)(v) for v in value]


def _fields(schema: dict[str, Check]) -> Check:
    def check(value: Any) -> dict[str, Any]:
        value = _object(value)
        if set(value) != set(schema):
            raise ProtocolError(f"expected the fields {sorted(schema)}, got {sorted(value)[:10]}")
        out = {}
        for key, field_check in schema.items():
            try:
                out[key] = field_check(value[key])
            except ProtocolError as exc:
                raise ProtocolError(f"{key}: {exc}") from None
        return out

    return check


def _list(inner: Check, limit: int) -> Check:
    def check(value: Any) -> list[Any]:
        if type(value) is not list or len(value) > limit:
            raise ProtocolError(f"expected a list of at most {limit} entries")
        return [inner(v) for v in value]

    return check


_SPEC = _fields({"name": _str(4096), "shape": _shape, "dtype": _dtype,
                 "kind": _choice("shm", "file")})
_LAYOUT = _fields({"key": _str(200), "shape": _shape, "dtype": _dtype})
_INPUT = _fields({"key": _str(200), "array": _SPEC})

CHILD_MESSAGES: dict[str, dict[str, Check]] = {
    "ready": {},
    "progress": {"done": _int(-2**53, 2**53), "total": _int(-2**53, 2**53)},
    "alloc": {"outputs": _list(_LAYOUT, MAX_OUTPUTS)},
    "done": {"info": _object},
    "error": {
        "error": _choice("failed", "memory", "cancelled"),
        "type": _str(200),
        "interval_error": _optional(_str(400)),
        "message": _optional(_str(MAX_MESSAGE_CHARS)),
        "traceback": _str(MAX_TRACEBACK_CHARS),
    },
}
PARENT_MESSAGES: dict[str, dict[str, Check]] = {
    "job": {
        "target": _str(1000),
        "inputs": _list(_INPUT, 10_000),
        "kwargs": _object,
        "memory": _fields({"limit": _int(0, 2**62), "headroom": _int(0, 2**62),
                           "address_space": _bool}),
    },
    "go": {},
    "outputs": {"outputs": _list(_SPEC, MAX_OUTPUTS)},
    "cancel": {},
}


def _parse(data: bytes, schemas: dict[str, dict[str, Check]]) -> dict[str, Any]:
    try:
        message = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError, MemoryError) as exc:  # not UTF-8 / JSON, too deep
        raise ProtocolError(f"not a JSON message ({type(exc).__name__})") from None
    if type(message) is not dict or type(message.get("kind")) is not str:
        raise ProtocolError("a message must be a JSON object with a 'kind'")
    kind = message.pop("kind")
    schema = schemas.get(kind)
    if schema is None:
        raise ProtocolError(f"unknown message kind {plain_text(kind, 40)!r}")
    try:
        fields = _fields(schema)(message)
    except ProtocolError as exc:
        raise ProtocolError(f"message {kind!r}: {exc}") from None
    return {"kind": kind, **fields}


def parse_from_child(data: bytes) -> dict[str, Any]:
    """A checked message from the model's process (raises :class:`ProtocolError`)."""
    return _parse(data, CHILD_MESSAGES)


def parse_from_parent(data: bytes) -> dict[str, Any]:
    """A checked message from the viewer (in the model's process)."""
    return _parse(data, PARENT_MESSAGES)
