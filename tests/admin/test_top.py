"""``edge top --once`` against a real node's admin API, and the frame it draws."""

from __future__ import annotations

import asyncio

import pytest

from edge.cli import main
from edge.cli_top import Reading, frame
from tests.admin.conftest import TOKEN, Rig


async def test_top_once_shows_the_nodes_figures_and_top_keys(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    await rig.get("/static/top.css")
    for _ in range(3):
        await rig.get("/static/top.css")
    admin = str(rig.admin.make_url("")).rstrip("/")
    argv = ["top", "--once", "--admin", admin, "--token", TOKEN, "--interval", "0.05"]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("edge top: 1 node, every 0.05s")
    row = next(line for line in lines if line.startswith("edge-a "))
    assert "75.0%" in row  # hit ratio since start: 3 hits of 4 lookups
    assert "requests by outcome: hit 3 miss 1" in out
    assert any(line.endswith("/static/top.css") and " 3 " in line for line in lines)
    assert "\x1b[" not in out  # --once: no escape codes


async def test_top_names_a_node_it_cannot_read(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = str(rig.admin.make_url("")).rstrip("/")
    argv = ["top", "--once", "--admin", admin, "--token", "wrong-token-0123456789"]
    code = await asyncio.to_thread(main, [*argv, "--interval", "0.05"])
    out = capsys.readouterr().out
    assert code == 1 and "unreachable" in out and "401" in out


def test_the_frame_takes_rates_and_latency_from_the_interval() -> None:
    bounds = [0.001, 0.01, 0.1]
    before = Reading(
        "http://a",
        10.0,
        {
            "name": "a",
            "requests": 100,
            "hits": 90,
            "misses": 10,
            "origin_requests": 10,
            "latency_buckets": bounds,
            "latency": {"all": {"counts": [100, 0, 0, 0]}},
        },
    )
    now = Reading(
        "http://a",
        12.0,
        {
            "name": "a",
            "requests": 300,
            "hits": 190,
            "misses": 110,
            "origin_requests": 110,
            "hit_ratio": 0.6,
            "latency_buckets": bounds,
            "latency": {"all": {"counts": [100, 200, 0, 0]}},
        },
        {"by_hits": [{"url": "http://h/x", "hits": 5, "bytes": 2048}]},
    )
    lines = frame([now], [before], interval=2, limit=5)
    row = next(line for line in lines if line.startswith("a "))
    # 200 requests in 2 s; 100 hits of 200 lookups; every new answer in the 1-10 ms bucket
    assert "100.0" in row and "50.0%" in row and "60.0%" in row and "5.5ms" in row
    assert any(line.endswith("http://h/x") and "2.0KiB" in line for line in lines)
