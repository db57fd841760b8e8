"""One edge node's parts, built together and torn down together.

The proxy app and the admin app share these; ``open_node`` is the one place
that creates the session, the stores and the engine, and closes them.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from edge.clock import Clock, SystemClock
from edge.config import Config
from edge.engine import CacheEngine
from edge.fetcher import Fetcher
from edge.forwarding import Forwarding, origin_host
from edge.origin.client import OriginClient, make_session
from edge.policy.options import PolicyOptions
from edge.stats import Stats
from edge.store.base import Store
from edge.store.simple import SimpleMemoryStore

log = logging.getLogger("edge.node")


@dataclass(slots=True)
class Node:
    cfg: Config
    clock: Clock
    engine: CacheEngine
    store: Store
    stats: Stats
    admin_token: str


def policy_options(cfg: Config) -> PolicyOptions:
    c = cfg.cache
    return PolicyOptions(
        heuristic_fraction=c.heuristic_fraction,
        heuristic_max=c.heuristic_max,
        targeted_field=c.targeted_field.lower(),
        surrogate_control=c.surrogate_control,
        cache_name=cfg.name,
    )


def resolve_admin_token(cfg: Config, env: Mapping[str, str] | None = None) -> str:
    """admin.token, else EDGE_ADMIN_TOKEN, else one generated into <cache-dir>/admin-token."""
    if cfg.admin.token:
        return cfg.admin.token
    env = os.environ if env is None else env
    if env.get("EDGE_ADMIN_TOKEN"):
        return env["EDGE_ADMIN_TOKEN"]
    path = os.path.join(cfg.cache.dir, "admin-token")
    try:
        with open(path, encoding="ascii") as f:
            token = f.read().strip()
        if len(token) >= 16:
            log.info("admin token read from %s", path)
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    os.makedirs(cfg.cache.dir, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    log.info("admin token generated and written to %s (mode 0600)", path)
    return token


@asynccontextmanager
async def open_node(
    cfg: Config, *, clock: Clock | None = None, store: Store | None = None
) -> AsyncIterator[Node]:
    clock = clock or SystemClock()
    stats = Stats()
    opts = policy_options(cfg)
    forwarding = Forwarding(
        name=cfg.name,
        origin_host=None if cfg.origin.preserve_host else origin_host(cfg.origin.url),
        via=cfg.proxy.via,
        strip_tags=cfg.cache.strip_tag_headers,
        targeted_field=cfg.cache.targeted_field,
    )
    if store is None:
        store = SimpleMemoryStore()
    spool_dir: str | None = None
    session = make_session(cfg.origin)
    origin = OriginClient(cfg.origin, session)
    fetcher = Fetcher(
        origin=origin,
        forwarding=forwarding,
        store=store,
        clock=clock,
        opts=opts,
        stats=stats,
        spool_dir=spool_dir,
        mem_limit=cfg.cache.memory.max_object_bytes,
        hit_for_miss=cfg.cache.hit_for_miss,
        max_background=cfg.cache.max_revalidations,
    )
    engine = CacheEngine(
        store=store,
        origin=origin,
        forwarding=forwarding,
        clock=clock,
        opts=opts,
        stats=stats,
        fetcher=fetcher,
    )
    token = resolve_admin_token(cfg)
    try:
        yield Node(cfg=cfg, clock=clock, engine=engine, store=store, stats=stats, admin_token=token)
    finally:
        await fetcher.close()
        await session.close()
