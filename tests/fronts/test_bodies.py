"""Bodies both ways: request back-pressure, a client that stops reading and leaves."""

from __future__ import annotations

import asyncio

from edge.fronts.h1_body import RequestBody
from tests.fronts.conftest import Rig, get, read_answer, until


class Owner:
    def __init__(self) -> None:
        self.paused: list[bool] = []
        self.wanted = 0
        self.waiting: list[bool] = []

    def body_paused(self, paused: bool) -> None:
        self.paused.append(paused)

    def body_wanted(self) -> None:
        self.wanted += 1

    def body_waiting(self, waiting: bool) -> None:
        self.waiting.append(waiting)


async def test_request_body_pauses_reading_above_its_bound_and_resumes_below() -> None:
    owner = Owner()
    body = RequestBody(owner, limit=1 << 20, high_water=1000)
    for _ in range(5):
        assert body.feed(b"x" * 300)
    assert owner.paused == [True]  # once, when over the bound
    got = [await body.__anext__() for _ in range(4)]
    assert owner.paused == [True]  # 300 bytes left: above a quarter of the bound
    got.append(await body.__anext__())
    assert owner.paused == [True, False]  # resumed at a quarter of the bound
    assert owner.wanted == 1 and got == [b"x" * 300] * 5
    body.finish()
    try:
        await body.__anext__()
        raise AssertionError("the body should have ended")
    except StopAsyncIteration:
        pass


async def test_request_body_over_its_limit_is_refused_and_a_failure_reaches_the_reader() -> None:
    body = RequestBody(Owner(), limit=10, high_water=1000)
    assert body.feed(b"12345")
    assert not body.feed(b"678901")
    reader = asyncio.ensure_future(body.__anext__())
    assert await reader == b"12345"
    waiting = asyncio.ensure_future(body.__anext__())
    await asyncio.sleep(0)
    body.fail(ConnectionResetError("gone"))
    try:
        await waiting
        raise AssertionError("the failure should reach the reader")
    except ConnectionResetError:
        pass


async def test_a_client_that_stops_reading_and_leaves_leaves_nothing_waiting(rig: Rig) -> None:
    reader, writer = await rig.connect()
    writer.write(get("/big/64MiB", "Cache-Control: no-store"))
    head = await read_answer(reader, head_only=True)
    assert head.status == 200
    # the client reads nothing more: the front's writes back up and it waits for the socket
    await until(lambda: any(c._write_paused for c in rig.front.connections), within=10)
    (conn,) = rig.front.connections
    task = conn.active
    assert task is not None and not task.done()
    writer.transport.abort()
    await until(lambda: not rig.front.connections)
    await asyncio.wait_for(task, 5)  # it ended: nothing waits on a client that left
    assert conn.active is None


async def test_a_file_body_is_sent_whole(rig: Rig) -> None:
    # a body over the memory tier's object limit lives on disk: served from a file
    reader, writer = await rig.connect()
    writer.write(get("/big/9MiB"))
    first = await read_answer(reader)
    for _ in range(100):  # until the fill has committed it to disk
        writer.write(get("/big/9MiB"))
        second = await read_answer(reader)
        if "detail=disk" in (second.header("Cache-Status") or ""):
            break
        await asyncio.sleep(0.02)
    assert "detail=disk" in (second.header("Cache-Status") or "")
    assert second.body == first.body and len(second.body) == 9 << 20
    writer.close()
