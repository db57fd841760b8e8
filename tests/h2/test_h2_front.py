"""HTTP/2 through the proxy port (RFC 9113): h2c by prior knowledge, streams through the same
flow as HTTP/1.1, the hot path, bodies both ways under flow control, malformed requests as
stream errors, GOAWAY on shutdown and on idle."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from dataclasses import replace
from typing import Any

import aiohttp
from h2.errors import ErrorCodes
from hyperframe.frame import WindowUpdateFrame

from edge.config import Config
from edge.fronts.h1_server import H1Front
from edge.fronts.h1_settings import ManualTimers
from tests.h2.conftest import h2c_client
from tests.support.h2_raw import RawH2, Seen

HOP = ("connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection")


def _fields(conn: RawH2, seen: Seen, sid: int) -> list[tuple[bytes, bytes]]:
    """The decoded fields of the stream's first HEADERS (HPACK state kept across calls)."""
    frame = seen.headers_on(sid)[0]
    return [(bytes(n), bytes(v)) for n, v in conn.h2.decoder.decode(bytes(frame.data), raw=True)]


async def _settle(edge: Any) -> None:
    await edge.node.engine.fills.drain()


async def test_h2c_miss_then_memory_hit_sharing_keys_with_http11(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    async with h2c_client(edge.port) as client:
        first = await client.get("/static/app.js")
        await _settle(edge)
        second = await client.get("/static/app.js")
        echo = json.loads((await client.get("/echo")).content)
    assert first.http_version == second.http_version == "HTTP/2"
    assert "fwd=uri-miss" in first.headers["cache-status"]
    assert (
        "hit" in second.headers["cache-status"]
        and "detail=memory" in second.headers["cache-status"]
    )
    assert second.headers["age"] == "0" and second.content == first.content
    assert int(second.headers["content-length"]) == len(second.content)
    assert not any(name in second.headers for name in HOP)
    # the origin sees the request as HTTP/1.1 would send it: Host from :authority
    assert echo["headers"]["Host"] == f"127.0.0.1:{edge.port}"
    assert echo["headers"]["X-Forwarded-Proto"] == "http"
    assert echo["headers"]["Via"].endswith("2 edge")
    # one cache key for both protocols, either way round
    async with aiohttp.ClientSession(skip_auto_headers=("Accept-Encoding",)) as session:
        async with session.get(edge.url("/static/app.js")) as r:
            assert "hit" in r.headers["Cache-Status"] and await r.read() == first.content
        async with session.get(edge.url("/static/other.css")) as r:
            stored = await r.read()
    await _settle(edge)
    async with h2c_client(edge.port) as client:
        hit = await client.get("/static/other.css")
    assert "hit" in hit.headers["cache-status"] and hit.content == stored


async def test_hot_h2_fields_are_the_flows(make_h2_edge: Any) -> None:
    """The hot path's HTTP/2 fields are the ones the flow's answer renders."""
    edge = await make_h2_edge()
    flow = H1Front(edge.node, replace(edge.front.settings, hot_path=False))
    await flow.start("127.0.0.1", 0)
    try:
        path = "/script?cc=max-age%3D60&etag=v1&size=1024&hdr=Via%3A%201.1%20up"
        async with h2c_client(edge.port) as hot, h2c_client(flow.port) as slow:
            await hot.get(path)
            await _settle(edge)
            edge.clock.advance(7)
            from_hot = await hot.get(path)
            # the same :authority, so the same cache key on the other port
            from_flow = await slow.get(path, headers={"Host": f"127.0.0.1:{edge.port}"})
    finally:
        await flow.stop(0.5)
    assert "detail=memory" in from_hot.headers["cache-status"]
    assert from_hot.headers["age"] == "7"
    assert from_hot.headers.multi_items() == from_flow.headers.multi_items()
    assert from_hot.content == from_flow.content


async def test_concurrent_streams_on_one_connection(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    async with h2c_client(edge.port) as client:
        paths = [f"/static/s{i % 5}.js" for i in range(20)]
        answers = await asyncio.gather(*(client.get(p) for p in paths))
        assert len(edge.front.connections) == 1
    assert [a.status_code for a in answers] == [200] * 20
    assert all(a.content.startswith(b"// static asset") for a in answers)


async def test_large_bodies_and_head(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    async with h2c_client(edge.port) as client:
        miss = await client.get("/big/1MiB")
        await _settle(edge)
        hit = await client.get("/big/1MiB")
        head = await client.head("/big/1MiB")
        streamed = await client.get("/stream/3")
    assert len(miss.content) == 1 << 20 and hit.content == miss.content
    assert "hit" in hit.headers["cache-status"]
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(1 << 20)
    # a chunked origin body: no framing field of HTTP/1.1 on HTTP/2
    assert streamed.content == b"chunk 0\nchunk 1\nchunk 2\n"
    assert "transfer-encoding" not in streamed.headers


async def test_uploads_pass_through_with_flow_control(make_h2_edge: Any) -> None:
    """300 KB is more than the stream's first window (256 KiB): edge must hand it back."""
    edge = await make_h2_edge()
    data = os.urandom(300_000)

    async def pieces() -> Any:
        for i in range(0, len(data), 50_000):
            yield data[i : i + 50_000]

    async with h2c_client(edge.port) as client:
        sized = await client.post("/upload", content=data)
        unsized = await client.post("/upload", content=pieces())
    for answer in (sized, unsized):
        assert answer.status_code == 200
        assert answer.json() == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # a declared length over proxy.max_request_body: 413 at once, and the client is asked
    # to stop sending (RST_STREAM NO_ERROR after the whole answer, RFC 9113 §8.1)
    conn = await RawH2.open(edge.port)
    sid = conn.request(
        "/upload", method="POST", extra=[("content-length", str(2 << 20))], end=False
    )
    seen = await conn.read_until(lambda s: sid in s.resets())
    conn.close()
    assert (b":status", b"413") in _fields(conn, seen, sid)
    assert seen.resets()[sid] == ErrorCodes.NO_ERROR


async def test_http1_only_fields_reset_the_stream_not_the_connection(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    conn = await RawH2.open(edge.port)
    bad = [
        conn.request("/static/a.js", extra=[(name, value)])
        for name, value in (
            ("connection", "keep-alive"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("te", "gzip"),
        )
    ]
    good = conn.request("/static/a.js")
    seen = await conn.read_until(lambda s: bool(s.headers_on(good)) and bool(s.data_on(good)))
    conn.close()
    assert {sid: seen.resets().get(sid) for sid in bad} == {
        sid: ErrorCodes.PROTOCOL_ERROR for sid in bad
    }
    assert seen.goaway is None and seen.headers_on(good)


async def test_a_slow_reader_gets_no_more_than_its_window(make_h2_edge: Any) -> None:
    """Back-pressure: edge sends what the client's windows allow, then waits."""
    edge = await make_h2_edge()
    conn = await RawH2.open(edge.port)
    sid = conn.request("/big/1MiB")

    def received(seen: Seen) -> int:
        return len(seen.data_on(sid))

    seen = await conn.read_until(lambda s: received(s) >= 65535, 5)
    await conn.read(0.3)  # nothing more comes while the windows are shut
    assert received(seen) == 65535
    for stream in (0, sid):
        update = WindowUpdateFrame(stream)
        update.window_increment = 1 << 20
        conn.frame(update)
    seen = await conn.read_until(lambda s: received(s) >= 1 << 20, 10)
    conn.close()
    assert received(seen) == 1 << 20


async def test_shutdown_sends_goaway_and_lets_the_stream_finish(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    conn = await RawH2.open(edge.port)
    sid = conn.request("/fault/slow?delay=0.3")
    await asyncio.sleep(0.05)  # the request is in the flow
    stopping = asyncio.ensure_future(edge.front.stop(5))
    seen = await conn.read_until(lambda s: s.goaway is not None)
    assert seen.goaway is not None and seen.goaway.error_code == ErrorCodes.NO_ERROR
    assert seen.goaway.last_stream_id == sid
    late = conn.request("/static/late.js")  # after the GOAWAY: refused, never started
    seen = await conn.read_until(lambda s: s.closed, 5)
    conn.close()
    await stopping
    assert seen.headers_on(sid) and seen.data_on(sid).startswith(b"slow serve=")
    assert seen.resets().get(late) == ErrorCodes.REFUSED_STREAM or not seen.headers_on(late)
    assert seen.closed


async def test_an_idle_connection_gets_goaway(make_h2_edge: Any) -> None:
    edge = await make_h2_edge(Config())
    timers = ManualTimers()
    front = H1Front(edge.node, timers=timers)
    await front.start("127.0.0.1", 0)
    try:
        conn = await RawH2.open(front.port)
        sid = conn.request("/static/idle.js")
        await conn.read_until(lambda s: bool(s.data_on(sid)))
        timers.advance(front.settings.keepalive + 1)
        seen = await conn.read_until(lambda s: s.closed or s.goaway is not None)
        assert seen.goaway is not None and seen.goaway.error_code == ErrorCodes.NO_ERROR
        conn.close()
    finally:
        await front.stop(0.5)
