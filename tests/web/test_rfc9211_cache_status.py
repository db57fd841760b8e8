"""The Cache-Status response field (RFC 9211)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.helpers import fetch, status_of
from tests.support.scripted_origin import ok, script
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)


async def test_cache_status_reports_miss_stored_then_hit_with_ttl(edge: Any) -> None:
    """RFC 9211 §2: fwd on a miss, hit with ttl afterwards, never both."""
    path = script(edge, "cs", ok(("Cache-Control", "max-age=100")))
    r, _ = await fetch(edge, path)
    st = status_of(r)
    assert st["fwd"] == "uri-miss" and st["stored"] is True and "hit" not in st
    assert st["fwd-status"] == 200
    edge.clock.advance(40)
    r, _ = await fetch(edge, path)
    st = status_of(r)
    assert st["hit"] is True and st["ttl"] == 60 and "fwd" not in st
