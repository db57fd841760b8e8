"""Edge compression: a fill that codes the origin's body as it streams into the spool.

A fill whose response :func:`edge.policy.coding.plan_coding` accepts is stored as
the variant the requesting client selects (:func:`edge.policy.vary.negotiated`):
identity, or a body coded here with zstd, brotli or gzip. Each coding is its own
stored variant under ``Vary: Accept-Encoding``; a client that selects another
coding misses that variant and fills it in turn (the origin sends identity
again). The coded body is produced chunk by chunk as the origin's arrives (never
the whole body in memory); a chunk of :data:`OFFLOAD_AT` bytes or more is
compressed in the default thread executor, so a large body does not hold the
event loop (zlib, brotli and zstandard release the GIL while they work).

The codec is flushed after each chunk the origin sent (a sync flush: the window
is kept, so matches still reach back across chunks): a body the origin streams
slowly reaches every reader as it arrives, never held back until the codec's
buffers fill. For a fast origin the chunks are socket reads of tens of KiB and
a flush costs a few bytes each (bench/results/compression).
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import brotli
import msgspec
import zstandard
from multidict import CIMultiDict

from edge.models import Entry
from edge.policy.coding import DIGEST_FIELDS, IDENTITY, CodingRules, coded_etag, plan_coding
from edge.policy.headers import AnyHeaders
from edge.policy.vary import negotiated, variant_key
from edge.runtime.stats import Stats

#: A chunk at least this large is compressed off the event loop.
OFFLOAD_AT = 16 * 1024


@dataclass(frozen=True, slots=True)
class Levels:
    zstd: int = 3
    br: int = 4
    gzip: int = 6


class Codec:
    """One coding's streaming compressor: ``feed`` (input in, whatever is ready out)
    and ``flush`` (everything fed so far out, the window kept), then ``finish`` once."""

    __slots__ = ("_feed", "_flush", "finish")

    def __init__(
        self,
        feed: Callable[[bytes], bytes],
        flush: Callable[[], bytes],
        finish: Callable[[], bytes],
    ) -> None:
        self._feed = feed
        self._flush = flush
        self.finish = finish

    def feed(self, data: bytes, flush: bool = True) -> bytes:
        out = self._feed(data)
        return out + self._flush() if flush else out


def make_codec(coding: str, levels: Levels) -> Codec:
    """A fresh compressor for ``coding`` ("zstd", "br" or "gzip")."""
    if coding == "gzip":
        z = zlib.compressobj(levels.gzip, zlib.DEFLATED, 31)  # wbits 31: the gzip wrapper
        return Codec(z.compress, lambda: z.flush(zlib.Z_SYNC_FLUSH), z.flush)
    if coding == "br":
        b = brotli.Compressor(quality=levels.br)
        return Codec(b.process, b.flush, b.finish)
    if coding == "zstd":
        # RFC 9659 §3: a window of at most 8 MiB (levels 1-19 keep to it without a size)
        zc = zstandard.ZstdCompressor(level=levels.zstd).compressobj()
        return Codec(zc.compress, lambda: zc.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK), zc.flush)
    raise ValueError(f"unknown coding {coding!r}")


class Compression:
    """The node's compression rules and codecs (``cache.compression``)."""

    __slots__ = ("rules", "levels", "_stats")

    def __init__(self, rules: CodingRules, levels: Levels, stats: Stats) -> None:
        self.rules = rules
        self.levels = levels
        self._stats = stats

    def negotiate(
        self,
        entry: Entry,
        headers: AnyHeaders,
        req_headers: AnyHeaders,
        content_length: int | None,
    ) -> tuple[Entry, CIMultiDict[str]] | None:
        """The entry and client-facing fields of the variant this request selects, or
        None when the edge leaves the response as the origin sent it.

        Both get ``Vary: Accept-Encoding``; a coded variant also its
        Content-Encoding, a weak ETag, no Content-Length (the coded size is
        known once it is complete) and no digest of the identity bytes.
        """
        rules = self.rules
        if not plan_coding(rules, entry.status, headers, content_length):
            return None
        coding = negotiated(req_headers, rules.offered)
        out = CIMultiDict(headers)
        stored = CIMultiDict(entry.headers)
        for fields in (out, stored):
            _add_vary(fields)
        vary = tuple(sorted({*entry.vary, "accept-encoding"}))
        changes: dict[str, object] = {}
        if coding != IDENTITY:
            etag = coded_etag(entry.etag)
            for fields in (out, stored):
                for name in ("content-length", "content-encoding", "etag", *DIGEST_FIELDS):
                    fields.popall(name, None)
                fields["Content-Encoding"] = coding
                if etag is not None:
                    fields["ETag"] = etag
            changes = {
                "coding": coding,
                "etag": etag,
                "source_etag": entry.etag,
                "source_size": content_length or 0,
                "body_size": 0,
            }
        coded = msgspec.structs.replace(
            entry,
            headers=tuple((str.__str__(k), str.__str__(v)) for k, v in stored.items()),
            vary=vary,
            codings=rules.offered,
            variant=variant_key(vary, req_headers, rules.offered),
            **changes,
        )
        return coded, out

    async def encode(
        self, chunks: AsyncGenerator[bytes, None], coding: str, counted: list[int]
    ) -> AsyncGenerator[bytes, None]:
        """``chunks`` coded with ``coding``; ``counted`` gets [identity bytes, coded bytes]."""
        codec = make_codec(coding, self.levels)
        loop = asyncio.get_running_loop()
        stats = self._stats
        stats.compressed += 1
        consumed = produced = 0
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                consumed += len(chunk)
                if len(chunk) >= OFFLOAD_AT:
                    out = await loop.run_in_executor(None, codec.feed, chunk)
                else:
                    out = codec.feed(chunk)
                if out:
                    produced += len(out)
                    yield out
        tail = codec.finish()
        produced += len(tail)
        counted[:] = [consumed, produced]
        stats.compression_in_bytes += consumed
        stats.compression_out_bytes += produced
        stats.compression_saved_bytes += consumed - produced
        if tail:
            yield tail


def _add_vary(fields: CIMultiDict[str]) -> None:
    """Vary gains Accept-Encoding (kept on one line with what the origin listed)."""
    lines = fields.getall("vary", None)
    fields.popall("vary", None)
    fields["Vary"] = ", ".join([*lines, "Accept-Encoding"]) if lines else "Accept-Encoding"
