"""The admin API's JSON in and out: Struct answers, error bodies, decoded request bodies."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

from edge.errors import ClientRequestError
from edge.runtime.workers import FANOUT_HEADER
from edge.web.admin_schema import MAX_BODY, ErrorAnswer


def json_answer(value: msgspec.Struct, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


def error_answer(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = msgspec.json.encode(ErrorAnswer(error=message))
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


async def decode_body(request: web.Request, kind: type[Any]) -> Any:
    """The body as ``kind``; 400 naming the problem, 413 over 1 MiB."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    raw = await request.read()  # aiohttp stops at client_max_size with 413
    if not raw.strip():
        raise ClientRequestError("the request body is empty; send a JSON object")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise ClientRequestError(f"invalid request body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ClientRequestError(f"the request body is not valid JSON: {exc}") from None


def from_worker(request: web.Request) -> bool:
    """A fan-out from the leader worker: honoured on the private Unix socket only, never on
    the public admin port (there it would skip the other workers and the cluster)."""
    if request.headers.get(FANOUT_HEADER) != "1" or request.transport is None:
        return False
    sock = request.transport.get_extra_info("socket")
    return sock is not None and sock.family == socket.AF_UNIX
