"""Disk-tier hits on the hot path: the head from the template, the file by sendfile at once.

The memory tier here holds nothing over 1 KiB, so larger objects are answered from the
disk tier's held rows (edge/store/disk_held.py) without a thread or SQLite, and the
http1 front sends their file from ``data_received`` (edge/fronts/h1_files.py).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

from edge.config import Config
from edge.fronts.h1_server import H1Front
from tests.fronts.conftest import RigFactory, get, read_answer

SMALL_MEMORY = Config()
SMALL_MEMORY = replace(
    SMALL_MEMORY,
    cache=replace(
        SMALL_MEMORY.cache, memory=replace(SMALL_MEMORY.cache.memory, max_object_bytes=1024)
    ),
)


def _path(size: int, tag: str = "") -> str:
    return f"/script?cc=max-age%3D60&size={size}&t={tag}"


async def _ask(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get(path))
    answer = await read_answer(reader)
    writer.close()
    return answer.raw_head + answer.body


async def _on_disk(port: int, path: str) -> bytes:
    """Ask until the answer is a disk-tier hit (the fill commits after its answer);
    the body the first answer (the miss) carried, which is what was stored."""
    stored = (await _ask(port, path)).partition(b"\r\n\r\n")[2]
    for _ in range(200):
        if b"detail=disk" in await _ask(port, path):
            return stored
        await asyncio.sleep(0.01)
    raise AssertionError("never a disk-tier hit")


async def test_a_hot_disk_hit_is_byte_identical_to_the_flows_and_needs_no_thread(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(SMALL_MEMORY)
    flow = H1Front(rig.node, replace(rig.front.settings, hot_path=False), timers=rig.timers)
    await flow.start("127.0.0.1", 0)
    try:
        path = _path(64 * 1024)
        expected = await _on_disk(flow.port, path)
        rig.clock.advance(5)
        from_flow = await _ask(flow.port, path)
        disk = rig.node.store.inner.disk
        assert disk is not None

        def no_sqlite(*args: object) -> None:
            raise AssertionError("a held disk hit must not read SQLite")

        disk._variants_sync = no_sqlite  # type: ignore[method-assign]
        disk._open_sync = no_sqlite  # type: ignore[method-assign]
        hits, origin = rig.node.meters.raw().stats["hits"], await rig.origin_count("/script")
        from_hot = await _ask(rig.port, path)
        assert from_hot == from_flow
        assert b"; hit; ttl=55; detail=disk" in from_hot and b"Age: 5\r\n" in from_hot
        assert len(expected) == 64 * 1024 and from_hot.endswith(b"\r\n\r\n" + expected)
        assert rig.node.meters.raw().stats["hits"] == hits + 1  # the hot path folded in
        assert await rig.origin_count("/script") == origin
    finally:
        await flow.stop(0.5)


async def test_pipelined_disk_hits_larger_than_the_socket_stay_in_order(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(SMALL_MEMORY)
    big, small = _path(6 << 20, "big"), _path(4096, "small")
    bodies = {6 << 20: await _on_disk(rig.port, big), 4096: await _on_disk(rig.port, small)}
    memory = "/script?cc=max-age%3D60&size=100&t=mem"
    bodies[100] = (await _ask(rig.port, memory)).partition(b"\r\n\r\n")[2]
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(get(big) + get(memory) + get(small) + get(big))
    await asyncio.sleep(0.05)  # the socket fills before the client reads: the rest from a task
    sizes = []
    for _ in range(4):
        answer = await read_answer(reader)
        assert answer.status == 200
        sizes.append(len(answer.body))
        assert answer.body == bodies[len(answer.body)]
    writer.close()
    assert sizes == [6 << 20, 100, 4096, 6 << 20]


async def test_a_stored_file_cut_short_aborts_the_connection(make_rig: RigFactory) -> None:
    rig = await make_rig(SMALL_MEMORY)
    path = _path(256 * 1024, "cut")
    await _on_disk(rig.port, path)
    disk = rig.node.store.inner.disk
    assert disk is not None
    key = rig.node.engine.key_for("http", "edge.test", path)
    held = disk.held.get(key)
    assert held is not None
    (name,) = held.files.values()
    # the tier opens the file per hit and checks its size: cut it after the open
    real_open = disk.held.open

    def open_then_cut(entry, *, shared=False):  # type: ignore[no-untyped-def]
        body = real_open(entry, shared=shared)
        os.truncate(os.path.join(disk.data_dir, name), 1000)
        return body

    disk.held.open = open_then_cut  # type: ignore[method-assign]
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.port)
    writer.write(get(path))
    received = b""
    while chunk := await asyncio.wait_for(reader.read(65536), 5):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: 262144" in head and len(body) < 256 * 1024
    writer.close()
