"""An in-memory upstream for flow tests, where the wire is not what is tested."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field

from multidict import CIMultiDict

from edge.errors import UpstreamConnectError
from edge.origin.client import InterimSink, OriginResponse


@dataclass
class Script:
    """One canned answer: status, fields, body (chunks), and an optional gate before the head."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: tuple[bytes, ...] = (b"hello",)
    gate: asyncio.Event | None = None
    fail: bool = False  # raise a connect error instead of answering
    body_gate: asyncio.Event | None = None  # hold the body (after the head) until set
    interim: tuple[tuple[int, list[tuple[str, str]]], ...] = ()  # 1xx sent before the head


@dataclass
class _Body:
    chunks_: tuple[bytes, ...]
    closed: bool = False
    gate: asyncio.Event | None = None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        if self.gate is not None:
            await self.gate.wait()
        for chunk in self.chunks_:
            await asyncio.sleep(0)
            yield chunk

    def close(self) -> None:
        self.closed = True


@dataclass
class Sent:
    method: str
    target: str
    headers: CIMultiDict[str]


class FakeUpstream:
    """Answers from ``scripts`` (by target; the last one repeats) and records every request."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Script]] = {}
        self.sent: list[Sent] = []
        self.bodies: list[_Body] = []
        # target -> (representation, fields): answered as an origin that honours Range
        self.representations: dict[str, tuple[bytes, dict[str, str]]] = {}

    def represent(self, target: str, data: bytes, **fields: str) -> None:
        """Answer ``target`` with ``data``, honouring a single Range and If-Range."""
        self.representations[target] = (data, {k.replace("_", "-"): v for k, v in fields.items()})

    def _ranged(self, method: str, target: str, headers: CIMultiDict[str]) -> OriginResponse:
        data, base = self.representations[target]
        fields = CIMultiDict(base)
        status, body = 200, data
        spec = headers.get("Range", "")
        if_range = headers.get("If-Range")
        if spec.startswith("bytes=") and "," not in spec and if_range in (None, base.get("ETag")):
            first_s, _, last_s = spec[6:].partition("-")
            size = len(data)
            if first_s:
                first, last = int(first_s), min(int(last_s) if last_s else size - 1, size - 1)
            else:
                first, last = max(0, size - int(last_s)), size - 1
            status, body = 206, data[first : last + 1]
            fields["Content-Range"] = f"bytes {first}-{last}/{size}"
        fields["Content-Length"] = str(len(body))
        part = _Body((body,) if method != "HEAD" else ())
        self.bodies.append(part)
        return OriginResponse(status, "", fields, 0 if method == "HEAD" else len(body), part)

    def answer(self, target: str, *scripts: Script) -> None:
        self.scripts[target] = list(scripts)

    def count(self, target: str) -> int:
        return sum(1 for s in self.sent if s.target == target)

    async def fetch(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None = None,
        *,
        key: str | None = None,
        on_interim: InterimSink | None = None,
    ) -> OriginResponse:
        self.sent.append(Sent(method, target, CIMultiDict(headers)))
        if target in self.representations:
            return self._ranged(method, target, headers)
        queue = self.scripts[target]
        script = queue.pop(0) if len(queue) > 1 else queue[0]
        if script.gate is not None:
            await script.gate.wait()
        if script.fail:
            raise UpstreamConnectError("cannot connect to origin")
        for status, interim_fields in script.interim:
            if on_interim is not None:
                on_interim(status, list(interim_fields))
        fields = CIMultiDict(script.headers)
        chunks = () if method == "HEAD" else script.chunks
        if "Content-Length" not in fields and "Transfer-Encoding" not in fields:
            fields["Content-Length"] = str(sum(len(c) for c in script.chunks))
        length = 0 if method == "HEAD" else int(fields["Content-Length"])
        body_ = _Body(chunks, gate=script.body_gate)
        self.bodies.append(body_)
        return OriginResponse(script.status, "", fields, length, body_)
