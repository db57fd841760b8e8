"""RFC 9111 §4.2.4: within cache.serve_stale_on_error, a stale response answers while the
origin fails, unless the response forbids stale use."""

from __future__ import annotations

import logging

import pytest

from edge.errors import UpstreamConnectError
from edge.policy.options import PolicyOptions
from tests.cache.fakes import Script
from tests.cache.rig import Rig, cached, status_of

GRACE = PolicyOptions(stale_on_error=3600.0)


@pytest.mark.parametrize("failure", [Script(fail=True), Script(500), Script(502), Script(504)])
async def test_rfc9111_4_2_4_stale_answers_within_the_grace(
    failure: Script, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(GRACE)
    rig.upstream.answer("/g", cached(10), failure)
    await rig.get("/g")
    rig.clock.advance(600)
    with caplog.at_level(logging.WARNING, logger="edge.stale"):
        r, body = await rig.get("/g")
    assert (r.status, body) == (200, b"hello world")
    assert status_of(r).endswith("; detail=stale-if-error")
    assert "serving stale http://example.com/g" in caplog.text


async def test_rfc9111_4_2_4_no_stale_beyond_the_grace() -> None:
    rig = Rig(GRACE)
    rig.upstream.answer("/g", cached(10), Script(fail=True))
    await rig.get("/g")
    rig.clock.advance(3700)
    with pytest.raises(UpstreamConnectError):
        await rig.get("/g")


@pytest.mark.parametrize(
    "cc",
    ["max-age=10, must-revalidate", "max-age=10, proxy-revalidate", "max-age=10, s-maxage=10",
     "max-age=10, no-cache"],
)  # fmt: skip
async def test_rfc9111_4_2_4_no_stale_when_the_response_forbids_it(cc: str) -> None:
    rig = Rig(GRACE)
    rig.upstream.answer("/g", cached(10, **{"Cache-Control": cc}), Script(503))
    await rig.get("/g")
    rig.clock.advance(60)
    r, _ = await rig.get("/g")
    assert r.status == 503


async def test_rfc9111_4_2_4_a_zero_grace_serves_no_stale() -> None:
    rig = Rig(PolicyOptions(stale_on_error=0.0))
    rig.upstream.answer("/g", cached(10), Script(503))
    await rig.get("/g")
    rig.clock.advance(60)
    r, _ = await rig.get("/g")
    assert r.status == 503


async def test_rfc9111_4_2_4_the_log_is_one_line_per_url_per_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig(GRACE)
    rig.upstream.answer("/g", cached(10), Script(503))
    await rig.get("/g")
    rig.clock.advance(60)
    with caplog.at_level(logging.WARNING, logger="edge.stale"):
        for _ in range(5):
            await rig.get("/g")
        rig.clock.advance(61)
        await rig.get("/g")
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.stale"]
    assert len(lines) == 2 and lines[1].endswith("(4 more stale answers since)")
