"""The origin's mutable state, reached through one typed AppKey.

Everything a test may want to inspect or reset lives in :class:`OriginState`;
nothing is kept at module level, so two apps in one process never share counts.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

__all__ = [
    "STATE",
    "DownMode",
    "OriginState",
    "Resource",
    "abort_connection",
    "pause",
    "request_key",
]


class DownMode(enum.Enum):
    """How the origin misbehaves while switched down."""

    UNAVAILABLE = "503"
    RESET = "reset"


@dataclass(frozen=True, slots=True)
class Resource:
    """A stored ``/res/{name}`` document."""

    body: bytes
    content_type: str
    version: int

    @property
    def etag(self) -> str:
        return f'"res-v{self.version}"'


class OriginState:
    """Counters, switches and stored resources of one origin app."""

    __slots__ = (
        "api_versions",
        "clock",
        "counts",
        "down",
        "last_headers",
        "next_version",
        "resources",
        "served",
        "shutdown",
    )

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        # Set on app shutdown so that hanging handlers return instead of
        # holding the server's graceful shutdown for minutes.
        self.shutdown = asyncio.Event()
        self.counts: dict[str, int] = {}
        self.last_headers: dict[str, dict[str, str]] = {}
        self.served: dict[str, int] = {}
        self.api_versions: dict[str, int] = {}
        self.resources: dict[str, Resource] = {}
        self.next_version = 1
        self.down: DownMode | None = None

    def reset(self) -> None:
        """Forget every count, version, resource and the down switch."""
        self.counts.clear()
        self.last_headers.clear()
        self.served.clear()
        self.api_versions.clear()
        self.resources.clear()
        self.next_version = 1
        self.down = None

    def record(self, request: web.Request) -> None:
        """Count a request and remember the headers it arrived with."""
        key = request_key(request)
        self.counts[key] = self.counts.get(key, 0) + 1
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            name = str(name)
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.last_headers[key] = headers

    def next_serve(self, request: web.Request) -> int:
        """Number this full (non-304) response for the request's path and query."""
        key = request_key(request)
        self.served[key] = self.served.get(key, 0) + 1
        return self.served[key]

    def take_version(self) -> int:
        version = self.next_version
        self.next_version += 1
        return version

    def snapshot(self) -> dict[str, object]:
        return {"counts": dict(self.counts), "last_headers": dict(self.last_headers)}


STATE = web.AppKey("origin_state", OriginState)


def request_key(request: web.Request) -> str:
    """The stats key: the path and ``?query`` exactly as the client sent them."""
    return request.raw_path


async def pause(state: OriginState, seconds: float) -> bool:
    """Wait ``seconds`` or until shutdown; True when cut short by shutdown."""
    if seconds <= 0:
        return state.shutdown.is_set()
    try:
        async with asyncio.timeout(seconds):
            await state.shutdown.wait()
    except TimeoutError:
        return False
    return True


def abort_connection(request: web.Request) -> None:
    """Drop the connection with a TCP RST, as a crashing origin would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 turns close() into an RST instead of an orderly FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
