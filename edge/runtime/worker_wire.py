"""What workers say to each other when one fills a key from its owner (edge.runtime.worker_routing).

Each key has an *owner* worker, chosen on a consistent-hash ring of the workers
(:class:`Owners`). A worker filling a key it does not own asks the owner over the
owner's private Unix socket; the owner collapses the ask onto its own fill.

The exchange is framed, not HTTP, so nothing between the two workers adds or
rewrites a field (no ``Server`` or ``Date`` of an HTTP library): the owner hands
back the response exactly as its upstream sent it. A frame is a 4-byte
big-endian length and that many bytes:

- the ask: one msgpack :class:`Ask`;
- the answer: one msgpack :class:`Head`, then, for a response, the body as
  frames of bytes ending with an empty frame. A connection that closes before
  the empty frame is a body that broke off.

The ask carries the request as the asking worker would have sent it upstream
(its :class:`~edge.cache.forwarding.Forwarding` already applied);
:func:`unforward` gives back the request that forwarding came from, so the
owner's own fill forwards it to exactly the same fields.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Literal

import msgspec
from multidict import CIMultiDict, CIMultiDictProxy

from edge.cache.forwarding import Forwarding
from edge.cluster.ring import HashRing
from edge.models import ProxyRequest
from edge.request_id import HEADER as REQUEST_ID

MAX_HEAD = 1 << 20  # an ask or a head frame larger than this is garbage
END = b"\x00\x00\x00\x00"  # the empty frame that ends a body
_LENGTH = struct.Struct(">I")


class Ask(msgspec.Struct, frozen=True):
    """A fill's request, from the worker filling to the key's owner."""

    target: str  # exactly as the client sent it (the owner keys on it)
    headers: list[tuple[str, str]]  # as they would have gone upstream
    version: int  # the asker's version of the target's prefix: the owner must agree


class Head(msgspec.Struct, frozen=True):
    """The owner's answer.

    ``response``: the upstream's response, its body follows; ``direct``: the owner will
    not serve this one (the asker fetches it itself); ``error``: the owner's fill failed.
    """

    kind: Literal["response", "direct", "error"]
    status: int = 0
    reason: str = ""
    headers: list[tuple[str, str]] = []
    length: int | None = None  # the body's length when the upstream announced it
    key: str = ""  # the owner's primary cache key for the ask
    sent: float | None = None  # when the owner's request upstream went out (wall clock)
    error: str = ""  # the error's class name (edge.errors)
    message: str = ""


_encode = msgspec.msgpack.Encoder().encode
_ask = msgspec.msgpack.Decoder(Ask)
_head = msgspec.msgpack.Decoder(Head)


def pairs(headers: CIMultiDict[str]) -> list[tuple[str, str]]:
    """Header fields as plain pairs (names may be multidict's ``istr``: not encodable)."""
    return [(str(name), value) for name, value in headers.items()]


def chunk_prefix(length: int) -> bytes:
    """The length that goes before a body chunk (written apart: the chunk is not copied)."""
    return _LENGTH.pack(length)


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def ask_frame(ask: Ask) -> bytes:
    return frame(_encode(ask))


def head_frame(head: Head) -> bytes:
    return frame(_encode(head))


async def read_frame(reader: asyncio.StreamReader, limit: int | None = None) -> bytes:
    """One frame's payload (``b""`` for the end frame); IncompleteReadError if cut off."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    if limit is not None and length > limit:
        raise ValueError(f"a {length}-byte frame where at most {limit} were expected")
    return await reader.readexactly(length) if length else b""


async def read_ask(reader: asyncio.StreamReader) -> Ask:
    return _ask.decode(await read_frame(reader, MAX_HEAD))


async def read_head(reader: asyncio.StreamReader) -> Head:
    return _head.decode(await read_frame(reader, MAX_HEAD))


class Owners:
    """Which worker owns a key: consistent hashing of the unversioned cache key.

    Every worker builds the same ring from the worker count, so all agree
    without talking; a version bump never moves a key to another owner.
    """

    __slots__ = ("_ring",)

    def __init__(self, count: int) -> None:
        self._ring = HashRing([f"w{i}" for i in range(count)])

    def of(self, key: str) -> int:
        return int(self._ring.owner(key)[1:])


def unforward(target: str, headers: CIMultiDict[str], fwd: Forwarding) -> ProxyRequest:
    """The GET request for ``target`` that ``fwd.upstream`` turned into ``headers`` (its inverse).

    ``fwd.upstream`` of the result gives ``headers`` back: the client's Host and
    X-Forwarded-* reach the origin as if the asking worker had sent them itself.
    """
    out = CIMultiDict(headers)
    client_ip = _pop_last(out, "X-Forwarded-For") or ""
    scheme = out.popone("X-Forwarded-Proto", "http")
    host = out.popone("X-Forwarded-Host", out.get("Host", ""))
    version = (1, 1)
    if fwd.via:
        member = _pop_last(out, "Via") or ""
        major, _, minor = member.partition(" ")[0].partition(".")
        if major.isdigit() and minor.isdigit():
            version = (int(major), int(minor))
    _pop_last(out, "CDN-Loop")
    return ProxyRequest(
        method="GET",
        target=target,
        scheme=scheme,
        host=host,
        headers=CIMultiDictProxy(out),
        client_ip=client_ip,
        http_version=version,
        request_id=out.get(REQUEST_ID, ""),  # the asking worker's, set by fwd.upstream
    )


def _pop_last(headers: CIMultiDict[str], name: str) -> str | None:
    """Remove the last member of a list field that forwarding appended; returns it."""
    value = headers.get(name)
    if value is None:
        return None
    rest, sep, last = value.rpartition(", ")
    if sep:
        headers[name] = rest
    else:
        headers.popall(name)
    return last
