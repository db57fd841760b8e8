"""Preload prefetch: the preload links of stored HTML responses fetched through the flow."""

from __future__ import annotations

import pytest

from edge.policy.links import preload_targets
from edge.runtime.prefetch import USER_AGENT, Prefetcher
from tests.cache.fakes import Script
from tests.cache.rig import DATE, Rig, status_of

BASE = "http://example.com/dir/page"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["</a.css>; rel=preload; as=style"], ["/a.css"]),
        (['<b.js>; rel="preload"; as=script, </c.png>; rel=preload'], ["/dir/b.js", "/c.png"]),
        (["<http://example.com:80/d?x=1>; rel=preload"], ["/d?x=1"]),  # same origin
        (["<http://other.example/e>; rel=preload", "<https://example.com/f>; rel=preload"], []),
        (["</g>; rel=prefetch", "</h>; rel=stylesheet", "</i>"], []),
        (['</j>; rel="stylesheet preload"'], ["/j"]),
        (["</k>; REL=Preload"], ["/k"]),
        (["</l>; rel=preload, </l>; rel=preload"], ["/l"]),  # once
        (["</m#frag>; rel=preload"], ["/m"]),
        (["<//user@example.com/n>; rel=preload"], []),
        (['</a,b>; rel=preload; title="x, y", </o>; rel=preload'], ["/a,b", "/o"]),
    ],
)
def test_preload_targets(values: list[str], expected: list[str]) -> None:
    assert preload_targets(values, BASE, 8) == expected


def test_preload_targets_are_bounded() -> None:
    links = [", ".join(f"</{i}>; rel=preload" for i in range(20))]
    assert preload_targets(links, BASE, 3) == ["/0", "/1", "/2"]
    assert preload_targets(links, BASE, 0) == []


def _html(*links: str, hints: tuple[str, ...] = ()) -> Script:
    headers = {"Cache-Control": "max-age=60", "Date": DATE, "Content-Type": "text/html"}
    script = Script(headers=headers, chunks=(b"<html></html>",))
    if links:
        script.headers["Link"] = ", ".join(links)
    if hints:
        script.interim = ((103, [("Link", h) for h in hints]),)
    return script


def _asset() -> Script:
    return Script(headers={"Cache-Control": "max-age=60", "Date": DATE, "Content-Type": "text/css"})


def _rig(**limits: int) -> tuple[Rig, Prefetcher]:
    rig = Rig()
    bounds = {"per_response": 8, "concurrency": 2, "max_in_flight": 64, **limits}
    prefetcher = Prefetcher(rig.flow.handle, rig.stats, **bounds)
    rig.fills.on_stored = prefetcher.offer
    return rig, prefetcher


async def test_preload_links_and_early_hints_are_stored() -> None:
    rig, prefetcher = _rig()
    rig.upstream.answer(
        "/page",
        _html(
            "</a.css>; rel=preload; as=style",
            "<http://elsewhere.example/x.js>; rel=preload",
            "</b.js>; rel=prefetch",
            hints=("</hint.css>; rel=preload; as=style",),
        ),
    )
    for target in ("/a.css", "/hint.css", "/b.js", "/x.js"):
        rig.upstream.answer(target, _asset())
    await rig.get("/page", Accept_Encoding="br")
    await prefetcher.drain()
    assert rig.upstream.count("/a.css") == 1 and rig.upstream.count("/hint.css") == 1
    assert rig.upstream.count("/b.js") == 0 and rig.upstream.count("/x.js") == 0
    sent = next(s for s in rig.upstream.sent if s.target == "/a.css")
    assert sent.headers["User-Agent"] == USER_AGENT and sent.headers["Accept-Encoding"] == "br"
    assert rig.stats.prefetched == 2
    resp, _ = await rig.get("/a.css")
    assert "; hit" in status_of(resp)
    assert rig.upstream.count("/a.css") == 1
    # a hit on the page prefetches nothing again (only a fill that stores it does)
    await rig.get("/page")
    await prefetcher.drain()
    assert rig.upstream.count("/hint.css") == 1


async def test_prefetch_is_bounded_and_never_recursive() -> None:
    rig, prefetcher = _rig(per_response=2, max_in_flight=1)
    links = [f"</p{i}>; rel=preload" for i in range(5)]
    rig.upstream.answer("/page", _html(*links))
    for i in range(5):  # each preload is itself HTML with links: not followed
        rig.upstream.answer(f"/p{i}", _html(f"</deep{i}>; rel=preload"))
    await rig.get("/page")
    await prefetcher.drain()
    assert [rig.upstream.count(f"/p{i}") for i in range(5)] == [1, 0, 0, 0, 0]
    assert rig.stats.prefetch_dropped == 1  # /p1: over max_in_flight; /p2.. over per_response
    assert sum(rig.upstream.count(f"/deep{i}") for i in range(5)) == 0


async def test_non_html_and_uncacheable_responses_prefetch_nothing() -> None:
    rig, prefetcher = _rig()
    css = _asset()
    css.headers["Link"] = "</font.woff2>; rel=preload"
    rig.upstream.answer("/style.css", css)
    private = _html("</a.css>; rel=preload")
    private.headers["Cache-Control"] = "private"
    rig.upstream.answer("/private", private)
    rig.upstream.answer("/font.woff2", _asset())
    rig.upstream.answer("/a.css", _asset())
    await rig.get("/style.css")
    await rig.get("/private")
    await prefetcher.drain()
    assert rig.upstream.count("/font.woff2") == 0 and rig.upstream.count("/a.css") == 0
