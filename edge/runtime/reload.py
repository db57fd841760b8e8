"""Reloading the config without a restart: SIGHUP and the admin API's ``POST /reload``.

A reload reads the config again the way ``edge serve`` read it (the same file
and the same flags on top), validates all of it first, and only then changes
anything: an invalid file is refused with the key path, in the answer and in
the log, and the running config stays as it was. A valid file is compared
with the running config key by key (:func:`plan_reload`):

- keys in :data:`LIVE` are applied at once, to open connections too (the
  proxy port's limits and timeouts, the request body limit, the shutdown
  grace, ``PURGE``, the log settings, the origin pools, routes and cache
  rules); no connection is dropped and the cache is kept, since nothing is
  rebuilt but small settings objects and the routing;
- every other changed key (listen addresses, the cache directory and tiers,
  workers, the origin, the cluster, the name, the admin token) needs a
  restart: it is named in the answer and in the log, and the running value
  stays, so the node never runs half of a change it cannot make.

With workers, the leader (worker 0) reads the file, writes the config it now
runs to the workers' shared config file and has every other worker reload
from that file (over their private admin sockets) before it answers; the
supervisor forwards its SIGHUP to the leader. So one ``systemctl reload``
reaches every worker, and a worker restarted later starts with the same
config as the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.config import Config, HostPort
from edge.config.load import apply_overrides, config_from_dict, load_config
from edge.errors import ConfigError, WorkerError
from edge.runtime.workers import FANOUT_HEADER, WorkerLink, config_as_json

log = logging.getLogger("edge.reload")

SOURCE_ENV = "EDGE_CONFIG_SOURCE"  # set by the supervisor for its workers: the leader re-reads

#: Key paths (or prefixes ending in ".") that a reload applies to the running node.
LIVE: tuple[str, ...] = (
    "proxy.max_request_body",
    "proxy.max_header_size",
    "proxy.limits.",
    "proxy.timeouts.",
    "proxy.shutdown_grace",
    "proxy.purge_method",
    "logging.",
    # the certificate files (re-read on every reload; edge.fronts.tls): the protocol
    # version and cipher list are fixed when a handshake starts, so they need a restart
    "proxy.tls.cert",
    "proxy.tls.key",
    "proxy.tls.sni",
    "admin.tls.cert",
    "admin.tls.key",
    "admin.tls.sni",
    # routes, cache rules and pools (edge.runtime.routing): a new routing for new requests;
    # requests under way finish on the old one; kept servers keep their health state
    "origins",
    "routes",
    "origin.url",
)


def is_live(path: str) -> bool:
    return any(path == p or (p.endswith(".") and path.startswith(p)) for p in LIVE)


# -- where the config comes from ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class ConfigSource:
    """How ``edge serve`` built its config: the file (or none) and the flags given.

    ``read`` does it again, so a reload sees exactly what a restart would.
    """

    path: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    resolved: bool = False  # a worker's file: the supervisor's JSON, already interpolated

    def read(self) -> Config:
        if self.resolved:
            assert self.path is not None
            try:
                with open(self.path, encoding="utf-8") as f:
                    data = json.load(f)
            except (OSError, ValueError) as exc:
                raise ConfigError("(file)", self.path, f"a readable config ({exc})") from None
            return config_from_dict(data)
        cfg = load_config(self.path)
        keys = ("listen", "origin", "admin_listen", "cache_dir", "name", "workers")
        return apply_overrides(cfg, **{k: self.overrides.get(k) for k in keys})

    def to_env(self) -> str:
        return json.dumps({"path": self.path, "overrides": dict(self.overrides)})

    @classmethod
    def from_env(cls, value: str) -> ConfigSource:
        data = json.loads(value)
        return cls(data.get("path"), data.get("overrides") or {})


# -- what a reload changes ----------------------------------------------------------
def _leaves(value: object, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Every key path of a config and its value (tuples and ``None`` are leaves)."""
    if isinstance(value, HostPort):
        yield prefix, value  # one value, written host:port
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(getattr(value, f.name), f"{prefix}.{f.name}" if prefix else f.name)
        return
    yield prefix, value


def _replace_path(cfg: Any, parts: list[str], value: object) -> Any:
    head, *rest = parts
    inner = value if not rest else _replace_path(getattr(cfg, head), rest, value)
    return dataclasses.replace(cfg, **{head: inner})


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    applied: tuple[str, ...]  # changed keys that take effect now
    restart: tuple[str, ...]  # changed keys that need a restart (their old value stays)
    effective: Config  # the running config after the reload


def plan_reload(running: Config, wanted: Config) -> ReloadPlan:
    """Compare key by key: the live changes go into ``effective``, the others are listed."""
    new = dict(_leaves(wanted))
    applied: list[str] = []
    restart: list[str] = []
    effective = running
    for path, old in _leaves(running):
        value = new.get(path, old)
        if value == old:
            continue
        if is_live(path):
            applied.append(path)
            effective = _replace_path(effective, path.split("."), value)
        else:
            restart.append(path)
    return ReloadPlan(tuple(applied), tuple(restart), effective)


# -- doing it -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    applied: tuple[str, ...] = ()
    restart_required: tuple[str, ...] = ()
    error: str | None = None  # the config error, naming the key path
    key: str | None = None
    workers: Mapping[str, bool] = field(default_factory=dict)  # with workers: who reloaded


Apply = Callable[[Config], None]
FanOut = Callable[[], Awaitable[dict[str, bool]]]


class Reloader:
    """Re-reads ``source`` and applies the live part to the running node, one at a time.

    ``apply`` receives the new effective config and swaps the settings objects
    (the node's config, the front's settings, logging); ``publish`` (the leader
    worker) writes it for the other workers, and ``fan_out`` has them reload.
    """

    def __init__(
        self,
        running: Callable[[], Config],
        source: ConfigSource | None,
        apply: Apply,
        *,
        publish: Callable[[Config], None] | None = None,
        fan_out: FanOut | None = None,
    ) -> None:
        self._running = running
        self._source = source
        self._apply = apply
        self._publish = publish
        self._fan_out = fan_out
        self._lock = asyncio.Lock()

    async def reload(self, *, peers: bool = True) -> ReloadResult:
        async with self._lock:
            result = await self._reload(peers)
        _log_result(result)
        return result

    async def _reload(self, peers: bool) -> ReloadResult:
        if self._source is None:
            return ReloadResult(False, error="edge was started without a config to re-read")
        try:  # the file is small, but its disk may be slow: off the event loop
            wanted = await asyncio.to_thread(self._source.read)
        except ConfigError as exc:
            return ReloadResult(False, error=exc.message, key=exc.path)
        plan = plan_reload(self._running(), wanted)
        if plan.applied:
            self._apply(plan.effective)
        workers: dict[str, bool] = {}
        if peers and self._fan_out is not None:
            if self._publish is not None:
                self._publish(plan.effective)
            workers = await self._fan_out()
        return ReloadResult(True, plan.applied, plan.restart, workers=workers)


def _log_result(result: ReloadResult) -> None:
    if not result.ok:
        log.error("reload refused: config error: %s; the running config stays", result.error)
        return
    if result.applied:
        log.info("reload: applied %s", ", ".join(result.applied))
    else:
        log.info("reload: no change that can be applied live")
    if result.restart_required:
        log.warning(
            "reload: %s changed but need a restart; they keep their running values",
            ", ".join(result.restart_required),
        )
    failed = [w for w, ok in result.workers.items() if not ok]
    if failed:
        log.error("reload: workers %s did not reload", ", ".join(failed))


def write_config_file(path: str, cfg: Config) -> None:
    """The workers' shared config, replaced whole (a worker never reads half a file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(config_as_json(cfg))
    os.replace(tmp, path)


async def fan_out_reload(link: WorkerLink) -> dict[str, bool]:
    """``POST /reload`` on each other worker's private socket (a fan-out: no further hop)."""
    role = link.role
    first = role.index
    sockets = role.sockets
    out = {str(first): True}
    for i, sock in enumerate(sockets):
        if i == first:
            continue
        try:
            answer = await link.call(sock, "POST", "/reload", headers={FANOUT_HEADER: "1"})
            out[str(i)] = bool(answer.get("reloaded"))
        except WorkerError as exc:
            log.error("worker %d did not reload: %s", i, exc.message)
            out[str(i)] = False
    return out
