"""Ranges answered while the object is still being fetched; the process log's JSON lines."""

from __future__ import annotations

import json
import logging
from typing import Any

from edge.config import LoggingConfig
from edge.runtime.logs import JsonFormatter, setup_logging


def expected_big(first: int, last: int) -> bytes:
    return bytes(i % 251 for i in range(first, last + 1))


async def test_a_range_on_a_miss_is_asked_as_a_range_and_a_whole_answer_stored(edge: Any) -> None:
    path = "/big/3MiB"
    resp = await edge.get(path, headers={"Range": "bytes=1000-1999"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 1000-1999/{3 << 20}"
    assert await resp.read() == expected_big(1000, 1999)
    await edge.settle()
    origin_saw = await _origin_headers(edge, path)
    # RFC 9111 §3.3: asked as a range (edge.cache.partial); the stub ignores Range
    # (RFC 9110 §14.2), so its whole answer is stored and later ranges are hits
    assert origin_saw.get("Range", origin_saw.get("range")) == "bytes=1000-1999"
    again = await edge.get(path, headers={"Range": "bytes=-10"})
    assert again.status == 206 and "hit" in again.headers["Cache-Status"]
    assert await again.read() == expected_big((3 << 20) - 10, (3 << 20) - 1)
    assert await edge.origin_count(path) == 1


async def test_an_unsatisfiable_range_on_a_miss_is_416(edge: Any) -> None:
    resp = await edge.get("/big/1KiB", headers={"Range": "bytes=5000-6000"})
    assert resp.status == 416
    assert resp.headers["Content-Range"] == "bytes */1024"


async def _origin_headers(edge: Any, path: str) -> dict[str, str]:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(edge.origin.make_url("/__origin/stats")) as r:
            headers: dict[str, str] = (await r.json())["last_headers"][path]
            return headers


def test_json_log_format_is_one_object_per_line() -> None:
    record = logging.LogRecord("edge.access", logging.INFO, "f", 1, "hello %s", ("x",), None)
    record.status = 200
    out = json.loads(JsonFormatter().format(record))
    assert out["msg"] == "hello x" and out["status"] == 200 and out["logger"] == "edge.access"


def test_setup_logging_json_switches_the_formatter() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(LoggingConfig(level="debug", format="json", access_log=False))
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
