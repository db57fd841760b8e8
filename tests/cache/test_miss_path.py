"""The miss path through the flow: hit-for-miss keys skip the store probe; the origin's 1xx
responses reach the request that passes or starts a fill, and no other."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from edge.models import Entry, ProxyRequest
from tests.cache.fakes import Script
from tests.cache.rig import Rig, read

HINTS = (103, [("Link", "</a.css>; rel=preload")])


@pytest.fixture
def rig() -> Rig:
    return Rig()


class Undecided:
    """A memory tier that cannot say (a disk tier might hold the key): the flow must probe."""

    def __init__(self, rig: Rig) -> None:
        self.inner = rig.store
        self.probes = 0
        rig.flow.shortcut = self  # type: ignore[assignment]
        rig.flow.store = self  # type: ignore[assignment]

    def lookup_sync(self, key: str) -> Sequence[Entry] | None:
        return None

    async def variants(self, key: str) -> Sequence[Entry]:
        self.probes += 1
        return await self.inner.variants(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_hit_for_miss_key_is_not_probed_again(rig: Rig) -> None:
    probing = Undecided(rig)
    rig.upstream.answer("/n", Script(headers={"Cache-Control": "no-store"}))
    for _ in range(3):
        resp, body = await rig.get("/n")
        assert body == b"hello"
    assert probing.probes == 1  # the first miss asked; the answer marked it hit-for-miss
    assert rig.upstream.count("/n") == 3
    rig.clock.advance(11)  # hit_for_miss is 10 s in the rig
    await rig.get("/n")
    assert probing.probes == 2


def request(target: str) -> ProxyRequest:
    return ProxyRequest(
        method="GET",
        target=target,
        scheme="http",
        host="example.com",
        headers=CIMultiDictProxy(CIMultiDict()),
        client_ip="127.0.0.1",
    )


async def test_interim_goes_to_the_fill_starter_and_not_to_followers(rig: Rig) -> None:
    gate = asyncio.Event()
    rig.upstream.answer(
        "/c", Script(headers={"Cache-Control": "max-age=60"}, gate=gate, interim=(HINTS,))
    )
    seen: dict[str, list[int]] = {"starter": [], "follower": []}

    def sink(who: str) -> Any:
        return lambda status, fields: seen[who].append(status)

    starter = asyncio.create_task(rig.flow.handle(request("/c"), None, sink("starter")))
    await asyncio.sleep(0.01)
    follower = asyncio.create_task(rig.flow.handle(request("/c"), None, sink("follower")))
    await asyncio.sleep(0.01)
    gate.set()
    for task in (starter, follower):
        assert await read(await task) == b"hello"
    assert seen == {"starter": [103], "follower": []}
    assert "Link" not in (await task).headers


async def test_interim_on_a_pass(rig: Rig) -> None:
    rig.upstream.answer("/p", Script(headers={"Cache-Control": "no-store"}, interim=(HINTS,)))
    got: list[tuple[int, list[tuple[str, str]]]] = []
    resp = await rig.flow.handle(request("/p"), None, lambda s, f: got.append((s, f)))
    assert await read(resp) == b"hello"
    assert got == [HINTS]
    assert "Link" not in resp.headers
