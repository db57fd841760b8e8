"""The http1 front as a client sees it on a raw socket (RFC 9112 §9: connections)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.fronts.conftest import Rig, closed, get, read_answer, until


async def test_pipelined_requests_are_answered_in_order(rig: Rig) -> None:
    await rig.exchange(get("/static/p.css", "Connection: close"))  # stored: the 2nd is hot
    reader, writer = await rig.connect()
    writer.write(
        get("/echo?n=1")
        + get("/static/p.css")
        + get("/echo?n=3")
        + get("/fault/slow?delay=0.2")
        + get("/echo?n=5")
    )
    answers = [await read_answer(reader) for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5
    assert json.loads(answers[0].body)["query"] == "n=1"
    assert "hit" in (answers[1].header("Cache-Status") or "")
    assert json.loads(answers[2].body)["query"] == "n=3"
    assert answers[3].body.startswith(b"slow serve=")
    assert json.loads(answers[4].body)["query"] == "n=5"
    writer.close()


@pytest.mark.parametrize("value", ["close", "Close", "CLOSE", "keep-alive, close"])
async def test_connection_close_in_any_case_is_honoured(rig: Rig, value: str) -> None:
    reader, writer = await rig.connect()
    writer.write(get("/echo", f"Connection: {value}"))
    answer = await read_answer(reader)
    assert answer.status == 200 and answer.header("Connection") == "close"
    assert await closed(reader)
    writer.close()


async def test_http10_closes_unless_keep_alive_was_asked(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(b"GET /echo HTTP/1.0\r\n\r\n")  # no Host: allowed in 1.0
    answer = await read_answer(reader)
    assert answer.status == 200 and answer.header("Connection") == "close"
    assert await closed(reader)
    writer.close()

    reader, writer = await rig.connect()
    for n in (1, 2):
        writer.write(get(f"/echo?n={n}", "Connection: keep-alive", version="1.0"))
        answer = await read_answer(reader)
        assert answer.status == 200 and answer.header("Connection") == "keep-alive"
        assert json.loads(answer.body)["query"] == f"n={n}"
    writer.close()


async def test_http10_gets_a_close_delimited_stream_not_chunks(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(get("/stream/3", "Connection: keep-alive", version="1.0"))
    answer = await read_answer(reader)  # no length: read to EOF
    assert answer.header("Transfer-Encoding") is None and answer.header("Connection") == "close"
    assert answer.body == b"chunk 0\nchunk 1\nchunk 2\n"
    writer.close()


async def test_chunked_request_and_chunked_response(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: edge.test\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    )
    answer = await read_answer(reader)
    assert answer.status == 200 and json.loads(answer.body)["bytes"] == 11
    writer.write(get("/stream/4"))
    answer = await read_answer(reader)
    assert answer.header("Transfer-Encoding") == "chunked"
    assert answer.body == b"".join(f"chunk {i}\n".encode() for i in range(4))
    writer.close()


async def test_expect_100_continue_is_answered_when_the_body_is_wanted(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 5\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    interim = await read_answer(reader)
    assert interim.status == 100
    writer.write(b"hello")
    answer = await read_answer(reader)
    assert answer.status == 200 and json.loads(answer.body)["bytes"] == 5
    writer.close()


async def test_expect_100_continue_over_the_limit_gets_413_without_continue(
    make_rig: object,
) -> None:
    rig: Rig = await make_rig(max_body=100)  # type: ignore[operator]
    reader, writer = await rig.connect()
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 5000\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )
    answer = await read_answer(reader)
    assert answer.status == 413 and answer.header("Connection") == "close"
    assert await closed(reader)
    assert await rig.origin_count("/upload") == 0
    writer.close()


async def test_unknown_expectation_is_417(rig: Rig) -> None:
    answers, _ = await rig.exchange(get("/echo", "Expect: tea"))
    assert [a.status for a in answers] == [417]


async def test_slow_loris_hits_the_head_deadline(rig: Rig) -> None:
    reader, writer = await rig.connect()
    head = b"GET /echo HTTP/1.1\r\nHost: edge.test\r\n"
    writer.write(head[:1])
    await until(lambda: any(c._head_open for c in rig.front.connections))
    deadline = rig.front.settings.head_timeout
    for byte in head[1 : int(deadline)]:  # a byte a second: the deadline is absolute
        rig.timers.advance(1.0)
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.01)
    assert len(rig.front.connections) == 1 and rig.busy_connections() == 0
    rig.timers.advance(1.0)
    answer = await read_answer(reader)
    assert answer.status == 408 and answer.header("Connection") == "close"
    assert await closed(reader)
    assert await rig.origin_count("/echo") == 0
    writer.close()


async def test_idle_keep_alive_connection_is_closed(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(get("/echo"))
    assert (await read_answer(reader)).status == 200
    await until(lambda: all(c.idle for c in rig.front.connections))
    rig.timers.advance(rig.front.settings.keepalive - 1)
    assert len(rig.front.connections) == 1
    rig.timers.advance(2)
    assert await closed(reader)
    writer.close()


async def test_a_stalled_request_body_times_out(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(b"POST /upload HTTP/1.1\r\nHost: edge.test\r\nContent-Length: 10\r\n\r\nabc")
    await until(lambda: any(c._timer_kind == 3 for c in rig.front.connections))
    rig.timers.advance(rig.front.settings.body_idle + 1)
    answer = await read_answer(reader)
    assert answer.status >= 400  # never a 2xx for a body that did not arrive
    assert await closed(reader)
    writer.close()


async def test_graceful_shutdown_finishes_in_flight_and_closes_idle(rig: Rig) -> None:
    idle_reader, idle_writer = await rig.connect()
    idle_writer.write(get("/echo"))
    assert (await read_answer(idle_reader)).status == 200
    busy_reader, busy_writer = await rig.connect()
    busy_writer.write(get("/fault/slow?delay=0.3"))
    await until(lambda: rig.busy_connections() == 1)
    stopping = asyncio.create_task(rig.front.stop(5.0))
    assert await closed(idle_reader, within=1.0)  # at once, not after the request
    assert not stopping.done()
    answer = await read_answer(busy_reader)
    assert answer.status == 200 and answer.header("Connection") == "close"
    await asyncio.wait_for(stopping, 5)
    with pytest.raises(OSError):
        await rig.connect()  # no longer accepting
    idle_writer.close()
    busy_writer.close()


async def test_shutdown_aborts_what_outlives_the_grace(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(get("/fault/slow?delay=3"))
    await until(lambda: rig.busy_connections() == 1)
    await asyncio.wait_for(rig.front.stop(0.1), 2)
    assert not rig.front.connections
    writer.close()
