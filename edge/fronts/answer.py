"""One request of either protocol answered through the engine: what both fronts share.

``answer`` is the part of serving a request that HTTP/1.1 (``H1Front.serve``) and
HTTP/2 (``edge.fronts.h2_stream.serve``) have in common: the engine's response
(``H1Front.respond``), sent by the protocol's own ``send``; when sending fails before
the head went out (a spool that broke, a bug), the client gets an error answer
instead (the error's own status, or 500 for a bug; never a traceback), and the
answer is counted and logged (``H1Front.finished``) whatever happened, a client
that left included. Hot-path hits do not come here: each front writes and counts
them itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from edge.errors import EdgeError
from edge.fronts.h1_body import RequestBody
from edge.models import FrozenHeaders, ProxyRequest, ProxyResponse

if TYPE_CHECKING:
    from edge.fronts.h1_server import H1Front


class FrontRequest(Protocol):
    """A request either protocol parsed, as ``respond`` and the access log read it."""

    method: str
    raw_target: str
    target: str
    host: str
    version: str  # "1.1", "2"
    started_at: float

    @property
    def request_id(self) -> str: ...

    @property
    def body(self) -> RequestBody | None: ...

    def header_view(self) -> FrozenHeaders: ...

    def proxy_request(self, scheme: str, client_ip: str) -> ProxyRequest: ...


class Interim(Protocol):
    def __call__(self, status: int, fields: list[tuple[str, str]]) -> None: ...

    def close(self) -> None: ...


class FrontConnection(Protocol):
    """An open client connection of either protocol, as shutdown and the log see it."""

    peer: str

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...

    def tasks(self) -> list[asyncio.Task[None]]: ...


async def answer(
    front: H1Front,
    conn: FrontConnection,
    req: FrontRequest,
    made: ProxyResponse | None,
    interim: Interim | None,
    send: Callable[[ProxyResponse], Awaitable[int]],
) -> bool:
    """Answer ``req`` with ``made`` (an answer made without the engine) or the engine's
    response; False when the client went away before it was all sent."""
    status, size, cache_status = 0, 0, ""
    answered: ProxyResponse | None = None
    first_byte: float | None = None
    try:
        if made is None:
            resp = await front.respond(req, conn.peer, interim)
            first_byte = front.timers.time() - req.started_at
        else:
            resp = made
        for attempt in (1, 2):
            status, answered = resp.status, resp
            cache_status = resp.headers.get("Cache-Status", "")
            try:
                size = await send(resp)
                break
            except (ConnectionResetError, asyncio.CancelledError):
                raise
            except EdgeError as exc:  # before the head: an error answer instead
                if attempt == 2:
                    raise
                resp = front.error_response(req, exc)
            except Exception:
                if attempt == 2:
                    raise
                resp = front.internal_response(req)
    except ConnectionResetError:
        return False
    finally:
        front.finished(conn, req, status, size, cache_status, answered, first_byte)
    return True
