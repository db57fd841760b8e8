"""RFC 9110 §9.3.3: a POST response with explicit freshness and a Content-Location naming
its own target answers later GETs; RFC 9111 §4.4's invalidation removes what came before."""

from __future__ import annotations

import pytest

from tests.cache.fakes import Script
from tests.cache.rig import DATE, Rig, cached, status_of

URL = "http://example.com/p"


def posted(**fields: str) -> Script:
    return Script(headers={"Date": DATE, **fields}, chunks=(b"new",))


async def test_rfc9110_9_3_3_post_response_answers_later_gets() -> None:
    rig = Rig()
    rig.upstream.answer("/p", cached(), posted(**{"Cache-Control": "max-age=60"}))
    await rig.get("/p")  # the representation before the POST
    rig.upstream.answer("/p", posted(**{"Cache-Control": "max-age=60", "Content-Location": URL}))
    r, body = await rig.get("/p", method="POST")
    assert body == b"new"
    assert status_of(r) == "edge; fwd=method; fwd-status=200; stored"
    r, body = await rig.get("/p")
    assert body == b"new" and "hit" in status_of(r)  # this response, not the one before
    assert [s.method for s in rig.upstream.sent] == ["GET", "POST"]


@pytest.mark.parametrize(
    "fields",
    [
        {"Cache-Control": "max-age=60"},  # no Content-Location
        {"Cache-Control": "max-age=60", "Content-Location": "/elsewhere"},
        {"Content-Location": "/p", "Last-Modified": "Fri, 30 Jan 2026 00:00:00 GMT"},  # heuristic
        {"Cache-Control": "max-age=60, private", "Content-Location": "/p"},
    ],
)
async def test_rfc9110_9_3_3_other_post_responses_are_not_stored(fields: dict[str, str]) -> None:
    rig = Rig()
    rig.upstream.answer("/p", posted(**fields))
    r, _ = await rig.get("/p", method="POST")
    assert "stored" not in status_of(r)
    rig.upstream.answer("/p", cached())
    r, _ = await rig.get("/p")
    assert "fwd=uri-miss" in status_of(r)


async def test_rfc9110_13_2_1_a_stored_post_answer_keeps_the_origins_verdict() -> None:
    rig = Rig()
    fields = {"Cache-Control": "max-age=60", "Content-Location": "/p", "ETag": '"new"'}
    rig.upstream.answer("/p", posted(**fields))
    # the origin evaluated If-Match against the resource before the POST: not again here
    r, body = await rig.get("/p", method="POST", If_Match='"old"', Range="bytes=0-0")
    assert (r.status, body) == (200, b"new")
