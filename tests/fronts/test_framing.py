"""Limits and malformed framing: answered, closed, and never forwarded (RFC 9112 §2.2, §6.3)."""

from __future__ import annotations

import pytest

from tests.fronts.conftest import Rig, closed, get, read_answer

H = b"Host: edge.test\r\n"

MALFORMED = {
    "content-length with transfer-encoding": (
        b"POST /m1 HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n"
    ),
    "two content-lengths": (
        b"POST /m2 HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    ),
    "bad chunk size": (
        b"POST /m3 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
    ),
    "chunk size without CR": (
        b"POST /m4 HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"
    ),
    "transfer-encoding other than chunked": (
        b"POST /m5 HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nabc"
    ),
    "obs-fold": b"GET /m6 HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n",
    "NUL in a field": b"GET /m7 HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n",
    "bare CR in a field": b"GET /m8 HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n",
    "invalid method": b"G@T /m9 HTTP/1.1\r\n" + H + b"\r\n",
    "space in the target": b"GET /m10 x HTTP/1.1\r\n" + H + b"\r\n",
    "control char in the target": b"GET /m11\x01 HTTP/1.1\r\n" + H + b"\r\n",
    "relative target": b"GET m12 HTTP/1.1\r\n" + H + b"\r\n",
    "space before colon": b"GET /m13 HTTP/1.1\r\nHost : x\r\n\r\n",
    "no Host in 1.1": b"GET /m14 HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET /m15 HTTP/1.1\r\n" + H + H + b"\r\n",
    "bare LF line ends": b"GET /m16 HTTP/1.1\nHost: x\n\n",
    "bad content-length": b"POST /m17 HTTP/1.1\r\n" + H + b"Content-Length: 1x\r\n\r\n",
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_request_is_400_closed_and_never_forwarded(
    rig: Rig, payload: bytes
) -> None:
    path = payload.split(b" ", 2)[1].decode("latin-1", "replace").split("\x01")[0]
    reader, writer = await rig.connect()
    writer.write(payload)
    answer = await read_answer(reader)
    assert answer.status == 400, answer
    assert answer.header("Connection") == "close"
    assert "detail=client-error" in (answer.header("Cache-Status") or "")
    assert await closed(reader)
    writer.close()
    assert await rig.origin_count(path) == 0
    assert rig.node.stats.requests == 0


async def test_malformed_request_after_a_good_one_is_answered_in_turn(rig: Rig) -> None:
    answers, _ = await rig.exchange(get("/echo") + MALFORMED["obs-fold"])
    assert [a.status for a in answers] == [200, 400]


async def test_unsupported_http_version_is_505(rig: Rig) -> None:
    answers, _ = await rig.exchange(b"GET /echo HTTP/2.0\r\n" + H + b"\r\n")
    assert [a.status for a in answers] == [505]


async def test_request_line_over_the_limit_is_414(rig: Rig) -> None:
    limit = rig.front.settings.request_line
    reader, writer = await rig.connect()
    writer.write(get("/echo?" + "a" * limit))
    answer = await read_answer(reader)
    assert answer.status == 414 and answer.header("Connection") == "close"
    assert await closed(reader)
    writer.close()
    assert await rig.origin_count("/echo") == 0


async def test_header_section_over_the_limit_is_431(rig: Rig) -> None:
    limit = rig.front.settings.header_bytes
    answers, _ = await rig.exchange(get("/echo", "X-Big: " + "a" * limit))
    assert [a.status for a in answers] == [431]
    many = [f"X-{i}: v" for i in range(rig.front.settings.header_count + 1)]
    answers, _ = await rig.exchange(get("/echo", *many))
    assert [a.status for a in answers] == [431]
    fine = [f"X-{i}: v" for i in range(rig.front.settings.header_count - 2)]  # + Host, Connection
    answers, _ = await rig.exchange(get("/echo", *fine, "Connection: close"))
    assert [a.status for a in answers] == [200]
    assert await rig.origin_count("/echo") == 1


async def test_a_header_dribbled_past_the_limit_is_cut_off_as_it_arrives(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(b"GET /echo HTTP/1.1\r\n" + H + b"X-Big: ")
    await writer.drain()
    for _ in range(8):  # never a whole field: llhttp alone would buffer it without end
        writer.write(b"a" * 4096)
        await writer.drain()
    answer = await read_answer(reader)
    assert answer.status == 431
    assert await closed(reader)
    writer.close()


async def test_body_over_the_limit_is_413_and_closed(make_rig: object) -> None:
    rig: Rig = await make_rig(max_body=1000)  # type: ignore[operator]
    answers, _ = await rig.exchange(
        b"POST /upload HTTP/1.1\r\n" + H + b"Content-Length: 5000\r\n\r\n" + b"x" * 5000
    )
    assert [a.status for a in answers] == [413]
    assert answers[0].header("Connection") == "close"
    chunks = b"".join(b"1f4\r\n" + b"y" * 500 + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    reader, writer = await rig.connect()
    writer.write(b"POST /upload HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    answer = await read_answer(reader)
    assert answer.status == 413 and answer.header("Connection") == "close"
    assert await closed(reader)
    writer.close()
    assert await rig.origin_count("/upload") == 0
