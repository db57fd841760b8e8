"""The origin stub plus ``/seq/<name>``, a route each test scripts (modelled on cache-tests.fyi).

A test lists the responses the origin gives, in order (the last one repeats), and can
read back the requests the origin saw (to check conditional revalidation). A scripted
``Date`` is sent verbatim (``None`` drops the field), so Date/Age arithmetic can be
exercised exactly. Time moves only through the fake clock.

A test module takes the route by importing the ``origin`` fixture, which overrides the
one in tests/conftest.py (so the ``edge`` fixture fronts this origin)::

    from tests.support.scripted_origin import origin as origin
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from edge.clock import FakeClock
from origin_stub.app import make_app as make_origin_app
from origin_stub.httpdate import format_http_date
from tests.support.helpers import fetch, is_hit

Header = tuple[str, str | None]


@dataclass
class Reply:
    """One scripted origin response."""

    status: int = 200
    headers: list[Header] = field(default_factory=list)
    body: bytes | None = None  # None: a body naming the route and serve number


@dataclass
class Seen:
    method: str
    headers: CIMultiDict[str]


SCRIPTS = web.AppKey("seq_scripts", dict)
SEEN = web.AppKey("seq_seen", dict)
DATE = web.RequestKey("seq_date", object)
_NO_DATE = object()


async def _seq(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    scripts: dict[str, list[Reply]] = request.app[SCRIPTS]
    seen: dict[str, list[Seen]] = request.app[SEEN]
    await request.read()
    seen.setdefault(name, []).append(Seen(request.method, CIMultiDict(request.headers)))
    queue = scripts.get(name) or [Reply(404, [("Cache-Control", "no-store")], b"unscripted")]
    reply = queue.pop(0) if len(queue) > 1 else queue[0]
    headers: CIMultiDict[str] = CIMultiDict()
    for k, v in reply.headers:
        if k.lower() == "date":
            request[DATE] = _NO_DATE if v is None else v
        elif v is not None:
            headers.add(k, v)
    if reply.status == 304 or reply.status == 204:
        return web.Response(status=reply.status, headers=headers)
    body = reply.body
    if body is None:
        body = f"{name} #{len(seen[name])}".encode()
    headers.setdefault("Content-Type", "text/plain")
    return web.Response(status=reply.status, headers=headers, body=body)


async def _scripted_date(request: web.Request, response: web.StreamResponse) -> None:
    # Runs after the stub's own hook, which stamps Date from the fake clock.
    if DATE in request:
        value = request[DATE]
        response.headers.popall("Date", None)
        if value is not _NO_DATE:
            response.headers["Date"] = str(value)


@pytest.fixture
async def origin(aiohttp_server: Any, clock: FakeClock) -> TestServer:
    """The origin stub plus ``/seq/<name>`` (overrides the conftest fixture)."""
    app = make_origin_app(clock=clock.now)
    app[SCRIPTS] = {}
    app[SEEN] = {}
    app.router.add_route("*", "/seq/{name}", _seq)
    app.on_response_prepare.append(_scripted_date)
    server: TestServer = await aiohttp_server(app)
    return server


def script(edge: Any, name: str, *replies: Reply) -> str:
    """Script the replies of ``/seq/<name>``; returns that path."""
    edge.origin.app[SCRIPTS][name] = list(replies)
    return f"/seq/{name}"


def seen(edge: Any, name: str) -> list[Seen]:
    """The requests ``/seq/<name>`` received, oldest first."""
    out: list[Seen] = edge.origin.app[SEEN].get(name, [])
    return out


def ok(*headers: Header, body: bytes | None = None, status: int = 200) -> Reply:
    return Reply(status, list(headers), body)


def not_modified(*headers: Header) -> Reply:
    return Reply(304, list(headers))


def hd(edge: Any, offset: float = 0) -> str:
    """An HTTP-date ``offset`` seconds from the fake clock's now."""
    return format_http_date(edge.clock.now() + offset)


async def reused(edge: Any, path: str, *reply_headers: Header, wait: float = 0, **kw: Any) -> bool:
    """Store once, wait, ask again: was the second answer served from the cache?"""
    name = path.rsplit("/", 1)[-1]
    script(edge, name, ok(*reply_headers))
    await fetch(edge, path, **kw)
    edge.clock.advance(wait)
    r, _ = await fetch(edge, path, **kw)
    hit = is_hit(r)
    assert hit == (len(seen(edge, name)) == 1)
    return hit
