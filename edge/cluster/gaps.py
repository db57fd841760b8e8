"""The record of the last event a node applied, and the gap check it allows.

A node that was away longer than the stream keeps events (``max_age``), or that comes back
to a stream that was recreated, cannot know what the events it missed purged: it must drop
its cache. The server cannot tell: it moves a consumer's position forward when messages
go. So each node keeps its own record in ``<cache.dir>/control-state.json``: the stream's
creation time and the last sequence it applied.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

import msgspec

log = logging.getLogger("edge.cluster.control")


class GapRecord:
    """The last stream sequence applied here, kept in ``path`` (None: in memory only)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.last_seq = 0
        self._stream_created = ""

    async def check(
        self, created: str, first_seq: int, last_seq: int, drop: Callable[[], Awaitable[None]]
    ) -> None:
        """Compare the record with the stream as it is now (its creation time, its first and
        last sequence); call ``drop`` when events this node never applied are gone.

        No record: this node never joined, and there is nothing to lose. An unreadable
        record counts as a gap (fail closed).
        """
        if self.path is None:
            return
        record = await asyncio.to_thread(_read_state, self.path)
        if record is None:  # never joined: nothing to lose; records start with this stream
            self._stream_created = created
            return
        applied = max(self.last_seq, record.applied) if record.stream == created else 0
        lost = record.unreadable or record.stream != created or first_seq > applied + 1
        if lost:
            log.error(
                "control plane: events this node never applied are gone (stream sequences "
                "%d..%d%s); dropping the cache so nothing they purged is served",
                applied + 1,
                first_seq - 1,
                ", stream recreated" if record.stream != created else "",
            )
            await drop()
            self.last_seq = first_seq - 1  # handled: the next check starts from here
        await self.record(last_seq if lost else applied, created)

    async def record(self, seq: int, created: str | None = None) -> None:
        """Remember the last stream sequence applied (and which stream it belongs to)."""
        self.last_seq = max(self.last_seq, seq)
        self._stream_created = created or self._stream_created
        if self.path is None:
            return
        state = _State(self.last_seq, self._stream_created)
        await asyncio.to_thread(_write_state, self.path, state)


class _State(msgspec.Struct, frozen=True):
    applied: int
    stream: str  # the stream's creation time: a recreated stream is a different history
    unreadable: bool = False


def _read_state(path: str) -> _State | None:
    """This node's record; None when it has none (it never joined the control plane)."""
    try:
        with open(path, "rb") as f:
            return msgspec.json.decode(f.read(), type=_State)
    except FileNotFoundError:
        return None
    except (OSError, msgspec.DecodeError):
        return _State(0, "", unreadable=True)


def _write_state(path: str, state: _State) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(state))
    os.replace(tmp, path)  # no fsync: a lost update only makes a later gap check stricter
