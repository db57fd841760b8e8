"""Edge compression through the running proxy: codings, variants, validators, ranges."""

from __future__ import annotations

import gzip
from dataclasses import replace
from typing import Any

import brotli
import pytest
import zstandard

from edge.config import CompressionConfig, Config
from edge.runtime.metrics import render
from tests.support.helpers import fetch, is_hit, status_of
from tests.support.scripted_origin import Header, not_modified, ok, script, seen
from tests.support.scripted_origin import origin as origin  # fixture: the stub plus /seq/<name>

pytestmark = pytest.mark.timeout(60)

TEXT = b"".join(b"line %d of a compressible text body, repeated\n" % i for i in range(400))
FRESH: tuple[Header, ...] = (("Cache-Control", "max-age=600"), ("ETag", '"v1"'))


def decode(coding: str | None, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        out: bytes = brotli.decompress(data)
        return out
    if coding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert coding is None
    return data


def _text(edge: Any, name: str, *headers: Header, body: bytes = TEXT) -> str:
    return script(edge, name, ok(*FRESH, *headers, body=body))


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("br", "br"),
        ("zstd", "zstd"),
        ("gzip, deflate, br, zstd", "zstd"),  # a tie: the node's preference (zstd first)
        ("gzip;q=1.0, br;q=0.5", "gzip"),  # q-values rank
        ("X-GZIP", "gzip"),  # case-insensitive, x-gzip is gzip
        ("*", "zstd"),
        ("identity", None),
        ("gzip;q=0", None),
        ("deflate", None),  # nothing edge makes
        ("br;q=0.5, identity", None),  # identity explicitly preferred
    ],
)
async def test_the_client_gets_the_coding_it_prefers(edge: Any, accept: str, coding: str) -> None:
    path = _text(edge, "c")
    r, body = await fetch(edge, path, headers={"Accept-Encoding": accept})
    assert r.status == 200
    assert r.headers.get("Content-Encoding") == coding
    assert "Accept-Encoding" in r.headers["Vary"]
    assert decode(coding, body) == TEXT
    if coding is not None:
        assert len(body) < len(TEXT) // 3
        assert r.headers["ETag"] == 'W/"v1"'
    else:
        assert body == TEXT and r.headers["ETag"] == '"v1"'
    again, body2 = await fetch(edge, path, headers={"Accept-Encoding": accept})
    assert is_hit(again) and body2 == body
    assert again.headers.get("Content-Encoding") == coding
    assert again.headers["Content-Length"] == str(len(body))


async def test_spellings_that_select_one_coding_share_one_variant(edge: Any) -> None:
    path = _text(edge, "s")
    await fetch(edge, path, headers={"Accept-Encoding": "br"})
    for spelling in ("br, gzip;q=0.5", "BR;q=1.0", "gzip;q=0.2, br;q=0.9, deflate"):
        r, body = await fetch(edge, path, headers={"Accept-Encoding": spelling})
        assert is_hit(r), spelling
        assert decode("br", body) == TEXT
    for spelling in ("", "identity", "gzip;q=0"):  # and identity clients one other
        await fetch(edge, path, headers={"Accept-Encoding": spelling} if spelling else {})
    r, body = await fetch(edge, path, headers={"Accept-Encoding": "identity"})
    assert is_hit(r) and body == TEXT
    assert len(seen(edge, "s")) == 2  # br, then identity: each coding filled once


async def test_identity_clients_get_identity_bytes(edge: Any) -> None:
    path = _text(edge, "i")
    await fetch(edge, path, headers={"Accept-Encoding": "gzip"})
    r, body = await fetch(edge, path, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in r.headers and body == TEXT
    r, body = await fetch(edge, path, skip_auto_headers=("Accept-Encoding",))
    assert "Content-Encoding" not in r.headers and body == TEXT
    assert r.headers["Content-Length"] == str(len(TEXT))


@pytest.mark.parametrize(
    "headers",
    [
        (("Content-Encoding", "gzip"),),  # never twice
        (("Cache-Control", "max-age=600, no-transform"),),
        (("Content-Type", "image/png"),),
        (("Vary", "Accept-Encoding"),),  # the origin negotiates codings itself
    ],
)
async def test_responses_left_as_the_origin_sent_them(
    edge: Any, headers: tuple[Header, ...]
) -> None:
    path = _text(edge, "u", *headers)
    r, body = await fetch(edge, path, headers={"Accept-Encoding": "br"})
    assert body == TEXT
    assert r.headers.get("Content-Encoding") == dict(headers).get("Content-Encoding")
    assert r.headers["ETag"] == '"v1"'


async def test_small_bodies_and_no_transform_requests_get_identity(edge: Any) -> None:
    small = _text(edge, "small", body=b"tiny text")
    r, body = await fetch(edge, small, headers={"Accept-Encoding": "br"})
    assert body == b"tiny text" and "Vary" not in r.headers
    path = _text(edge, "nt")
    r, body = await fetch(
        edge, path, headers={"Accept-Encoding": "br", "Cache-Control": "no-transform"}
    )
    assert "Content-Encoding" not in r.headers and body == TEXT


async def test_validators_of_a_coded_variant(edge: Any) -> None:
    path = _text(edge, "v", ("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT"))
    ae = {"Accept-Encoding": "gzip"}
    _, coded = await fetch(edge, path, headers=ae)
    for tag in ('W/"v1"', '"v1"'):  # weak comparison: the identity's tag matches too
        r, _ = await fetch(edge, path, headers={**ae, "If-None-Match": tag})
        assert r.status == 304 and r.headers["ETag"] == 'W/"v1"'
        assert "Accept-Encoding" in r.headers["Vary"]
    r, body = await fetch(edge, path, headers={**ae, "If-None-Match": '"v2"'})
    assert r.status == 200 and body == coded
    for tag in ('W/"v1"', '"v1"'):
        r, _ = await fetch(edge, path, headers={**ae, "If-Match": tag})
        assert r.status == 412  # strong comparison never matches a transformed representation
    # ranges count in the coded bytes; an If-Range never matches them: the whole body
    r, part = await fetch(edge, path, headers={**ae, "Range": "bytes=0-9"})
    assert r.status == 206 and part == coded[:10]
    assert r.headers["Content-Range"] == f"bytes 0-9/{len(coded)}"
    for validator in ('W/"v1"', '"v1"', "Thu, 01 Jan 2026 00:00:00 GMT"):
        asked = {**ae, "Range": "bytes=0-9", "If-Range": validator}
        r, body = await fetch(edge, path, headers=asked)
        assert r.status == 200 and body == coded, validator
    # the identity variant keeps the origin's strong validator
    plain = {"Accept-Encoding": "identity", "Range": "bytes=0-9", "If-Range": '"v1"'}
    r, part = await fetch(edge, path, headers=plain)
    assert r.status == 206 and part == TEXT[:10]


async def test_a_stale_coded_variant_revalidates_with_the_origins_etag(edge: Any) -> None:
    name = "rv"
    path = script(
        edge,
        name,
        ok(("Cache-Control", "max-age=10"), ("ETag", '"v7"'), body=TEXT),
        not_modified(("Cache-Control", "max-age=10"), ("ETag", '"v7"')),
    )
    ae = {"Accept-Encoding": "br"}
    _, coded = await fetch(edge, path, headers=ae)
    edge.clock.advance(30)
    r, body = await fetch(edge, path, headers=ae)
    assert seen(edge, name)[-1].headers["If-None-Match"] == '"v7"'
    assert status_of(r).get("fwd") == "stale" and r.status == 200
    assert body == coded and r.headers["ETag"] == 'W/"v7"'
    r, body = await fetch(edge, path, headers=ae)
    assert is_hit(r) and body == coded and r.headers["ETag"] == 'W/"v7"'


async def test_a_large_body_is_coded_as_it_streams(edge: Any) -> None:
    big = TEXT * 200  # ~3.6 MiB: origin chunks over the offload threshold
    path = _text(edge, "big", body=big)
    for coding in ("gzip", "br", "zstd"):
        r, body = await fetch(edge, path, headers={"Accept-Encoding": coding})
        assert r.headers["Content-Encoding"] == coding
        assert decode(coding, body) == big
        r, again = await fetch(edge, path, headers={"Accept-Encoding": coding})
        assert is_hit(r) and again == body
    r, body = await fetch(edge, path, headers={"Accept-Encoding": "identity"})
    assert body == big


async def test_metrics_count_the_bytes_saved(edge: Any) -> None:
    path = _text(edge, "m")
    _, coded = await fetch(edge, path, headers={"Accept-Encoding": "gzip"})
    await fetch(edge, path, headers={"Accept-Encoding": "gzip"})  # a hit saves again
    stats = edge.node.stats
    assert stats.compressed == 1
    assert stats.compression_in_bytes == len(TEXT)
    assert stats.compression_out_bytes == len(coded)
    assert stats.compression_saved_bytes == 2 * (len(TEXT) - len(coded))
    text = render(edge.node.registry).decode()
    assert f"edge_compression_saved_bytes_total {float(2 * (len(TEXT) - len(coded)))}" in text


async def test_compression_can_be_turned_off(make_edge: Any) -> None:
    base = Config()
    cfg = replace(base, cache=replace(base.cache, compression=CompressionConfig(enabled=False)))
    edge = await make_edge(cfg)
    path = _text(edge, "off")
    r, body = await fetch(edge, path, headers={"Accept-Encoding": "br"})
    assert body == TEXT and "Content-Encoding" not in r.headers and "Vary" not in r.headers
