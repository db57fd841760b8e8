"""Helpers for tests that drive the running proxy (the ``edge`` fixture of tests/conftest.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import http_sf
from prometheus_client.parser import text_string_to_metric_families

from edge.config import Config, DiskTierConfig, MemoryTierConfig


def q(**params: str) -> str:
    """A path on the origin stub's ``/script`` route, which answers as its query says."""
    return "/script?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


def status_of(resp: Any) -> dict[str, Any]:
    """The last Cache-Status member (this node's), parsed as an RFC 9651 List.

    Its parameters, plus its name under ``"name"``: ``{"name": "edge", "hit": True, "ttl": 50}``.
    """
    members: Any = http_sf.parse(resp.headers["Cache-Status"].encode(), tltype="list")
    name, params = members[-1]
    return {"name": str(name), **{k: v for k, v in params.items()}}


def cache_status_raw(resp: Any) -> str:
    """The Cache-Status field as received, every member, unparsed."""
    return str(resp.headers["Cache-Status"])


def is_hit(resp: Any) -> bool:
    """Did this node answer from its cache (``hit`` in its Cache-Status member)?"""
    return status_of(resp).get("hit") is True


async def fetch(edge: Any, path: str, method: str = "GET", **kw: Any) -> tuple[Any, bytes]:
    """Send a request and read the body; then let the fill commit, so the fake clock can
    jump safely."""
    if method == "GET":
        resp = await edge.get(path, **kw)
    else:
        resp = await edge.client.request(method, path, **kw)
    body = await resp.read()
    await edge.settle()
    return resp, body


async def origin_has(edge: Any, path: str, count: int) -> None:
    """Until the origin has received ``count`` requests for ``path`` (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await edge.origin_count(path) < count:
        assert loop.time() < deadline, f"origin never saw request {count} for {path}"
        await asyncio.sleep(0.01)


def small_objects(*, disk: bool = True) -> Config:
    """A config whose memory tier takes objects up to 64 KiB (larger ones: disk, if enabled)."""
    base = Config()
    return replace(
        base,
        cache=replace(
            base.cache,
            memory=MemoryTierConfig(max_object_bytes=64 * 1024),
            disk=DiskTierConfig(enabled=disk),
        ),
    )


def metric_samples(text: str) -> dict[tuple[str, str], float]:
    """A Prometheus exposition parsed back: (sample name, sorted ``k=v`` labels) -> value."""
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[(s.name, labels)] = s.value
    return out
