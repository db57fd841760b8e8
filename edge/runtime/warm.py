"""Cache warming: jobs that request a list of URLs through the node's own request flow.

A job (``POST /warm`` on the admin API, ``edge warm``) sends each URL as a
plain client ``GET`` to :meth:`edge.cache.flow.RequestFlow.handle` and reads
the answer's body to its end, so the response is stored exactly as a
client's would be: same cache key, same rules, same collapsing with real
clients, same tiers. Each answer is counted by this node's ``Cache-Status``
member: ``stored``, ``cached`` (a hit, or a stored entry revalidated),
``uncacheable`` (answered but not stored: private, no-store, an error
status...) or ``failed`` (5xx, the origin unreachable, a body that broke off).

A URL is a path (``/a?b``) or an absolute http(s) URL. The node serves plain
HTTP, so an absolute URL's scheme is not part of what is cached; its host is
the ``Host`` the request carries, and all URLs of a job have one host: the
job's ``host``, else the absolute URLs' own, else the proxy's listen address.

Jobs are tasks of the node, bounded in number (:data:`MAX_RUNNING` running,
:data:`MAX_KEPT` remembered) and cancelled when it shuts down.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from multidict import CIMultiDict, CIMultiDictProxy

from edge.clock import Clock
from edge.errors import ClientRequestError, EdgeError
from edge.models import BodySource, FileBody, ProxyRequest, ProxyResponse, StreamBody
from edge.policy.keys import normalize_url
from edge.runtime.stats import Stats

log = logging.getLogger("edge.warm")

MAX_URLS = 10_000  # per job
MAX_CONCURRENCY = 64
MAX_RUNNING = 4
MAX_KEPT = 32  # finished jobs are forgotten oldest first beyond this
MAX_ERRORS = 20  # failures kept per job, with their reason
USER_AGENT = "edge-warm"

Handle = Callable[[ProxyRequest, None], Awaitable[ProxyResponse]]
State = Literal["running", "done", "cancelled"]
Outcome = Literal["stored", "cached", "uncacheable", "failed"]


class JobLimit(EdgeError):
    status = 429
    detail = "warm-jobs"


@dataclass(slots=True)
class WarmJob:
    id: str
    host: str
    targets: list[str]
    concurrency: int
    started_at: float
    headers: dict[str, str] = field(default_factory=dict)
    done: int = 0
    stored: int = 0
    cached: int = 0
    uncacheable: int = 0
    failed: int = 0
    state: State = "running"
    finished_at: float | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def total(self) -> int:
        return len(self.targets)

    def count(self, target: str, outcome: Outcome, reason: str = "") -> None:
        self.done += 1
        match outcome:
            case "stored":
                self.stored += 1
            case "cached":
                self.cached += 1
            case "uncacheable":
                self.uncacheable += 1
            case "failed":
                self.failed += 1
                if len(self.errors) < MAX_ERRORS:
                    self.errors.append((f"http://{self.host}{target}", reason))
        self.changed()

    def changed(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def progress_after(self, done: int, seconds: float) -> None:
        """Return once ``done`` has moved past the given count or the job ended, or after
        ``seconds`` (the long poll of ``GET /warm/<id>?after=N&wait=S``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.done == done and self.state == "running":
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return


def classify(response: ProxyResponse) -> Outcome:
    """What a warming request did, from this node's Cache-Status member."""
    params = {p.strip().split("=", 1)[0]: p.strip() for p in response.cache_status.split(";")}
    if "hit" in params:
        return "cached"
    if response.status >= 500:
        return "failed"  # even if stored (an explicit max-age on an error): not warmed
    if "stored" in params:
        return "stored"
    if params.get("fwd-status") == "fwd-status=304" and response.status < 300:
        return "cached"  # a stored entry, revalidated and freshened
    return "uncacheable"


async def drain(body: BodySource) -> None:
    """Read a body to its end (a fill stores it as it goes), or close it."""
    if isinstance(body, FileBody):
        body.file.close()
        return
    if not isinstance(body, StreamBody):
        return
    chunks = body.chunks
    try:
        async for _ in chunks:
            pass
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


def job_targets(urls: Sequence[str], host: str | None, default_host: str) -> tuple[str, list[str]]:
    """(the job's host, one target per URL); ClientRequestError naming a bad URL."""
    parsed: list[tuple[str, str, str, str]] = []  # (input, kind, host, target)
    for url in urls:
        try:
            _, url_host, target = normalize_url(url, "http", host or default_host)
        except ValueError as exc:
            raise ClientRequestError(str(exc)) from None
        if not target.isprintable() or " " in target:
            raise ClientRequestError(f"URL {url!r} contains spaces or control characters")
        parsed.append((url, "path" if url.strip().startswith("/") else "url", url_host, target))
    absolute = [(url, h) for url, kind, h, _ in parsed if kind == "url"]
    job_host = normalize_url("/", "http", host)[1] if host else None
    if job_host is None:
        job_host = absolute[0][1] if absolute else normalize_url("/", "http", default_host)[1]
    for url, url_host in absolute:
        if url_host != job_host:
            raise ClientRequestError(
                f'URL {url!r} is not on {job_host}: a job warms one host (give "host" '
                "or split the list)"
            )
    return job_host, [target for *_, target in parsed]


class Warmer:
    """The node's warming jobs."""

    def __init__(
        self, handle: Handle, *, clock: Clock, default_host: str, stats: Stats | None = None
    ) -> None:
        self._handle = handle
        self._clock = clock
        self._stats = stats  # the node's counters: /metrics counts warmed URLs by outcome
        self.default_host = default_host
        self._jobs: dict[str, WarmJob] = {}  # oldest first
        self._closed = False

    def get(self, job_id: str) -> WarmJob | None:
        return self._jobs.get(job_id)

    def start(
        self,
        urls: Sequence[str],
        *,
        concurrency: int = 8,
        host: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WarmJob:
        if not urls:
            raise ClientRequestError('nothing to warm: give "urls" (non-empty)')
        if len(urls) > MAX_URLS:
            raise ClientRequestError(f"{len(urls)} URLs: at most {MAX_URLS} per job")
        if not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ClientRequestError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
        if self._closed:
            raise JobLimit("the node is shutting down")
        job_host, targets = job_targets(urls, host, self.default_host)
        running = [j for j in self._jobs.values() if j.state == "running"]
        if len(running) >= MAX_RUNNING:
            raise JobLimit(f"{MAX_RUNNING} warm jobs are running already: wait for one to end")
        while len(self._jobs) >= MAX_KEPT:
            oldest = next(j for j in self._jobs.values() if j.state != "running")
            del self._jobs[oldest.id]
        job = WarmJob(
            id=secrets.token_hex(6),
            host=job_host,
            targets=targets,
            concurrency=concurrency,
            started_at=self._clock.now(),
            headers=dict(headers or {}),
        )
        self._jobs[job.id] = job
        job.task = asyncio.create_task(self._run(job), name=f"warm-{job.id}")
        job.task.add_done_callback(lambda _: self._ended(job))  # also if cancelled unstarted
        log.info(
            "warm job %s: %d URLs on %s, %d at a time", job.id, job.total, job_host, concurrency
        )
        return job

    def cancel(self, job: WarmJob) -> None:
        if job.task is not None and not job.task.done():
            job.task.cancel()

    async def close(self) -> None:
        """Cancel every running job and wait for them (node shutdown)."""
        self._closed = True
        tasks = [j.task for j in self._jobs.values() if j.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _ended(self, job: WarmJob) -> None:
        if job.state == "running":
            job.state = "cancelled"
            job.finished_at = self._clock.now()
            job.changed()

    async def _run(self, job: WarmJob) -> None:
        pending = iter(job.targets)
        workers = [self._worker(job, pending) for _ in range(min(job.concurrency, job.total))]
        try:
            await asyncio.gather(*workers)
            job.state = "done"
        except asyncio.CancelledError:
            job.state = "cancelled"
            raise
        finally:
            job.finished_at = self._clock.now()
            job.changed()
            log.info(
                "warm job %s %s: %d stored, %d cached, %d uncacheable, %d failed",
                job.id,
                job.state,
                job.stored,
                job.cached,
                job.uncacheable,
                job.failed,
            )

    async def _worker(self, job: WarmJob, pending: Iterator[str]) -> None:
        for target in pending:  # shared: each target is taken by one worker
            outcome, reason = await self._fetch(job, target)
            job.count(target, outcome, reason)
            if self._stats is not None:
                self._stats.count_warmed(outcome)

    async def _fetch(self, job: WarmJob, target: str) -> tuple[Outcome, str]:
        fields = CIMultiDict(job.headers)
        fields["Host"] = job.host
        fields.setdefault("User-Agent", USER_AGENT)
        request = ProxyRequest(
            method="GET",
            target=target,
            scheme="http",
            host=job.host,
            headers=CIMultiDictProxy(fields),
            client_ip="127.0.0.1",
        )
        try:
            response = await self._handle(request, None)
            await drain(response.body)
        except EdgeError as exc:
            return "failed", f"{exc.status} {exc.message}"
        except (OSError, ValueError) as exc:
            return "failed", f"{type(exc).__name__}: {exc}"
        outcome = classify(response)
        return outcome, f"status {response.status}" if outcome == "failed" else ""
