"""The hot path (edge/cache/hot.py) answers exactly as the full flow would."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from edge.fronts.h1_connection import Connection
from edge.fronts.h1_server import H1Front
from tests.fronts.conftest import Rig, get, read_answer


async def _flow_front(rig: Rig) -> H1Front:
    """A second front on the same node, without the hot path: every answer from the flow."""
    front = H1Front(rig.node, replace(rig.front.settings, hot_path=False), timers=rig.timers)
    await front.start("127.0.0.1", 0)
    return front


def counted(rig: Rig) -> dict[str, int]:
    """The node's counters as /stats shows them (the hot path's hits folded in)."""
    return rig.node.meters.raw().stats


async def _raw_answer(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    answer = await read_answer(reader)
    writer.close()
    return answer.raw_head + answer.body


async def _warm(port: int, payload: bytes) -> None:
    """Ask until the answer is a memory hit (the fill commits after the first answer)."""
    for _ in range(100):
        if b"detail=memory" in await _raw_answer(port, payload):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never a memory hit")


async def test_hot_answer_is_byte_identical_to_the_flows(rig: Rig) -> None:
    flow = await _flow_front(rig)
    try:
        for path, extra in (
            ("/static/same.css", ()),
            ("/vary/lang", ("Accept-Language: fr",)),
            ("/script?cc=max-age%3D60&etag=v1&size=1024&hdr=Via%3A%201.1%20up", ()),
        ):
            first = await _raw_answer(flow.port, get(path, *extra))
            assert b"fwd=uri-miss" in first
            await _warm(flow.port, get(path, *extra))
            rig.clock.advance(7)  # an Age, a ttl
            hits = counted(rig)["hits"]
            from_flow = await _raw_answer(flow.port, get(path, *extra))
            assert counted(rig)["hits"] == hits + 1
            requests = counted(rig)["requests"]
            from_hot = await _raw_answer(rig.port, get(path, *extra))
            assert counted(rig)["requests"] == requests + 1
            assert counted(rig)["hits"] == hits + 2
            assert b"; hit; ttl=" in from_hot and b"detail=memory" in from_hot
            assert b"Age: 7\r\n" in from_hot
            assert from_hot == from_flow, path
    finally:
        await flow.stop(0.5)


async def test_hot_answers_count_requests_hits_and_bytes(rig: Rig) -> None:
    await _warm(rig.port, get("/static/count.css"))
    before = counted(rig)
    hot = rig.node.meters.hot.count
    body = (await _raw_answer(rig.port, get("/static/count.css"))).split(b"\r\n\r\n", 1)[1]
    after = counted(rig)
    assert (after["requests"], after["hits"], after["bytes_from_cache"]) == (
        before["requests"] + 1,
        before["hits"] + 1,
        before["bytes_from_cache"] + len(body),
    )
    assert rig.node.meters.hot.count == hot + 1  # with its latency, on the hot path


async def test_requests_that_are_not_plain_take_the_flow(rig: Rig) -> None:
    await _warm(rig.port, get("/static/plain.css"))
    answer = await _raw_answer(rig.port, get("/static/plain.css", "Range: bytes=0-3"))
    assert answer.startswith(b"HTTP/1.1 206")
    answer = await _raw_answer(rig.port, get("/static/plain.css", "Cache-Control: no-cache"))
    assert b"fwd=request" in answer


async def test_pipelined_hot_answers_leave_in_one_write(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _warm(rig.port, get("/static/batch.css"))
    writes: list[int] = []
    real = Connection.write

    def counting(self: Connection, data: bytes) -> None:
        writes.append(len(data))
        real(self, data)

    monkeypatch.setattr(Connection, "write", counting)
    reader, writer = await rig.connect()
    writer.write(get("/static/batch.css") * 5)
    answers = [await read_answer(reader) for _ in range(5)]
    assert all("hit" in (a.header("Cache-Status") or "") for a in answers)
    assert len(writes) == 1
    writer.close()
