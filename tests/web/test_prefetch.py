"""Preload prefetch through a running node (cache.prefetch): one front is enough."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from edge.config import Config, PrefetchConfig
from tests.support.helpers import fetch, is_hit
from tests.support.scripted_origin import ok, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


async def test_a_stored_pages_preload_links_are_fetched_into_the_cache(
    make_edge: Any, front: str
) -> None:
    if front != "http1":
        pytest.skip("the prefetcher is the node's, whatever the front")
    base = Config()
    cfg = replace(base, cache=replace(base.cache, prefetch=PrefetchConfig(enabled=True)))
    edge = await make_edge(cfg)
    fresh = ("Cache-Control", "max-age=60")
    link = ("Link", "</seq/style>; rel=preload; as=style, </seq/other>; rel=prefetch")
    page = script(edge, "page", ok(fresh, ("Content-Type", "text/html"), link))
    script(edge, "style", ok(fresh, ("Content-Type", "text/css")))
    script(edge, "other", ok(fresh, ("Content-Type", "text/css")))
    await fetch(edge, page, headers={"Accept-Encoding": "gzip"})
    assert edge.node.prefetcher is not None
    await edge.node.prefetcher.drain()
    await edge.settle()
    assert len(seen(edge, "style")) == 1 and len(seen(edge, "other")) == 0
    assert seen(edge, "style")[0].headers["User-Agent"] == "edge-prefetch"
    r, _ = await fetch(edge, "/seq/style", headers={"Accept-Encoding": "gzip"})
    assert is_hit(r) and len(seen(edge, "style")) == 1
    assert edge.node.stats.prefetched == 1


async def test_prefetch_is_off_by_default(edge: Any) -> None:
    assert edge.node.prefetcher is None
    assert edge.node.engine.fills.on_stored is None
