"""Shared helpers for the store tests."""

from __future__ import annotations

from typing import Any

from edge.models import Entry


def make_entry(key: str = "k", variant: str = "", body: bytes = b"", **fields: Any) -> Entry:
    values: dict[str, Any] = {
        "url": f"http://example.com/{key}",
        "method": "GET",
        "status": 200,
        "reason": "OK",
        "headers": (("content-type", "text/plain"),),
        "vary": ("accept-encoding",) if variant else (),
        "request_time": 0.0,
        "response_time": 0.0,
        "initial_age": 0.0,
        "lifetime": 60.0,
        "body_size": len(body),
        "stored_at": 1.0,
    }
    values.update(fields)
    return Entry(key=key, variant=variant, **values)
