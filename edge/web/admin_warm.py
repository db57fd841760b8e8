"""The admin API's cache warming: ``POST /warm``, ``GET /warm/{job}``, ``DELETE /warm/{job}``.

The jobs are the node's (:class:`edge.runtime.warm.Warmer`): they fetch through
its request flow and are cancelled when it shuts down. ``GET /warm/{job}``
answers at once, or with ``after=N`` (and ``wait=S``, at most 30) once more
than ``N`` URLs are done or the job has ended: a long poll, so ``edge warm``
shows progress without polling in a loop.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from edge.errors import ClientRequestError
from edge.runtime.warm import MAX_RUNNING, Warmer, WarmJob
from edge.web.admin_io import decode_body, json_answer
from edge.web.admin_schema import WarmBody, WarmFailure, WarmProgress, WarmStarted
from edge.web.openapi import Operation, QueryParam

WARMER = web.AppKey("warmer", Warmer)
MAX_WAIT = 30.0


def progress(job: WarmJob) -> WarmProgress:
    return WarmProgress(
        job=job.id,
        state=job.state,
        host=job.host,
        total=job.total,
        done=job.done,
        stored=job.stored,
        already_cached=job.cached,
        uncacheable=job.uncacheable,
        failed=job.failed,
        concurrency=job.concurrency,
        started_at=job.started_at,
        finished_at=job.finished_at,
        errors=[WarmFailure(url=url, error=error) for url, error in job.errors],
    )


def _job(request: web.Request) -> WarmJob:
    job_id = request.match_info["job"]
    job = request.app[WARMER].get(job_id)
    if job is None:
        raise web.HTTPNotFound(reason=f"no warm job {job_id!r} (finished jobs are kept a while)")
    return job


def _number(request: web.Request, name: str, default: float, high: float) -> float:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= high:
        raise ClientRequestError(f"{name} must be a number 0..{high:g}, got {text!r}")
    return value


async def start_warm(request: web.Request) -> web.Response:
    body: WarmBody = await decode_body(request, WarmBody)
    job = request.app[WARMER].start(
        body.urls, concurrency=body.concurrency, host=body.host, headers=body.headers
    )
    return json_answer(WarmStarted(job=job.id, total=job.total, host=job.host), status=202)


async def warm_status(request: web.Request) -> web.Response:
    job = _job(request)
    if "after" in request.query:
        after = int(_number(request, "after", 0, job.total))
        await job.progress_after(after, _number(request, "wait", MAX_WAIT, MAX_WAIT))
    return json_answer(progress(job))


async def cancel_warm(request: web.Request) -> web.Response:
    job = _job(request)
    request.app[WARMER].cancel(job)
    if job.task is not None:
        await asyncio.gather(job.task, return_exceptions=True)
    return json_answer(progress(job))


_JOB_Q = (
    QueryParam(
        "after",
        {"type": "integer", "minimum": 0},
        "answer once more than this many URLs are done, or the job has ended",
    ),
    QueryParam(
        "wait",
        {"type": "number", "minimum": 0, "maximum": MAX_WAIT, "default": MAX_WAIT},
        "with after: answer anyway after this many seconds",
    ),
)

WARM_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/warm",
        start_warm,
        f"Start a warming job: fetch URLs through the cache (at most {MAX_RUNNING} running)",
        WarmBody,
        WarmStarted,
        errors=(400, 413, 429),
        status=202,
    ),
    Operation(
        "GET",
        "/warm/{job}",
        warm_status,
        "A warming job's progress (a long poll with after=N)",
        answer=WarmProgress,
        query=_JOB_Q,
        errors=(400, 404),
    ),
    Operation(
        "DELETE",
        "/warm/{job}",
        cancel_warm,
        "Cancel a warming job; its progress so far",
        answer=WarmProgress,
        errors=(404,),
    ),
)
