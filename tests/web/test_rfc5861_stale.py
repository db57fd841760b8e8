"""stale-if-error (RFC 5861 §4) and the directives that forbid serving stale (RFC 9111 §4.2.4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, q
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("cc", ["must-revalidate", "proxy-revalidate", "no-cache", "s-maxage=2"])
async def test_directives_forbidding_stale_beat_stale_if_error(edge: Any, cc: str) -> None:
    """§4.2.4: never serve stale when must-revalidate, proxy-revalidate, no-cache or s-maxage."""
    path = q(cc=f"max-age=2, {cc}, stale-if-error=600")
    await fetch(edge, path)
    await edge.origin_post("/__origin/down")
    edge.clock.advance(10)
    r, _ = await fetch(edge, path)
    assert r.status == 503


async def test_stale_if_error_serves_stale_on_503_and_on_reset(edge: Any) -> None:
    path = q(cc="max-age=2, stale-if-error=60")
    _, b1 = await fetch(edge, path)
    await edge.origin_post("/__origin/down")
    edge.clock.advance(10)
    r, b = await fetch(edge, path)
    assert r.status == 200 and b == b1
    await edge.origin_post("/__origin/down?mode=reset")
    r, b = await fetch(edge, path)
    assert r.status == 200 and b == b1
