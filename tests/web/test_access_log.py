"""The access log: a line per request on both fronts, combined text and JSON, parsed back;
written by a thread, never by the request; reloadable; a slow destination drops, not stalls."""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from edge.config import AccessLogConfig, Config, LoggingConfig
from edge.config.load import config_from_dict
from edge.errors import ConfigError
from edge.runtime.access_log import AccessLog, AccessRecord, _Writer
from tests.conftest import Edge, FrontClient, start_front

#: nginx's combined format, then edge's key=value fields (every value quoted or a token)
COMBINED = re.compile(
    r'(?P<client>\S+) - - \[(?P<time>[^]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)" (?P<fields>.*)'
)
FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_combined(line: str) -> dict[str, str]:
    match = COMBINED.fullmatch(line)
    assert match is not None, line
    out = {k: v for k, v in match.groupdict().items() if k != "fields"}
    for key, value in FIELD.findall(match["fields"]):
        out[key] = value[1:-1] if value.startswith('"') else value
    return out


def logging_config(fmt: str, path: str = "") -> LoggingConfig:
    return LoggingConfig(access=AccessLogConfig(format=fmt, path=path))


async def proxy_with_log(
    edge: Edge, access: AccessLog, front: str, aiohttp_client: Any, aiohttp_raw_server: Any
) -> Any:
    cfg = replace(edge.node.cfg, proxy=replace(edge.node.cfg.proxy, front=front))
    return await start_front(front, edge.node, cfg, aiohttp_client, aiohttp_raw_server, access)


async def test_combined_lines_name_outcome_tier_upstream_and_request_id(
    edge: Edge, front: str, aiohttp_client: Any, aiohttp_raw_server: Any
) -> None:
    out = io.BytesIO()
    access = AccessLog(logging_config("combined"), stream=out)
    client = await proxy_with_log(edge, access, front, aiohttp_client, aiohttp_raw_server)
    try:
        headers = {"X-Request-Id": "req-42", "User-Agent": 'agent "x"', "Referer": "http://r/"}
        async with client.get("/static/log.css", headers=headers) as r:
            body = await r.read()
        await edge.node.engine.fills.drain()
        async with client.get("/static/log.css") as r:
            await r.read()
    finally:
        if isinstance(client, FrontClient):
            await client.close()
    access.close()
    lines = out.getvalue().decode().splitlines()
    assert len(lines) == 2
    miss, hit = (parse_combined(line) for line in lines)
    assert miss["request"] == "GET /static/log.css HTTP/1.1" and miss["status"] == "200"
    assert int(miss["bytes"]) == len(body) > 0
    assert miss["agent"] == r"agent \x22x\x22" and miss["referer"] == "http://r/"
    assert (miss["cache"], miss["tier"], miss["upstream_status"]) == ("miss", "origin", "200")
    assert miss["request_id"] == "req-42"
    assert float(miss["upstream_time"]) >= 0 and float(miss["duration"]) >= 0
    assert "fwd=uri-miss" in miss["cache_status"]
    assert (hit["cache"], hit["tier"], hit["upstream_status"]) == ("hit", "memory", "-")
    assert hit["upstream_time"] == "-" and hit["request_id"]  # one is made for the line
    assert miss["host"].startswith("127.0.0.1:")


async def test_json_lines_carry_the_same_fields(
    edge: Edge, front: str, aiohttp_client: Any, aiohttp_raw_server: Any
) -> None:
    out = io.BytesIO()
    access = AccessLog(logging_config("json"), stream=out)
    client = await proxy_with_log(edge, access, front, aiohttp_client, aiohttp_raw_server)
    try:
        async with client.get("/fault/503") as r:
            assert r.status == 503
    finally:
        if isinstance(client, FrontClient):
            await client.close()
    access.close()
    (line,) = out.getvalue().decode().splitlines()
    rec = json.loads(line)
    assert rec["status"] == 503 and rec["upstream_status"] == 503 and rec["cache"] == "miss"
    assert rec["tier"] == "origin" and rec["method"] == "GET" and rec["target"] == "/fault/503"
    assert isinstance(rec["duration"], float) and isinstance(rec["upstream_time"], float)
    assert rec["request_id"] and rec["logger"] == "edge.access"


def test_lines_leave_through_the_writer_thread_not_the_caller() -> None:
    release = threading.Event()
    written: list[bytes] = []

    class Slow(io.RawIOBase):
        def write(self, data: Any) -> int:
            release.wait(5)
            written.append(bytes(data))
            return len(data)

    writer = _Writer("", Slow(), max_buffer=1, max_backlog=64)  # type: ignore[arg-type]
    rec = "x" * 40
    writer.add(rec)  # handed to the thread at once (past max_buffer), which blocks
    writer.add(rec)  # queued: the caller does not wait
    for _ in range(10):
        writer.add(rec)  # over max_backlog: dropped and counted, still without waiting
    assert writer.dropped >= 9
    release.set()
    writer.close()
    assert b"".join(written).count(b"\n") == 12 - writer.dropped


def test_a_reload_switches_format_and_destination(tmp_path: Path) -> None:
    out = io.BytesIO()
    access = AccessLog(logging_config("combined"), stream=out)
    rec = AccessRecord(
        client="1.2.3.4",
        method="GET",
        target="/a",
        version="1.1",
        status=200,
        bytes=3,
        duration=0.001,
        cache="hit",
        tier="memory",
        upstream_status=None,
        upstream_time=None,
        request_id="r1",
        cache_status="edge; hit",
    )
    access.write(rec)
    path = tmp_path / "access.log"
    access.configure(logging_config("json", str(path)))  # what a SIGHUP does
    access.write(rec)
    access.configure(replace(logging_config("json", str(path)), access_log=False))
    access.write(rec)  # off: nothing
    access.close()
    assert parse_combined(out.getvalue().decode().strip())["client"] == "1.2.3.4"
    (line,) = path.read_text().splitlines()
    assert json.loads(line)["target"] == "/a"


def test_access_format_is_validated_by_key_path() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"logging": {"access": {"format": "apache"}}})
    assert err.value.path == "logging.access.format"
    cfg = config_from_dict({"logging": {"format": "json", "access": {"path": "/tmp/a.log"}}})
    assert cfg.logging.access.path == "/tmp/a.log"
    assert isinstance(cfg, Config)
