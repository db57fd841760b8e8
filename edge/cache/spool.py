"""Read-while-writer: a body being received, which any number of readers follow.

A fill writes the origin's body into a :class:`Spool`; every client that
wants the object (the one that caused the fetch and any that joined later)
reads from the spool at its own pace, starting as soon as bytes arrive. Small
bodies stay in memory; a body past ``mem_limit`` moves to a spool file, so a
1 GiB object costs the process a bounded buffer however many readers follow
it. The spool file is handed to the store on commit (renamed, not copied);
readers keep reading through the spool's own descriptor.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncGenerator

from edge.errors import EdgeError, SpoolUnavailable, UpstreamBodyError
from edge.models import ClosingChunks
from edge.store.base import SpooledBody

READ_CHUNK = 256 * 1024
FLUSH_AT = 256 * 1024


class Spool:
    """A growing body. One writer; readers with :meth:`reader`."""

    def __init__(self, *, mem_limit: int, spool_dir: str | None) -> None:
        self._mem_limit = mem_limit
        self._spool_dir = spool_dir
        self._buf = bytearray()  # memory mode: everything; file mode: bytes not yet flushed
        self._flushed = 0  # file mode: bytes already in the file
        self._fd: int | None = None
        self._path: str | None = None
        self.size = 0
        self.done = False
        self.error: EdgeError | None = None
        self._event = asyncio.Event()
        self._users = 1  # the writer

    # -- writer side ------------------------------------------------------
    async def write(self, chunk: bytes) -> None:
        self._buf += chunk
        self.size += len(chunk)
        if self._fd is None and self.size > self._mem_limit:
            await self._to_file()
        if self._fd is not None and len(self._buf) >= FLUSH_AT:
            await self._flush()
        self._notify()

    async def finish(self) -> None:
        if self._fd is not None:
            await self._flush()
            await asyncio.to_thread(os.fsync, self._fd)
        self.done = True
        self._notify()

    def fail(self, error: EdgeError) -> None:
        self.error = error
        self._notify()

    def take_body(self) -> SpooledBody:
        """The complete body for the store; the store then owns the spool file."""
        assert self.done and self.error is None
        if self._fd is None:
            return SpooledBody(size=self.size, data=bytes(self._buf))
        path, self._path = self._path, None
        return SpooledBody(size=self.size, path=path)

    async def _to_file(self) -> None:
        if self._spool_dir is None:
            raise SpoolUnavailable("no spool directory for a body larger than memory allows")
        try:
            fd, path = await asyncio.to_thread(
                tempfile.mkstemp, prefix="fill-", suffix=".spool", dir=self._spool_dir
            )
        except OSError as exc:
            raise SpoolUnavailable(f"cannot create a spool file: {exc}") from exc
        self._fd, self._path = fd, path

    async def _flush(self) -> None:
        if not self._buf:
            return
        data = bytes(self._buf)
        fd, offset = self._fd, self._flushed
        assert fd is not None
        await asyncio.to_thread(os.pwrite, fd, data, offset)
        # Readers saw these bytes in _buf until now; from here on they read the file.
        self._flushed += len(data)
        del self._buf[: len(data)]

    def _notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    # -- reader side ------------------------------------------------------
    def acquire(self) -> None:
        self._users += 1

    def release(self) -> None:
        self._users -= 1
        if self._users == 0:
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._path is not None:  # never handed to a store
            try:
                os.unlink(self._path)
            except FileNotFoundError:
                pass
            self._path = None

    def reader(self, start: int = 0, stop: int | None = None) -> ClosingChunks:
        """Bytes ``[start, stop)`` as they arrive; raises the fill's error if it breaks.

        The reader holds the spool open from now until it is exhausted or
        ``aclose()``d, whether or not iteration ever starts.
        """
        self.acquire()
        return ClosingChunks(self._chunks(start, stop), self.release)

    async def _chunks(self, start: int, stop: int | None) -> AsyncGenerator[bytes, None]:
        pos = start
        while True:
            end = self.size if stop is None else min(stop, self.size)
            if pos < end:
                chunk = await self._read(pos, min(end, pos + READ_CHUNK))
                pos += len(chunk)
                yield chunk
                continue
            if self.error is not None:
                raise self.error
            if (stop is not None and pos >= stop) or (self.done and pos >= self.size):
                if stop is not None and pos < stop:
                    raise UpstreamBodyError("the body ended before the requested range")
                return
            await self._event.wait()

    async def _read(self, pos: int, end: int) -> bytes:
        if pos >= self._flushed:  # still in the buffer (always so for a memory spool)
            chunk = bytes(self._buf[pos - self._flushed : end - self._flushed])
        elif self._fd is None:
            raise UpstreamBodyError("the spool file was already released")
        else:
            chunk = await asyncio.to_thread(os.pread, self._fd, min(end, self._flushed) - pos, pos)
        if not chunk:  # never spin on an empty read: the bytes should be here
            raise UpstreamBodyError(f"spooled body has no bytes at offset {pos}")
        return chunk
