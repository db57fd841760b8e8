"""Shared helpers for the store tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.models import Entry
from edge.store.base import SpooledBody
from edge.store.disk import DiskTier
from edge.store.tiered import TieredStore


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


def spool(store: DiskTier | TieredStore, data: bytes, name: str = "body") -> SpooledBody:
    """``data`` written to the store's spool directory, as a fill leaves a body to commit."""
    assert store.spool_dir is not None
    path = Path(store.spool_dir) / name
    path.write_bytes(data)
    return SpooledBody(len(data), path=str(path))
