"""Request ids, and error answers that say nothing about the backend (issue 12 item 5).

Run on both fronts (``make_edge``). The id is the client's ``X-Request-Id`` when
valid (1 to 128 visible ASCII characters), else generated; the origin receives
it; misses and error answers return it; an error's details go to the log once,
under the id, never to the client.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from multidict import CIMultiDict

from edge.config import Config
from edge.request_id import MAX_LENGTH, new_request_id, valid_request_id


def test_generated_ids_are_distinct_and_valid() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(valid_request_id(i) for i in ids)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("abc-123", True),
        ("x" * MAX_LENGTH, True),
        ("x" * (MAX_LENGTH + 1), False),
        ("", False),
        ("has space", False),
        ("tab\there", False),
        ("caf\u00e9", False),
        ("a\x7fb", False),
    ],
)
def test_client_ids_are_bounded_visible_ascii(value: str, ok: bool) -> None:
    assert valid_request_id(value) is ok


async def test_the_origin_and_the_client_get_the_clients_id(edge: Any) -> None:
    resp = await edge.get("/echo", headers={"X-Request-Id": "client-id-1"})
    seen = CIMultiDict((await resp.json())["headers"])
    assert seen["X-Request-Id"] == "client-id-1"
    assert resp.headers["X-Request-Id"] == "client-id-1"


@pytest.mark.parametrize("bad", ["x" * (MAX_LENGTH + 1), "two words"])
async def test_an_invalid_client_id_is_replaced(edge: Any, bad: str) -> None:
    resp = await edge.get("/echo", headers={"X-Request-Id": bad})
    seen = CIMultiDict((await resp.json())["headers"])["X-Request-Id"]
    assert seen != bad and valid_request_id(seen)
    assert resp.headers["X-Request-Id"] == seen


async def test_a_miss_carries_an_id_and_a_hit_does_not(edge: Any) -> None:
    miss = await edge.get("/static/app.js")
    await miss.read()
    assert valid_request_id(miss.headers["X-Request-Id"])
    hit = await edge.get("/static/app.js")
    await hit.read()
    assert "hit" in hit.headers["Cache-Status"]
    assert "X-Request-Id" not in hit.headers  # the hit path does no per-request work for it


async def test_a_refused_origin_answers_only_a_status_and_the_id(
    make_edge: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    edge = await make_edge(Config())
    edge.node.engine.origin.inner._key = ("http", "127.0.0.1", port)  # the client, not its meter
    with caplog.at_level(logging.WARNING, logger="edge.proxy"):
        resp = await edge.get("/anything", headers={"X-Request-Id": "req-502"})
        text = await resp.text()
    assert resp.status == 502
    assert text == "502 Bad Gateway\nrequest id: req-502\n"
    assert resp.headers["X-Request-Id"] == "req-502"
    assert str(port) not in text and "127.0.0.1" not in text
    lines = [r for r in caplog.records if "req-502" in r.getMessage()]
    assert len(lines) == 1 and str(port) in lines[0].getMessage()
    assert lines[0].exc_info is None  # an expected condition: no traceback


async def test_an_origin_timeout_says_only_504(make_edge: Any) -> None:
    edge = await make_edge(first_byte_timeout=0.3)
    resp = await edge.get("/fault/hang")
    text = await resp.text()
    rid = resp.headers["X-Request-Id"]
    assert resp.status == 504 and text == f"504 Gateway Timeout\nrequest id: {rid}\n"


async def test_a_client_error_still_says_what_was_wrong(edge: Any) -> None:
    name = edge.node.cfg.name
    resp = await edge.get("/static/app.js", headers={"CDN-Loop": name})
    text = await resp.text()
    assert resp.status == 508 and "loop" in text.lower()
    assert f"request id: {resp.headers['X-Request-Id']}" in text
