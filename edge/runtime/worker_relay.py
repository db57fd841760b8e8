"""The owner's side of collapsing across workers: fills asked for by the other workers.

Each worker listens on a private fill socket (next to its admin socket, in the
supervisor's 0700 directory). An :class:`~edge.runtime.worker_wire.Ask` that
arrives there joins this worker's fill for the key (or starts it), exactly as
one of its own clients would: the fill's shared outcome is what goes back.

- a stored response: its status and fields as the upstream sent them (with an
  ``Age`` for the time it has spent here), then its body from the fill's spool
  as the bytes arrive, so the asking worker's clients stream too;
- a response this worker started and may not share: relayed as it comes (it is
  the asker's, the only one it went to);
- anything else (the fill it joined was uncacheable or a revalidation, the asker
  has another prefix version, the cache is not ready): ``direct``, the asker
  fetches upstream itself;
- a failed fill: its error, raised again on the asking side.

The asks never pass the request flow: no Cache-Status, Via, hit or miss counts,
loop checks or client-side delivery rules apply to them. The origin request, if
any, is counted here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncGenerator, Callable

from multidict import CIMultiDict

from edge.cache.fills import Fill, Freshened, Own, PassThrough, Shared, Stored, Uncacheable
from edge.cache.flow import RequestFlow
from edge.cache.routes import Route
from edge.errors import EdgeError
from edge.models import ClosingChunks, ProxyRequest
from edge.policy.decide import LookupAction, decide_lookup
from edge.policy.entries import age_and_ttl
from edge.policy.headers import age_value
from edge.policy.keys import url_of_key
from edge.policy.request import RequestFacts, analyze_request
from edge.policy.rules import ignoring_client_no_cache
from edge.policy.vary import entry_variant
from edge.runtime.worker_wire import (
    END,
    Ask,
    Head,
    Owners,
    chunk_prefix,
    head_frame,
    pairs,
    read_ask,
    unforward,
)
from edge.runtime.workers import WorkerRole

log = logging.getLogger("edge.workers")

ASK_TIMEOUT = 10.0  # an asking worker sends its ask at once: a silent connection is dropped
_DIRECT = Head("direct")


class FillRelay:
    """Serves the fills the other workers ask this one for (it owns their keys)."""

    def __init__(
        self, engine: RequestFlow, role: WorkerRole, version_for: Callable[[str], int]
    ) -> None:
        self._engine = engine
        self._role = role
        self._version_for = version_for
        self._owners = Owners(role.count)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._answering: set[asyncio.Task[None]] = set()  # their ask read, answer under way

    @property
    def path(self) -> str:
        return self._role.fill_sockets[self._role.index]

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)  # left by this worker's previous process
        self._server = await asyncio.start_unix_server(self._serve, self.path)

    async def close(self, grace: float = 0.0) -> None:
        """Stop accepting; answers still streaming get ``grace`` seconds, then are cut (their
        askers see a broken body). New asks meanwhile are refused: askers go upstream."""
        if self._server is not None:
            self._server.close()
        if self._answering and grace > 0:
            await asyncio.wait(list(self._answering), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            async with asyncio.timeout(ASK_TIMEOUT):
                ask = await read_ask(reader)
            self._answering.add(task)  # a shutdown lets it finish within the grace
            await self._answer(ask, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            log.debug("fill ask from another worker ended: %r", exc)
        except Exception:  # a task boundary: the asker sees the connection close, and falls back
            log.exception("fill ask from another worker failed")
        finally:
            self._tasks.discard(task)
            self._answering.discard(task)
            writer.close()

    async def _answer(self, ask: Ask, writer: asyncio.StreamWriter) -> None:
        engine = self._engine
        if ask.version != self._version_for(ask.target.split("?", 1)[0]):
            writer.write(head_frame(_DIRECT))  # a version bump is on its way to one of us
            return
        if engine.cache_ready is not None and not engine.cache_ready():
            writer.write(head_frame(_DIRECT))
            return
        req = unforward(ask.target, CIMultiDict(ask.headers), engine.fwd)
        routing = engine.routing  # the routes are every worker's: the same config
        route = routing.select(req.host, req.target)
        key = routing.route_key(route, req.scheme, req.host, req.target)
        if route.never_cache or self._owners.of(url_of_key(key)) != self._role.index:
            writer.write(head_frame(_DIRECT))  # not ours: never pass an ask on
            return
        facts = analyze_request("GET", req.headers)
        if route.ignore_client_no_cache:
            facts = dataclasses.replace(facts, cc=ignoring_client_no_cache(facts.cc))
        try:
            result = await self._outcome(key, req, facts, route)
        except EdgeError as exc:
            head = Head("error", error=type(exc).__name__, message=exc.message)
            writer.write(head_frame(head))
            return
        match result:
            case Stored():
                await self._send_stored(result, writer)
            case PassThrough():
                await self._send_passed(key, result, writer)
            case Freshened() | Uncacheable():
                writer.write(head_frame(_DIRECT))

    async def _outcome(
        self, key: str, req: ProxyRequest, facts: RequestFacts, route: Route
    ) -> Shared | PassThrough:
        """As the request flow does for a miss: a response arriving in a fill of the key
        when it may be reused (read while it is written), else the key's running fill
        joined (or its variant's), else a fill of its own."""
        fills = self._engine.fills
        filling = fills.delivered(key, req.headers)
        if filling is not None:
            stored = filling[1]
            now = self._engine.clock.now()
            if decide_lookup(facts, stored.entry, now).action is LookupAction.HIT:
                return stored
            return Uncacheable(stored.status, "needs-validation")  # the asker fetches it
        fill, collapsed = fills.join_or_start(key, req, facts, None, route=route)
        result = await _outcome_of(fill, collapsed)
        if collapsed and isinstance(result, Stored | Freshened):
            want = entry_variant(result.entry, req.headers)
            if result.entry.variant != want:
                fill, collapsed = fills.join_or_start(
                    key, req, facts, None, variant=want, route=route
                )
                result = await _outcome_of(fill, collapsed)
        return result

    async def _send_stored(self, stored: Stored, writer: asyncio.StreamWriter) -> None:
        body = stored.spool.reader()  # at once: it holds the spool for this answer
        entry = stored.entry
        headers = CIMultiDict(stored.headers)
        age, _ = age_and_ttl(entry, self._engine.clock.now())
        if "Age" in headers or age >= 1:
            headers["Age"] = age_value(age)
        head = Head(
            "response",
            status=stored.status,
            reason=stored.reason,
            headers=pairs(headers),
            length=entry.body_size if "Content-Length" in headers else None,
            key=entry.key,
            sent=entry.request_time,
        )
        await _stream(writer, head, body)

    async def _send_passed(
        self, key: str, passed: PassThrough, writer: asyncio.StreamWriter
    ) -> None:
        resp = passed.response
        head = Head(
            "response",
            status=resp.status,
            reason=resp.reason,
            headers=pairs(resp.headers),
            length=resp.content_length,
            key=key,
        )
        if not await _stream(writer, head, resp.chunks()):
            resp.close()  # not read to its end: the connection cannot be reused


async def _stream(
    writer: asyncio.StreamWriter, head: Head, chunks: ClosingChunks | AsyncGenerator[bytes, None]
) -> bool:
    """The head, the body frames and the end frame; False when the body broke off."""
    try:
        writer.write(head_frame(head))
        async for chunk in chunks:
            writer.writelines((chunk_prefix(len(chunk)), chunk))
            await writer.drain()
        writer.write(END)
        await writer.drain()
        return True
    except EdgeError as exc:  # the upstream body broke off: so does this one (no end frame)
        log.warning("fill relayed to another worker broke off: %s", exc.message)
        return False
    except OSError:  # the asking worker went away; the fill goes on for the others
        return False
    finally:
        await chunks.aclose()


async def _outcome_of(fill: Fill, collapsed: bool) -> Shared | PassThrough:
    """The fill's outcome; never cancels the fill (as the request flow's fetch step)."""
    if collapsed:
        return await asyncio.shield(fill.shared)
    try:
        return await asyncio.shield(fill.own)
    except asyncio.CancelledError:
        fill.own.add_done_callback(_close_unclaimed)
        raise


def _close_unclaimed(future: asyncio.Future[Own]) -> None:
    if not future.cancelled() and future.exception() is None:
        result = future.result()
        if isinstance(result, PassThrough):
            result.response.close()
