"""RFC 9111 §4: which requests may share a fill's response, on the in-memory upstream.

A request may join a fill only while its response is outstanding (joining is then the same
as having sent the request at that moment). Once the response has arrived, a new request
looks it up as a stored response: it is reused only when a stored response could be, and
otherwise validated (RFC 9111 §4.2, §4.3, §5.2).
"""

from __future__ import annotations

import asyncio

from edge.models import ProxyResponse
from tests.cache.fakes import Script
from tests.cache.rig import DATE, Rig, read, status_of


def held(cc: str, **extra: str) -> tuple[Script, asyncio.Event]:
    """A response whose head arrives at once and whose body waits for the returned event."""
    gate = asyncio.Event()
    headers = {"Cache-Control": cc, "Date": DATE, "ETag": '"v1"', **extra}
    return Script(headers=headers, chunks=(b"hello ", b"world"), body_gate=gate), gate


async def test_rfc9111_5_2_2_4_no_cache_response_is_validated_after_its_head() -> None:
    rig = Rig()
    first, gate = held("max-age=10000, no-cache")
    rig.upstream.answer("/n", first, Script(304, headers={"ETag": '"v1"'}, chunks=()))
    r1 = await rig.send("/n")  # the head was delivered; the body is still arriving
    later = asyncio.create_task(rig.send("/n"))
    await asyncio.sleep(0.01)
    assert not later.done()  # it neither joined the fill nor went upstream without the entry
    assert rig.upstream.count("/n") == 1
    gate.set()
    assert await read(r1) == b"hello world"
    r2 = await later
    assert await read(r2) == b"hello world"
    assert rig.upstream.count("/n") == 2
    assert rig.upstream.sent[1].headers["If-None-Match"] == '"v1"'  # validated, not reused
    assert status_of(r2).startswith("edge; fwd=stale; fwd-status=304")


async def test_rfc9111_4_fresh_response_after_its_head_is_a_hit_from_the_spool() -> None:
    rig = Rig()
    first, gate = held("max-age=60")
    rig.upstream.answer("/f", first)
    r1 = await rig.send("/f")
    rig.clock.advance(5)
    r2 = await rig.send("/f")  # answered at once, while the body still arrives
    assert status_of(r2) == "edge; hit; ttl=55; detail=spool"
    assert r2.headers["Age"] == "5"
    gate.set()
    assert await read(r1) == await read(r2) == b"hello world"
    assert rig.upstream.count("/f") == 1


async def _joins(rig: Rig, cc: str) -> tuple[ProxyResponse, ProxyResponse]:
    gate = asyncio.Event()
    headers = {"Cache-Control": "max-age=60", "Date": DATE}
    rig.upstream.answer("/j", Script(headers=headers, gate=gate))
    first = asyncio.create_task(rig.send("/j"))
    await asyncio.sleep(0.01)  # the fill is running; its response is outstanding
    second = asyncio.create_task(rig.send("/j", Cache_Control=cc) if cc else rig.send("/j"))
    await asyncio.sleep(0.01)
    gate.set()
    r1, r2 = await asyncio.gather(first, second)
    await read(r1)
    await read(r2)
    await rig.fills.drain()
    return r1, r2


async def test_rfc9111_4_a_request_while_the_response_is_outstanding_joins() -> None:
    rig = Rig()
    _, r2 = await _joins(rig, "")
    assert "collapsed" in status_of(r2)
    assert rig.upstream.count("/j") == 1


async def test_rfc9111_5_2_1_4_a_no_cache_request_never_joins() -> None:
    rig = Rig()
    _, r2 = await _joins(rig, "no-cache")
    assert "collapsed" not in status_of(r2)
    assert rig.upstream.count("/j") == 2


async def test_rfc9111_5_2_1_1_a_max_age_0_request_never_joins() -> None:
    rig = Rig()
    _, r2 = await _joins(rig, "max-age=0")
    assert "collapsed" not in status_of(r2)
    assert rig.upstream.count("/j") == 2
