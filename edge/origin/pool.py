"""Keep-alive connections to the origins, within ``origin.max_connections`` (per host too).

One pool per node, shared by every :class:`~edge.origin.client.OriginClient` (the origin and
each parent): a host is ``(scheme, host, port)``. Idle connections are reused most recently
used first (the warmest) and closed after ``origin.keepalive_timeout`` (RFC 9112 §9.5: either
side may close an idle connection, so a reused one may be found closed: see
:class:`~edge.origin.connection.StaleConnection`).

Before an idle connection is handed out, its socket is polled once without waiting: a
readable socket holds bytes nobody asked for, or the origin's close, and is discarded rather
than sent a request whose answer those bytes would be taken for (RFC 9112 §6.3, issue 14).

When the limits are reached, a request waits (FIFO) for a connection to come back or a slot
to free up, within its first-byte deadline; an idle connection to another host is closed to
make room. TLS (``https://`` origins) is asyncio's, with the context of ``origin.tls``
(:mod:`edge.origin.tls`): certificates and host names verified unless told otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import ssl
from collections import deque
from dataclasses import dataclass

from edge.config import OriginConfig
from edge.errors import UpstreamConnectError, UpstreamTimeout, UpstreamTLSError
from edge.origin.connection import OriginConnection

log = logging.getLogger("edge.origin")

Key = tuple[str, str, int]  # scheme, host, port


@dataclass(slots=True)
class _Waiter:
    key: Key
    future: asyncio.Future[OriginConnection | None]  # a connection, or None: a slot to open one


class ConnectionPool:
    """Implements the connections' :class:`~edge.origin.connection.Owner`."""

    def __init__(self, cfg: OriginConfig, *, tls: ssl.SSLContext | None = None) -> None:
        self._limit = cfg.max_connections  # 0: no limit
        self._per_host = cfg.max_connections_per_host  # 0: no limit
        self._keepalive = cfg.keepalive_timeout
        self._connect_timeout = cfg.connect_timeout
        self._idle: dict[Key, dict[OriginConnection, None]] = {}
        self._open = 0
        self._open_by: dict[Key, int] = {}
        self._all: set[OriginConnection] = set()
        self._waiters: deque[_Waiter] = deque()
        self._tls = tls  # None: ssl.create_default_context(), made when first needed
        self._poll = select.poll() if hasattr(select, "poll") else None
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False
        self.opened = 0  # connections made, all time
        self.reused = 0  # requests sent on a kept-alive connection, all time

    # -- getting a connection ------------------------------------------------------------
    async def acquire(self, key: Key, *, within: float, fresh: bool = False) -> OriginConnection:
        """A connection to ``key`` for one exchange, within ``within`` seconds.

        ``fresh``: a new connection, not an idle one (a retry after a stale one).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if self._closed:
                raise UpstreamConnectError("edge is shutting down: no origin connections")
            conn = None if fresh else self._take_idle(key, loop.time())
            if conn is not None:
                self.reused += 1
                return conn
            if not self._has_room(key):
                self._evict_idle_elsewhere(key)
            if self._has_room(key):
                self._reserve(key)
                return await self._connect(key, deadline - loop.time())
            got = await self._wait(key, deadline - loop.time())
            if got is None:  # a slot was reserved for us
                return await self._connect(key, deadline - loop.time())
            if self._usable(got, loop.time()):
                self.reused += 1
                return got
            self._close(got)

    async def _wait(self, key: Key, within: float) -> OriginConnection | None:
        waiter = _Waiter(key, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(max(within, 0.0)):
                return await waiter.future
        except BaseException as exc:
            self._give_back(waiter)
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout(
                    f"no origin connection free within {within:g}s"
                    f" (origin.max_connections {self._limit},"
                    f" max_connections_per_host {self._per_host})"
                ) from None
            raise

    def _give_back(self, waiter: _Waiter) -> None:
        """A waiter that gave up: what it was handed (a connection, a slot) goes back."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        future = waiter.future
        if not future.done():
            future.cancel()
        elif not future.cancelled() and future.exception() is None:
            got = future.result()
            if got is None:
                self._unreserve(waiter.key)
            else:
                self.release(got, True)

    async def _connect(self, key: Key, budget: float) -> OriginConnection:
        """Open a connection for a reserved slot; the slot is given back if it fails."""
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        conn = OriginConnection(self, key, loop)
        conn.counted = True
        self._all.add(conn)
        seconds = max(min(self._connect_timeout, budget), 0.0)
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(seconds):
                await loop.create_connection(
                    lambda: conn,
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError:
            self._forget(conn)
            raise UpstreamTimeout(
                f"cannot connect to origin {host}:{port} within {seconds:g}s"
            ) from None
        except OSError as exc:  # refused, reset, DNS, TLS (ssl.SSLError is an OSError)
            self._forget(conn)
            if isinstance(exc, ssl.SSLError):  # the certificate, its name, or the protocol
                # the reason names the origin's certificate: the log has it, the client not
                log.warning("TLS handshake with origin %s:%d refused: %s", host, port, exc)
                raise UpstreamTLSError("the origin's TLS handshake failed") from exc
            raise UpstreamConnectError(f"cannot connect to origin {host}:{port}: {exc}") from exc
        except BaseException:
            self._forget(conn)
            conn.close()
            raise
        self.opened += 1
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _take_idle(self, key: Key, now: float) -> OriginConnection | None:
        idle = self._idle.get(key)
        while idle:
            conn, _ = idle.popitem()  # the most recently used
            conn.idle = False
            if self._usable(conn, now):
                return conn
            self._close(conn)
        return None

    def _usable(self, conn: OriginConnection, now: float) -> bool:
        if conn.lost or not conn.reusable or now - conn.idle_since > self._keepalive:
            return False
        poll = self._poll
        if poll is None or conn.fd < 0:
            return True
        poll.register(conn.fd, select.POLLIN)
        try:
            return not poll.poll(0)  # readable: unsolicited bytes, or the origin's close
        finally:
            poll.unregister(conn.fd)

    # -- limits --------------------------------------------------------------------------
    def _has_room(self, key: Key) -> bool:
        return (self._limit == 0 or self._open < self._limit) and (
            self._per_host == 0 or self._open_by.get(key, 0) < self._per_host
        )

    def _reserve(self, key: Key) -> None:
        self._open += 1
        self._open_by[key] = self._open_by.get(key, 0) + 1

    def _unreserve(self, key: Key) -> None:
        self._open -= 1
        left = self._open_by[key] - 1
        if left:
            self._open_by[key] = left
        else:
            del self._open_by[key]
        self._wake_for_slot()

    def _evict_idle_elsewhere(self, key: Key) -> None:
        """At the total limit, close the longest-idle connection to another host."""
        if self._limit == 0 or self._open < self._limit:
            return
        if self._per_host and self._open_by.get(key, 0) >= self._per_host:
            return  # this host's own limit: closing another's would not help
        oldest: OriginConnection | None = None
        for other, idle in self._idle.items():
            if other != key and idle:
                first = next(iter(idle))
                if oldest is None or first.idle_since < oldest.idle_since:
                    oldest = first
        if oldest is not None:
            self._close(oldest)

    def _wake_for_slot(self) -> None:
        for waiter in self._waiters:
            if not waiter.future.done() and self._has_room(waiter.key):
                self._waiters.remove(waiter)
                self._reserve(waiter.key)
                waiter.future.set_result(None)
                return

    # -- connections coming back (Owner) ----------------------------------------------------
    def release(self, conn: OriginConnection, reusable: bool) -> None:
        if not reusable or self._closed or conn.lost:
            self._close(conn)
            return
        key = conn.key
        other_waits = False
        for waiter in self._waiters:
            if waiter.future.done():
                continue
            if waiter.key == key:
                self._waiters.remove(waiter)
                conn.idle_since = conn.loop.time()
                waiter.future.set_result(conn)
                return
            other_waits = True
        if other_waits:  # another host needs the slot more than this one needs an idle one
            self._close(conn)
            return
        conn.idle_since = conn.loop.time()
        conn.idle = True
        self._idle.setdefault(key, {})[conn] = None
        if self._sweep is None:
            self._sweep = conn.loop.call_later(self._keepalive, self._sweep_idle)

    def gone(self, conn: OriginConnection) -> None:
        self._forget(conn)

    def _close(self, conn: OriginConnection) -> None:
        self._forget(conn)
        conn.close()

    def _forget(self, conn: OriginConnection) -> None:
        self._all.discard(conn)
        if conn.idle:
            conn.idle = False
            idle = self._idle.get(conn.key)
            if idle is not None:
                idle.pop(conn, None)
        if conn.counted:
            conn.counted = False
            self._unreserve(conn.key)

    def _sweep_idle(self) -> None:
        """Close what has been idle longer than ``origin.keepalive_timeout``."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        left = False
        for idle in list(self._idle.values()):
            for conn in list(idle):
                if now - conn.idle_since >= self._keepalive:
                    self._close(conn)
                else:
                    left = True
        if left and not self._closed:
            self._sweep = loop.call_later(self._keepalive / 2, self._sweep_idle)

    def busy(self, key: Key) -> int:
        """Connections to ``key`` opening or in an exchange (least-connections balancing)."""
        return self._open_by.get(key, 0) - len(self._idle.get(key, ()))

    # -- the end ---------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        idle = sum(len(v) for v in self._idle.values())
        return {"open": self._open, "idle": idle, "opened": self.opened, "reused": self.reused}

    async def close(self) -> None:
        """Close every connection (busy ones break off) and refuse new ones."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for waiter in list(self._waiters):
            if not waiter.future.done():
                waiter.future.set_exception(UpstreamConnectError("edge is shutting down"))
        self._waiters.clear()
        for conn in list(self._all):
            self._close(conn)
        with contextlib.suppress(Exception):
            await asyncio.sleep(0)  # let the transports report their close
