"""Targeted cache control: an invalid CDN-Cache-Control is ignored (RFC 9213 §2.1)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>
from tests.support.scripted_origin import reused

pytestmark = pytest.mark.timeout(60)


async def test_cdn_cache_control_with_invalid_syntax_is_ignored(edge: Any) -> None:
    """RFC 9213 §2.1: an invalid targeted field is ignored; Cache-Control applies."""
    assert not await reused(
        edge,
        "/seq/c",
        ("CDN-Cache-Control", "max-age=10000, &&&&&"),
        ("Cache-Control", "no-store"),
    )


async def test_cdn_cache_control_max_age_string_is_not_consumed(edge: Any) -> None:
    assert not await reused(
        edge,
        "/seq/c",
        ("CDN-Cache-Control", 'max-age="10000"'),
        ("Cache-Control", "no-store"),
    )
