"""The http1 front's defences against exhaustion, on the manual timer source.

A client that takes no response bytes for ``proxy.timeouts.send`` is disconnected (one
that keeps reading, however slowly, is not); above ``proxy.max_connections`` a new
connection is answered 503 with Retry-After and closed, and counted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import replace

import pytest

from edge.config import Config, OriginConfig, ProxyConfig
from edge.fronts.limits import RESERVED_FDS, connection_limit
from tests.fronts.conftest import Conn, Rig, RigFactory, closed, get, read_answer, until


async def _small_window(rig: Rig) -> Conn:
    """A connection whose receive buffer is small, so a client that stops reading is felt."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", rig.port))
    return await asyncio.open_connection(sock=sock, limit=4096)


def _write_paused(rig: Rig) -> bool:
    return any(c._write_paused for c in rig.front.connections)


async def test_a_client_that_stops_reading_is_disconnected_after_the_send_timeout(
    make_rig: RigFactory,
) -> None:
    rig: Rig = await make_rig(send=5.0)
    reader, writer = await _small_window(rig)
    writer.write(get("/big/64MiB"))
    await until(lambda: _write_paused(rig), within=20)
    conn = next(iter(rig.front.connections))
    rig.timers.advance(4.0)
    await asyncio.sleep(0.05)
    assert not conn.lost and rig.node.stats.send_timeouts == 0
    first = conn._stall
    await reader.readexactly(1 << 20)  # it reads a little: the wait starts again
    await until(lambda: conn._stall is not None and conn._stall is not first, within=20)
    rig.timers.advance(4.0)
    await asyncio.sleep(0.05)
    assert not conn.lost and rig.node.stats.send_timeouts == 0
    rig.timers.advance(1.5)  # 5.5 s of nothing taken
    await until(lambda: not rig.front.connections)
    assert rig.node.stats.send_timeouts == 1
    got = 0
    with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
        while True:
            got += len(await reader.readexactly(1 << 20))
    assert got < 63 << 20  # never the whole body
    writer.close()
    # the fill went on for others: the object is whole in the cache
    reader2, writer2 = await rig.connect()
    writer2.write(get("/big/64MiB"))
    answer = await asyncio.wait_for(read_answer(reader2), 30)
    assert len(answer.body) == 64 << 20
    writer2.close()


async def test_pipelined_hits_wait_for_a_client_that_does_not_read(make_rig: RigFactory) -> None:
    """Hot answers to pipelined requests are not piled up for a client that reads nothing."""
    rig: Rig = await make_rig(send=5.0)
    reader, writer = await rig.connect()
    writer.write(get("/big/1MiB"))
    assert len((await read_answer(reader)).body) == 1 << 20  # stored: hits from now on
    writer.close()
    reader, writer = await _small_window(rig)
    writer.write(get("/big/1MiB") * 200)  # 200 MiB of answers asked for at once
    await until(lambda: _write_paused(rig), within=20)
    await asyncio.sleep(0.1)
    conn = next(iter(rig.front.connections))
    assert conn.transport is not None
    assert conn.transport.get_write_buffer_size() < 4 << 20  # not 200 MiB
    assert len(conn.queue) > 100  # the rest wait, unanswered
    rig.timers.advance(6.0)
    await until(lambda: not rig.front.connections)
    assert rig.node.stats.send_timeouts == 1
    writer.close()


async def test_connections_over_the_limit_get_a_503_and_are_closed(make_rig: RigFactory) -> None:
    base = Config()
    rig: Rig = await make_rig(replace(base, proxy=replace(base.proxy, max_connections=3)))
    held = [await rig.connect() for _ in range(3)]
    await until(lambda: len(rig.front.connections) == 3)
    assert rig.node.stats.connections_open == 3
    reader, writer = await rig.connect()
    answer = await read_answer(reader)
    assert answer.status == 503 and answer.header("Retry-After") == "1"
    assert answer.header("Connection") == "close" and await closed(reader)
    assert "connection-limit" in (answer.header("Cache-Status") or "")
    assert rig.node.stats.connections_refused == 1
    assert rig.node.stats.connections_open == 3
    writer.close()
    held[0][1].close()
    await until(lambda: len(rig.front.connections) == 2)
    reader, writer = await rig.connect()  # room again
    writer.write(get("/echo"))
    assert (await read_answer(reader)).status == 200
    writer.close()
    for _, w in held[1:]:
        w.close()
    await until(lambda: not rig.front.connections)
    assert rig.node.stats.connections_open == 0


def test_the_limit_leaves_room_for_the_origin_pool_and_the_cache(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = Config(origin=OriginConfig(max_connections=100), proxy=ProxyConfig(max_connections=5000))
    assert connection_limit(cfg, nofile=20000) == 5000
    with caplog.at_level(logging.WARNING, "edge.proxy"):
        assert connection_limit(cfg, nofile=1024) == 1024 - 100 - RESERVED_FDS
    assert "proxy.max_connections" in caplog.text and "RLIMIT_NOFILE" in caplog.text
