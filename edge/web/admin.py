"""The admin app (its own listener): purge, versions, warming, stats, entries, metrics, health.

Every endpoint but ``/healthz`` needs ``Authorization: Bearer <token>``
(compared in constant time). Bodies are JSON decoded straight into msgspec
Structs that forbid unknown fields, so nothing malformed reaches the store;
errors are JSON ``{"error": "..."}`` naming the problem. The routes and the
OpenAPI document (``/openapi.json``) are built from one table, ``OPERATIONS``.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from edge.errors import ClientRequestError, EdgeError
from edge.invalidation.purge import Invalidator
from edge.invalidation.versions import VersionTable
from edge.policy.entries import age_and_ttl
from edge.runtime.metrics import make_registry
from edge.runtime.node import Node
from edge.runtime.workers import VERSION_HEADER
from edge.web.admin_figures import FIGURES_NODE, metrics, stats
from edge.web.admin_io import decode_body as _decode
from edge.web.admin_io import error_answer as _error
from edge.web.admin_io import from_worker as _from_worker
from edge.web.admin_io import json_answer as _json
from edge.web.admin_reload import NODE_KEY as RELOAD_NODE
from edge.web.admin_reload import RELOAD_OPERATIONS
from edge.web.admin_schema import (
    MAX_BODY,
    MAX_LIMIT,
    REALM,
    EntriesAnswer,
    EntryInfo,
    ErrorAnswer,
    Health,
    PurgeAnswer,
    PurgeBody,
    StatsAnswer,
    VersionAnswer,
    VersionBody,
    VersionsAnswer,
)
from edge.web.admin_warm import WARM_OPERATIONS, WARMER
from edge.web.auth import presented_token, token_ok
from edge.web.dashboard import DASHBOARD_OPERATIONS, install_dashboard
from edge.web.openapi import Handler, Operation, QueryParam, build_document

log = logging.getLogger("edge.admin")


# -- the app's state ----------------------------------------------------------------
@dataclass(slots=True)
class Admin:
    node: Node
    invalidator: Invalidator
    versions: VersionTable
    registry: CollectorRegistry


NODE = web.AppKey("node", Node)
ADMIN = web.AppKey("admin", Admin)
DOCUMENT = web.AppKey("openapi", dict)


# -- handlers -----------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    return _json(Health(status="ok", name=request.app[NODE].cfg.name))


async def purge(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    body: PurgeBody = await _decode(request, PurgeBody)
    if not (body.urls or body.prefixes or body.tags or body.all):
        raise ClientRequestError(
            'nothing to purge: give "urls", "prefixes" or "tags" (non-empty), or "all": true'
        )
    outcome = await admin.node.coordinator.purge(
        urls=body.urls,
        prefixes=body.prefixes,
        tags=body.tags,
        everything=body.all,
        soft=body.soft,
        local=body.local,
        wait=body.wait,
        fanout=_from_worker(request),
    )
    log.info(
        "purged %d entries (soft=%s) on request from %s", outcome.purged, body.soft, request.remote
    )
    return _json(PurgeAnswer(purged=outcome.purged, soft=body.soft, nodes=outcome.nodes))


async def bump_version(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    body: VersionBody = await _decode(request, VersionBody)
    if not body.prefix.isprintable():
        raise ClientRequestError(f"prefix {body.prefix!r} contains control characters")
    adopt: int | None = None
    if _from_worker(request):
        try:
            adopt = int(request.headers.get(VERSION_HEADER, ""))
        except ValueError:
            raise ClientRequestError(f"{VERSION_HEADER} must be an integer") from None
    version, nodes = await admin.node.coordinator.bump(body.prefix, wait=body.wait, adopt=adopt)
    return _json(VersionAnswer(prefix=body.prefix, version=version, nodes=nodes))


async def list_versions(request: web.Request) -> web.Response:
    return _json(VersionsAnswer(versions=request.app[ADMIN].versions.snapshot()))


async def entries(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    limit_text = request.query.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise ClientRequestError(f"limit must be an integer 1..{MAX_LIMIT}, got {limit_text!r}")
    limit = int(limit_text)
    out: list[EntryInfo] = []
    async for e in _entries_under(admin, request.query.get("prefix", "")):
        if len(out) == limit + 1:
            break
        out.append(e)
    return _json(EntriesAnswer(entries=out[:limit], truncated=len(out) > limit))


async def _entries_under(admin: Admin, prefix: str) -> AsyncIterator[EntryInfo]:
    """Stored entries whose URL starts with ``prefix``, in URL order, read from the store."""
    index, store = admin.invalidator.index, admin.node.store
    url_prefixes = admin.invalidator.url_prefixes(prefix) if prefix else [""]
    now = admin.node.clock.now()
    for url_prefix in url_prefixes:
        for url in index.urls_with_prefix(url_prefix):
            for key in sorted(index.keys_for_url(url)):
                for e in await store.variants(key):
                    age, ttl = age_and_ttl(e, now)
                    yield EntryInfo(
                        url=e.url,
                        key=e.key,
                        variant=e.variant,
                        status=e.status,
                        age=age,
                        ttl=ttl,
                        size=e.body_size,
                        tags=list(e.tags),
                        tier=store.tier_of(e),
                        invalidated=e.invalidated,
                    )


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


_PREFIX_Q = QueryParam(
    "prefix", {"type": "string"}, "a path (every origin) or an absolute URL prefix"
)
_LIMIT_Q = QueryParam(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
    "at most this many entries",
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        "/purge",
        purge,
        "Purge by URL, prefix, tag or everything; hard or soft",
        PurgeBody,
        PurgeAnswer,
        errors=(400, 413),
    ),
    Operation(
        "POST",
        "/versions",
        bump_version,
        "Bump a path prefix's version (O(1))",
        VersionBody,
        VersionAnswer,
        errors=(400, 413, 500, 503),
    ),
    Operation(
        "GET",
        "/versions",
        list_versions,
        "Every bumped prefix and its version",
        answer=VersionsAnswer,
    ),
    Operation(
        "GET",
        "/stats",
        stats,
        "Counters, hit ratio, objects and bytes per tier",
        answer=StatsAnswer,
    ),
    Operation(
        "GET",
        "/entries",
        entries,
        "Cached entries under a prefix (bounded)",
        answer=EntriesAnswer,
        query=(_PREFIX_Q, _LIMIT_Q),
        errors=(400,),
    ),
    *WARM_OPERATIONS,
    *RELOAD_OPERATIONS,
    *DASHBOARD_OPERATIONS,
    Operation("GET", "/metrics", metrics, "Prometheus text exposition", answer_type="text/plain"),
    Operation("GET", "/healthz", healthz, "200 while serving", answer=Health, auth=False),
    Operation("GET", "/openapi.json", openapi, "This document"),
)
PUBLIC_PATHS = frozenset(op.path for op in OPERATIONS if not op.auth)


# -- auth and errors ----------------------------------------------------------------
def _unauthorized() -> web.Response:
    return _error(
        401,
        "missing or wrong admin token: send Authorization: Bearer <token>",
        {"WWW-Authenticate": REALM},
    )


@web.middleware
async def admin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth first (all but /healthz), then edge errors and HTTP errors as JSON."""
    if request.path not in PUBLIC_PATHS:
        if not token_ok(presented_token(request.headers), request.app[ADMIN].node.admin_token):
            return _unauthorized()
    try:
        return await handler(request)
    except EdgeError as exc:  # VersionPersistError (500) and ControlPlaneUnavailable too
        return _error(exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _error(
                exc.status,
                exc.reason,
                {"Allow": exc.headers.get("Allow", "")} if "Allow" in exc.headers else None,
            )
        raise


def _package_version() -> str:
    try:
        return importlib.metadata.version("edge")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def make_admin_app(
    node: Node,
    invalidator: Invalidator | None = None,
    versions: VersionTable | None = None,
    registry: CollectorRegistry | None = None,
) -> web.Application:
    """The admin app. Parts left out are built from the node (until ``serve`` passes them):
    an unwired in-memory version table, and an index only of what this app sees.
    """
    if invalidator is None:
        store = node.store
        engine = node.engine  # keys as the routing in use makes them (reloads included)
        invalidator = Invalidator(
            store, store.index, lambda s, h, t: engine.key_for(s, h, t), clock=node.clock
        )
    versions = versions if versions is not None else VersionTable(None)
    if registry is None:
        registry = make_registry(node.meters, node.store.stats)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[admin_middleware])
    app[NODE] = node
    app[ADMIN] = Admin(node, invalidator, versions, registry)
    app[WARMER] = node.warmer
    app[RELOAD_NODE] = node
    app[FIGURES_NODE] = node
    app[DOCUMENT] = build_document(OPERATIONS, ErrorAnswer, _package_version())
    install_dashboard(app, node)
    for op in OPERATIONS:
        app.router.add_route(op.method, op.path, op.handler)
    return app


__all__ = [
    "ADMIN",
    "NODE",
    "OPERATIONS",
    "Admin",
    "make_admin_app",
]
