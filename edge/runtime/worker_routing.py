"""Collapsing across workers: a fill for a key another worker owns is asked of that owner.

:class:`WorkerRoute` is the fills' :class:`~edge.origin.client.Upstream` in a node of
several workers. For a key it owns, or when the request is not a plain fill, it goes
straight upstream. For a key another worker owns it asks the owner (over the owner's
private socket, :mod:`edge.runtime.worker_relay`), which collapses the ask with its own
clients' fill and every other worker's, so a herd across all workers costs one origin
request; the body streams back as it arrives, into this worker's own fill and spool,
which its own clients follow.

Only plain fills go to the owner: passes and other methods never reach a
:class:`WorkerRoute` (the request flow has the plain upstream), and revalidations
(a fill with validators) go upstream from here. When the owner cannot be reached
(it is restarting) or declines (it disagrees on the prefix version, or the fill
it joined was not for sharing), this worker fetches upstream itself.

Counting: a fill counts its origin request before it is sent; when the owner
answered, the owner counted the one origin request (and its error), so this
worker counts the fill as ``relayed`` instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from multidict import CIMultiDict

from edge.config import OriginConfig
from edge.errors import (
    UpstreamBodyError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
)
from edge.invalidation.tombstones import Tombstones
from edge.origin.client import InterimSink, OriginResponse, Upstream
from edge.policy.tags import extract_tags
from edge.runtime.stats import Stats
from edge.runtime.worker_wire import Ask, Owners, ask_frame, pairs, read_frame, read_head
from edge.runtime.workers import WorkerRole

log = logging.getLogger("edge.workers")

#: the errors an owner's failed fill is raised as here; any other is an UpstreamError
ERRORS: dict[str, type[UpstreamError]] = {
    cls.__name__: cls
    for cls in (UpstreamError, UpstreamConnectError, UpstreamTimeout, UpstreamBodyError)
}
_VALIDATORS = ("If-None-Match", "If-Modified-Since")


class OwnerUnavailable(Exception):
    """The owner could not be asked, or went away before answering: fetch upstream instead."""


class WorkerRoute:
    """Implements :class:`Upstream` for fills: keys other workers own are asked of them."""

    def __init__(
        self,
        role: WorkerRole,
        upstream: Upstream,
        *,
        stats: Stats,
        tombstones: Tombstones,
        version_for: Callable[[str], int],
        timeouts: OriginConfig,
    ) -> None:
        if len(role.fill_sockets) != role.count:
            raise ValueError(f"worker {role.index}: one fill socket per worker is needed")
        self._role = role
        self._owners = Owners(role.count)
        self._upstream = upstream
        self._stats = stats
        self._tombstones = tombstones
        self._version_for = version_for
        self._first_byte = timeouts.first_byte_timeout
        self._read = timeouts.read_timeout

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
        owner = self._owner_to_ask(method, headers, body, key)
        if owner is not None:
            try:
                resp = await self._ask(owner, target, headers)
            except OwnerUnavailable as exc:
                log.info("worker %d: %s; fetching %s upstream", self._role.index, exc, target)
            else:
                if resp is not None:
                    return resp
        return await self._upstream.fetch(
            method, target, headers, body, key=key, on_interim=on_interim
        )

    def _owner_to_ask(
        self,
        method: str,
        headers: CIMultiDict[str],
        body: AsyncIterator[bytes] | None,
        key: str | None,
    ) -> int | None:
        """The worker to ask, or None to go upstream: own keys, revalidations, non-GETs."""
        if key is None or method != "GET" or body is not None:
            return None
        if any(name in headers for name in _VALIDATORS):
            return None  # a revalidation of what this worker holds: its own business
        if "Range" in headers:
            return None  # a range request (edge.cache.partial): the owner fills whole objects
        owner = self._owners.of(key)
        return None if owner == self._role.index else owner

    async def _ask(
        self, owner: int, target: str, headers: CIMultiDict[str]
    ) -> OriginResponse | None:
        """The owner's answer; None when it declined; raises the owner's fill error."""
        path = self._role.fill_sockets[owner]
        version = self._version_for(target.split("?", 1)[0])
        try:
            reader, writer = await asyncio.open_unix_connection(path)
        except OSError as exc:
            raise OwnerUnavailable(f"worker {owner} is not reachable ({exc})") from exc
        try:
            writer.write(ask_frame(Ask(target, pairs(headers), version)))
            async with asyncio.timeout(self._first_byte):
                head = await read_head(reader)
        except TimeoutError as exc:
            writer.close()
            raise UpstreamTimeout(
                f"worker {owner} (the key's owner) did not answer in time: GET {target}"
            ) from exc
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            raise OwnerUnavailable(f"worker {owner} went away before answering ({exc!r})") from exc
        except BaseException:
            writer.close()
            raise
        if head.kind != "response":
            writer.close()
        if head.kind == "direct":
            return None
        if head.kind == "error":
            self._answered_by_owner(error=True)
            raise ERRORS.get(head.error, UpstreamError)(head.message)
        resp_headers = CIMultiDict(head.headers)
        if head.sent is not None and self._tombstones.refuses_fill(
            head.key, extract_tags(resp_headers), head.sent
        ):
            # the owner's fill began before a purge this worker has applied: storing it
            # here would bring purged content back, so this worker asks upstream itself
            writer.close()
            return None
        self._answered_by_owner(error=head.status >= 500)
        return OriginResponse(
            status=head.status,
            reason=head.reason,
            headers=resp_headers,
            content_length=head.length,
            body=RelayedBody(reader, writer, self._read, owner),
        )

    def _answered_by_owner(self, *, error: bool) -> None:
        # the fill already counted an origin request (and counts an error after this):
        # those were the owner's, and the owner counted them
        self._stats.relayed += 1
        self._stats.origin_requests -= 1
        if error:
            self._stats.origin_errors -= 1


class RelayedBody:
    """The owner's body frames as a :class:`~edge.origin.client.ResponseBody`."""

    __slots__ = ("_reader", "_writer", "_read_timeout", "_owner")

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        read_timeout: float,
        owner: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._read_timeout = read_timeout
        self._owner = owner

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        received = 0
        try:
            while True:
                async with asyncio.timeout(self._read_timeout):
                    chunk = await read_frame(self._reader)
                if not chunk:
                    return
                received += len(chunk)
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"worker {self._owner} idle for more than {self._read_timeout:g}s mid-body"
            ) from exc
        except (OSError, asyncio.IncompleteReadError) as exc:
            raise UpstreamBodyError(
                f"the body from worker {self._owner} broke off after {received} bytes"
            ) from exc
        finally:
            self.close()

    def close(self) -> None:
        self._writer.close()
