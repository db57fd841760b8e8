"""One edge node's parts, built together and torn down together.

The proxy app and the admin app share these; ``open_node`` is the one place
that creates the origin connection pool, the stores and the engine, and closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from edge.cache.compress import Compression, Levels
from edge.cache.fills import Fills
from edge.cache.flow import RequestFlow, cache_key_function
from edge.cache.forwarding import Forwarding, origin_host, trusted_networks
from edge.cache.refresh import RefreshAhead
from edge.cache.routes import DEFAULT_POOL, RoutingCell
from edge.clock import Clock
from edge.cluster.control import ControlPlane
from edge.cluster.coordinator import Applier, Coordinator
from edge.cluster.parents import ParentSet, ParentSpec
from edge.config import Config
from edge.errors import VersionPersistError
from edge.invalidation.purge import Invalidator
from edge.invalidation.versions import VersionTable
from edge.origin.client import OriginClient, Upstream
from edge.origin.pool import ConnectionPool
from edge.origin.tls import origin_context
from edge.policy.coding import CodingRules
from edge.policy.options import PolicyOptions
from edge.runtime.admin_token import resolve_admin_token
from edge.runtime.metrics import make_registry
from edge.runtime.prefetch import Prefetcher
from edge.runtime.reload import ReloadResult
from edge.runtime.routing import RoutingBuilder
from edge.runtime.stats import Stats
from edge.runtime.warm import Warmer
from edge.runtime.worker_routing import WorkerRoute
from edge.runtime.workers import WorkerLink, WorkerRole
from edge.store.base import CacheStore
from edge.store.index import CacheIndex, IndexedStore
from edge.store.tiered import build_store
from edge.telemetry.core import Meters
from edge.telemetry.upstream import MeteredUpstream
from edge.telemetry.watches import control_figures

log = logging.getLogger("edge.node")


@dataclass(slots=True)
class Node:
    cfg: Config
    clock: Clock
    engine: RequestFlow
    store: IndexedStore
    stats: Stats
    meters: Meters  # every figure of this node (stats among them), for /stats and /metrics
    admin_token: str
    index: CacheIndex
    versions: VersionTable
    invalidator: Invalidator
    registry: CollectorRegistry
    coordinator: Coordinator
    warmer: Warmer  # cache-warming jobs (admin POST /warm), cancelled on shutdown
    parents: ParentSet | None = None
    prefetcher: Prefetcher | None = None  # cache.prefetch.enabled
    link: WorkerLink | None = None  # with workers: the other workers' private admin sockets
    # set by ``serve``: re-read the config and apply what can change live (edge.runtime.reload)
    reload: Callable[..., Coroutine[Any, Any, ReloadResult]] | None = None
    # the routing of a (reloaded) config, built on the running one (edge.runtime.routing)
    routing_of: RoutingBuilder | None = None


def policy_options(cfg: Config) -> PolicyOptions:
    c = cfg.cache
    return PolicyOptions(
        heuristic_fraction=c.heuristic_fraction,
        heuristic_max=c.heuristic_max,
        targeted_field=c.targeted_field.lower(),
        surrogate_control=c.surrogate_control,
        cache_name=cfg.name,
        stale_on_error=c.serve_stale_on_error,
        store_set_cookie=c.store_set_cookie,
    )


def compression(cfg: Config, stats: Stats) -> Compression | None:
    """The node's edge compression (``cache.compression``), None when it is off."""
    c = cfg.cache.compression
    if not c.enabled or not c.codings:
        return None
    rules = CodingRules(c.codings, tuple(t.lower() for t in c.types), c.min_size)
    return Compression(rules, Levels(c.zstd_level, c.brotli_level, c.gzip_level), stats)


async def _open_versions(cfg: Config, store: IndexedStore) -> VersionTable:
    """The persisted version table; when unreadable, an empty one and an empty disk tier.

    Entries stored under a bumped prefix must never come back, so a node that
    cannot read its versions drops what the disk kept rather than serve it.
    """
    try:
        return await VersionTable.open(cfg.cache.dir)
    except VersionPersistError as exc:
        log.error("%s: versions are kept in memory only; clearing the disk tier to be safe", exc)
        removed = await store.remove_all()
        if removed:
            log.error("dropped %d stored entries whose version could not be checked", removed)
        return VersionTable(None)


def _upstream(
    cfg: Config,
    pool: ConnectionPool,
    clock: Clock,
    stack: contextlib.AsyncExitStack,
    meters: Meters,
) -> tuple[Upstream, ParentSet | None]:
    """Where misses go: the origin, or the parents (shields) in front of it; each counted
    and timed as its kind of upstream (edge_upstream_*{upstream="origin"|"parent"})."""
    host = None if cfg.origin.preserve_host else origin_host(cfg.origin.url)
    origin = MeteredUpstream(
        OriginClient(cfg.origin, pool, host=host),
        meters,
        clock,
        upstream="origin",
        name=DEFAULT_POOL,
    )
    cluster = cfg.cluster
    if not cluster.parents:
        return origin, None
    parents = ParentSet(
        [ParentSpec(p.name, p.url, p.admin_url) for p in cluster.parents],
        lambda spec: MeteredUpstream(
            OriginClient(cfg.origin, pool, url=spec.url),
            meters,
            clock,
            upstream="parent",
            name=spec.name,
        ),
        clock,
        origin,
        down_for=cluster.parent_down_for,
    )
    if cluster.parent_probe_interval > 0:
        session = aiohttp.ClientSession(auto_decompress=False)  # the /healthz probe's
        stack.push_async_callback(session.close)
        parents.start_probe(session, cluster.parent_probe_interval)
    return parents, parents


async def _close_routing(cell: RoutingCell) -> None:
    await cell.routing.close()


def _fill_upstream(
    cfg: Config,
    upstream: Upstream,
    *,
    role: WorkerRole | None,
    stats: Stats,
    store: IndexedStore,
    versions: VersionTable,
) -> Upstream:
    """Where fills go: with several workers, to the worker that owns the key (worker_routing)."""
    if role is None or role.count < 2 or not role.fill_sockets:
        return upstream
    return WorkerRoute(
        role,
        upstream,
        stats=stats,
        tombstones=store.tombstones,
        version_for=versions.version_for,
        timeouts=cfg.origin,
    )


def _control_plane(cfg: Config, applier: Applier, clock: Clock) -> ControlPlane | None:
    """The node's control plane (not started yet), when ``cluster.nats`` is set."""
    nats = cfg.cluster.nats
    if nats is None:
        return None
    return ControlPlane(
        list(nats.servers),
        cfg.name,
        sink=applier,
        clock=clock,
        state_path=os.path.join(cfg.cache.dir, "control-state.json"),
        stream=nats.stream,
        kv_bucket=nats.kv_bucket,
        max_age=nats.max_age,
    )


async def _start_control(cfg: Config, control: ControlPlane) -> None:
    """Join the control plane and catch up on what was purged while this node was away."""
    nats = cfg.cluster.nats
    assert nats is not None
    if await control.start(within=nats.catch_up_timeout):
        log.info("control plane: caught up (%s)", ", ".join(nats.servers))
    else:
        log.error(
            "control plane: not caught up after %gs (%s); serving without the cache "
            "until it is, so nothing purged meanwhile is served",
            nats.catch_up_timeout,
            ", ".join(nats.servers),
        )


@asynccontextmanager
async def open_node(
    cfg: Config,
    *,
    clock: Clock,
    store: CacheStore | None = None,
    role: WorkerRole | None = None,
) -> AsyncIterator[Node]:
    """Build a node (or one worker of it: ``role``) and tear it down afterwards.

    Every part's teardown is registered on one exit stack as the part is built,
    so all of them run, in reverse order, even when one fails.
    """
    async with contextlib.AsyncExitStack() as stack:
        yield await _assemble(cfg, clock, store, role, stack)


async def _assemble(
    cfg: Config,
    clock: Clock,
    store: CacheStore | None,
    role: WorkerRole | None,
    stack: contextlib.AsyncExitStack,
) -> Node:
    stats = Stats()
    meters = Meters(stats)
    opts = policy_options(cfg)
    forwarding = Forwarding(
        name=cfg.name,
        via=cfg.proxy.via,
        strip_tags=cfg.cache.strip_tag_headers,
        targeted_field=cfg.cache.targeted_field,
        trusted=trusted_networks(cfg.proxy.trusted_proxies),
        strip_overrides=cfg.proxy.strip_override_headers,
    )
    if store is None:
        store = build_store(cfg.cache, clock)
        stack.push_async_callback(store.close)
    index = CacheIndex()
    indexed = IndexedStore(store, index)
    versions = await _open_versions(cfg, indexed)
    if role is not None and not role.leader:
        versions.path = None  # the leader writes versions.json; the others only follow it
    pool = ConnectionPool(cfg.origin, tls=origin_context(cfg.origin.tls))
    stack.push_async_callback(pool.close)
    _, parents = _upstream(cfg, pool, clock, stack, meters)  # the routes' upstreams go through them
    if parents is not None:
        stack.push_async_callback(parents.close)
    key_for = cache_key_function(versions.version_for)
    routing_of = RoutingBuilder(
        connections=pool,
        clock=clock,
        base_key=key_for,
        opts=opts,
        parents=parents,
        meter=lambda upstream, name: MeteredUpstream(
            upstream, meters, clock, upstream="origin", name=name
        ),
        wrap_fill=functools.partial(
            _fill_upstream, cfg, role=role, stats=stats, store=indexed, versions=versions
        ),
    )
    cell = RoutingCell(routing_of(cfg))
    cell.routing.start()  # the pools' health probes
    stack.push_async_callback(_close_routing, cell)
    invalidator = Invalidator(indexed, index, cell.key_for, clock=clock)
    token = resolve_admin_token(cfg)
    link: WorkerLink | None = None
    if role is not None:
        link = WorkerLink(role, token)
        stack.push_async_callback(link.close)
    applier = Applier(
        name=cfg.name, invalidator=invalidator, versions=versions, link=link, meters=meters
    )
    # one control-plane member per node: the leader worker (or the only process)
    control = _control_plane(cfg, applier, clock) if role is None or role.leader else None
    if control is not None:
        stack.push_async_callback(control.close)
    wait = cfg.cluster.nats.wait_timeout if cfg.cluster.nats else 5.0
    coordinator = Coordinator(applier=applier, clock=clock, control=control, wait_timeout=wait)
    indexed_count = await indexed.rebuild()  # before serving: what the disk kept is purgeable
    if indexed_count:
        log.info("re-indexed %d stored entries from %s", indexed_count, cfg.cache.dir)
    meters.watch(control_figures(coordinator))
    cache_ready = await _cache_gate(cfg, coordinator, role, stack)
    default = cell.routing.default
    assert default.upstream is not None and default.fill_upstream is not None
    fills = Fills(
        origin=default.fill_upstream,
        forwarding=forwarding,
        store=indexed,
        clock=clock,
        opts=opts,
        stats=stats,
        spool_dir=lambda: indexed.spool_dir,
        mem_limit=cfg.cache.memory.max_object_bytes,
        hit_for_miss=cfg.cache.hit_for_miss,
        max_background=cfg.cache.max_revalidations,
        compression=compression(cfg, stats),
    )
    meters.watch(fills.figures)
    stack.push_async_callback(_stop_fills, fills, cfg.proxy.shutdown_grace)
    engine = RequestFlow(
        store=indexed,
        shortcut=indexed,
        origin=default.upstream,
        forwarding=forwarding,
        clock=clock,
        stats=stats,
        fills=fills,
        name=cfg.name,
        key_for=key_for,
        cache_ready=cache_ready,
        invalidate_groups=invalidator.invalidate_groups,
        opts=opts,
        max_part=cfg.cache.memory.max_object_bytes,
        refresh=RefreshAhead(cfg.cache.refresh_ahead.fraction, cfg.cache.refresh_ahead.min_hits),
        routing=cell,
    )
    warmer = Warmer(engine.handle, clock=clock, default_host=str(cfg.proxy.listen), stats=stats)
    stack.push_async_callback(warmer.close)  # before the fills stop: jobs end first
    prefetcher = None
    if cfg.cache.prefetch.enabled:
        pf = cfg.cache.prefetch
        prefetcher = Prefetcher(
            engine.handle,
            stats,
            per_response=pf.per_response,
            concurrency=pf.concurrency,
            max_in_flight=pf.max_in_flight,
        )
        stack.push_async_callback(prefetcher.close)  # before the fills stop
        fills.on_stored = prefetcher.offer
    return Node(
        cfg=cfg,
        clock=clock,
        engine=engine,
        store=indexed,
        stats=stats,
        meters=meters,
        admin_token=token,
        index=index,
        versions=versions,
        invalidator=invalidator,
        registry=make_registry(meters, indexed.stats),
        coordinator=coordinator,
        warmer=warmer,
        parents=parents,
        link=link,
        prefetcher=prefetcher,
        routing_of=routing_of,
    )


async def _cache_gate(
    cfg: Config,
    coordinator: Coordinator,
    role: WorkerRole | None,
    stack: contextlib.AsyncExitStack,
) -> Callable[[], bool] | None:
    """Whether the cache may be served: None (always) unless a control plane must catch up.

    One control-plane member per node: the leader worker (or the only process).
    A worker beside the leader follows its versions and its cluster state instead.
    """
    if role is None or role.leader:
        control = coordinator.control
        if control is None:
            return None
        await _start_control(cfg, control)
        return lambda: control.caught_up
    leader_ready: asyncio.Event | None = None
    if cfg.cluster.nats is not None:
        leader_ready = asyncio.Event()
    follow = asyncio.create_task(coordinator.follow_leader(leader_ready))
    stack.push_async_callback(_cancel, follow)
    return leader_ready.is_set if leader_ready is not None else None


async def _stop_fills(fills: Fills, grace: float) -> None:
    try:  # let fills that are committing finish, within the shutdown grace
        await asyncio.wait_for(fills.drain(), grace)
    except TimeoutError:
        log.warning("shutdown: cancelling fills still running after the grace period")
    await fills.close()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
