"""``proxy.timeouts.send`` on HTTP/2, on the manual timer source: a stream whose window the
client keeps shut is reset (the connection and its other streams go on), a connection whose
transport stays paused is closed; a client that keeps taking bytes, however few, is not."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from h2.errors import ErrorCodes
from hyperframe.frame import WindowUpdateFrame

from edge.config import Config
from edge.fronts.h1_server import H1Front
from edge.fronts.h1_settings import ManualTimers
from edge.fronts.h2 import H2Conn
from tests.fronts.conftest import until
from tests.h2.conftest import h2c_client
from tests.support.h2_raw import RawH2

SEND = 5.0
WINDOW = 65535  # the client's initial windows (RFC 9113 §6.9.2)


def _open(conn: RawH2, increment: int, *streams: int) -> None:
    for stream in streams:  # 0: the connection's window
        update = WindowUpdateFrame(stream)
        update.window_increment = increment
        conn.frame(update)


@pytest.fixture
async def timed(make_h2_edge: Any) -> AsyncIterator[tuple[H1Front, ManualTimers]]:
    base = Config()
    cfg = replace(base, proxy=replace(base.proxy, timeouts=replace(base.proxy.timeouts, send=SEND)))
    edge = await make_h2_edge(cfg)
    timers = ManualTimers()
    front = H1Front(edge.node, timers=timers)
    await front.start("127.0.0.1", 0)
    yield front, timers
    await front.stop(0.5)


def _h2(front: H1Front) -> H2Conn:
    (conn,) = (c for c in front.connections if isinstance(c, H2Conn))
    return conn


async def test_a_stream_whose_window_stays_shut_is_reset(
    timed: tuple[H1Front, ManualTimers],
) -> None:
    front, timers = timed
    conn = await RawH2.open(front.port)
    sid = conn.request("/big/1MiB")
    await conn.read_until(lambda s: len(s.data_on(sid)) >= WINDOW)
    h2 = _h2(front)
    stream = h2.streams[sid]
    await until(lambda: stream.stall is not None)
    timers.advance(SEND - 1)
    assert sid in h2.streams and front.stats.send_timeouts == 0
    first = stream.stall
    _open(conn, 1000, 0, sid)  # it takes a little: the wait starts again
    await conn.read_until(lambda s: len(s.data_on(sid)) >= WINDOW + 1000)
    await until(lambda: stream.stall is not None and stream.stall is not first)
    timers.advance(SEND - 1)
    assert sid in h2.streams and front.stats.send_timeouts == 0
    timers.advance(1.5)  # SEND + 0.5 s of a shut window
    seen = await conn.read_until(lambda s: sid in s.resets())
    assert seen.resets()[sid] == ErrorCodes.CANCEL
    assert front.stats.send_timeouts == 1
    await until(lambda: sid not in h2.streams)  # its task ended, its body let go
    # the connection goes on: a new stream on it is answered
    _open(conn, 1 << 20, 0)
    other = conn.request("/static/after.js")
    seen = await conn.read_until(lambda s: bool(s.data_on(other)))
    assert seen.headers_on(other) and seen.goaway is None and not seen.closed
    conn.close()
    # the fill the reset stream read went on for others: the object is whole in the cache
    await front.node.engine.fills.drain()
    async with h2c_client(front.port) as client:
        again = await client.get("/big/1MiB")
    assert len(again.content) == 1 << 20 and "hit" in again.headers["cache-status"]


async def test_a_connection_whose_transport_stays_paused_is_closed(
    timed: tuple[H1Front, ManualTimers],
) -> None:
    front, timers = timed
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", front.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    conn = RawH2(reader, writer, f"127.0.0.1:{front.port}")
    conn.h2.initiate_connection()
    conn.flush()
    sid = conn.request("/big/16MiB")
    _open(conn, 1 << 30, 0, sid)  # the windows are never the limit
    await until(lambda: any(c._write_paused for c in front.connections), within=20)
    timers.advance(SEND - 1)
    h2 = _h2(front)
    assert not h2.lost and sid in h2.streams and front.stats.send_timeouts == 0
    timers.advance(1.5)
    await until(lambda: not front.connections)
    assert front.stats.send_timeouts == 1 and h2.lost and not h2.streams
    conn.close()
