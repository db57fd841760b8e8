"""A request body as the engine reads it: an async iterator fed by the parser.

Back-pressure (RFC 9112 §6 says nothing about it; TCP does): above
``high_water`` buffered bytes the connection stops reading from the socket,
and resumes once the engine has taken the buffer below ``high_water // 4``.
``Expect: 100-continue`` (RFC 9110 §10.1.1) is answered when the engine first
asks for a chunk, so a request the engine answers without its body (a 413,
a cached redirect) never makes the client send it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol


class BodyOwner(Protocol):
    """What a body needs from its connection."""

    def body_paused(self, paused: bool) -> None:
        """Stop (True) or resume (False) reading the socket for this body."""
        ...

    def body_wanted(self) -> None:
        """The engine asked for the body: send ``100 Continue`` if the client waits for it."""
        ...

    def body_waiting(self, waiting: bool) -> None:
        """The engine waits for bytes (the idle timer runs) or not."""
        ...


class RequestBody:
    """Chunks of one request body, in order; ends cleanly only when the message did."""

    __slots__ = (
        "_owner",
        "_chunks",
        "_buffered",
        "_waiter",
        "_error",
        "_paused",
        "high_water",
        "limit",
        "received",
        "complete",
        "started",
    )

    def __init__(self, owner: BodyOwner, *, limit: int, high_water: int) -> None:
        self._owner = owner
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._paused = False
        self.high_water = high_water
        self.limit = limit
        self.received = 0
        self.complete = False  # the parser saw the end of the message
        self.started = False  # the engine asked for a chunk

    # -- the parser's side --------------------------------------------------
    def feed(self, data: bytes) -> bool:
        """Append a chunk; False when it takes the body over ``limit`` (the caller answers 413)."""
        self.received += len(data)
        if self.received > self.limit:
            return False
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self.high_water and not self._paused:
            self._paused = True
            self._owner.body_paused(True)
        self._wake()
        return True

    def finish(self) -> None:
        self.complete = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        """The body cannot complete (malformed, too large, the client left, a timeout)."""
        if self._error is None and not self.complete:
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the engine's side --------------------------------------------------
    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        if not self.started:
            self.started = True
            self._owner.body_wanted()
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self.complete:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            self._owner.body_waiting(True)
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._owner.body_waiting(False)
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= self.high_water // 4:
            self._paused = False
            self._owner.body_paused(False)
        return chunk

    @property
    def buffered(self) -> int:
        return self._buffered
