"""Ranges answered while the object is still being fetched; the access log, text and JSON."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import pytest

from edge.config import LoggingConfig
from edge.runtime.logs import BufferedLineHandler, JsonFormatter, setup_logging


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


async def test_access_log_line_names_status_bytes_and_cache_status(
    edge: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.access")
    await (await edge.get("/static/x.css")).read()
    # the line is written once the response is out; the next answer on the same
    # keep-alive connection comes after it
    await (await edge.get("/static/x.css")).read()
    records = [r for r in caplog.records if r.name == "edge.access"]
    assert records, "no access log line"
    rec = records[0]
    line = rec.getMessage()
    assert '"GET /static/x.css"' in line and " 200 " in line and "fwd=uri-miss" in line
    assert rec.__dict__["status"] == 200 and rec.__dict__["bytes"] > 0


def test_json_log_format_is_one_object_per_line() -> None:
    record = logging.LogRecord("edge.access", logging.INFO, "f", 1, "hello %s", ("x",), None)
    record.status = 200
    out = json.loads(JsonFormatter().format(record))
    assert out["msg"] == "hello x" and out["status"] == 200 and out["logger"] == "edge.access"


def test_setup_logging_json_switches_the_formatter() -> None:
    root = logging.getLogger()
    access = logging.getLogger("edge.access")
    saved = root.handlers[:], root.level
    saved_access = access.handlers[:], access.propagate
    try:
        setup_logging(LoggingConfig(level="debug", format="json", access_log=False))
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        assert access.disabled
        # access lines are buffered, in the same format
        (buffered,) = access.handlers
        assert isinstance(buffered, BufferedLineHandler)
        assert isinstance(buffered.formatter, JsonFormatter)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        access.handlers[:], access.propagate = saved_access
        access.disabled = False


def test_buffered_access_lines_are_written_in_one_call() -> None:
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    handler = BufferedLineHandler(Stream(), max_buffer=1 << 20)
    handler.setFormatter(logging.Formatter("%(message)s"))

    async def burst() -> None:
        for i in range(5):
            handler.emit(logging.LogRecord("edge.access", logging.INFO, "f", 1, "r%d", (i,), None))
        assert writes == []  # nothing written per line
        await asyncio.sleep(handler.delay * 2)

    asyncio.run(burst())
    assert writes == ["r0\nr1\nr2\nr3\nr4\n"]
