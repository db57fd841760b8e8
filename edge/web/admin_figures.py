"""``GET /stats`` and ``GET /metrics``: the node's figures, every worker's added up.

On the leader worker (or a node without workers) both answer from
:func:`node_figures`: this worker's raw figures merged label by label with every
other worker's (asked over their private sockets, :mod:`edge.telemetry.raw`),
and the store's figures with the memory tiers added up (the disk is shared).
A worker asked by the leader (``/metrics`` with the fan-out header, on its Unix
socket only) answers its own raw figures as JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from edge.errors import WorkerError
from edge.runtime.metrics import CONTENT_TYPE, render_figures
from edge.runtime.node import Node
from edge.runtime.stats import hit_ratio
from edge.runtime.workers import FANOUT_HEADER
from edge.store.base import StatValue, tier_figure
from edge.telemetry import catalogue as c
from edge.telemetry.quantiles import quantile
from edge.telemetry.raw import RawFigures, Sample, merge
from edge.web.admin_io import from_worker
from edge.web.admin_io import json_answer as _json
from edge.web.admin_schema import Latency, StatsAnswer, TierUse

log = logging.getLogger("edge.admin")

FIGURES_NODE = web.AppKey("figures_node", Node)


class WorkerFigures(msgspec.Struct, kw_only=True):
    """What a worker hands the leader."""

    raw: RawFigures
    store: dict[str, int | float | bool | str]


@dataclass(slots=True)
class Figures:
    raw: RawFigures
    store: dict[str, StatValue]  # the store's figures; memory_* added up over the workers


async def node_figures(request: web.Request) -> Figures:
    node = request.app[FIGURES_NODE]
    figures = Figures(node.meters.raw(), dict(node.store.stats()))
    link = node.coordinator.link
    if link is None or not link.role.leader or from_worker(request):
        return figures
    theirs: list[RawFigures] = []
    for sock in link.role.peers:
        try:
            answer = await link.call(sock, "GET", "/metrics", headers={FANOUT_HEADER: "1"})
            peer = msgspec.convert(answer, WorkerFigures)
        except (WorkerError, msgspec.ValidationError) as exc:
            log.warning("no figures from worker at %s: %s", sock, exc)
            continue
        theirs.append(peer.raw)
        for name, value in peer.store.items():
            mine = figures.store.get(name)
            if name.startswith("memory_") and isinstance(mine, int | float):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    figures.store[name] = mine + value
    figures.raw = merge(figures.raw, theirs)
    return figures


async def metrics(request: web.Request) -> web.Response:
    figures = await node_figures(request)
    if from_worker(request):  # the leader's fan-out: this worker's figures, raw
        return _json(WorkerFigures(raw=figures.raw, store=figures.store))
    body = render_figures(figures.raw, figures.store)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def stats(request: web.Request) -> web.Response:
    node = request.app[FIGURES_NODE]
    figures = await node_figures(request)
    raw = figures.raw
    known = {k: v for k, v in raw.stats.items() if k in StatsAnswer.__struct_fields__}
    tiers: dict[str, TierUse] = {}
    for name, value in figures.store.items():
        figure = tier_figure(name)
        if figure is not None and isinstance(value, int | float):
            tier, what = figure
            setattr(tiers.setdefault(tier, TierUse()), what, int(value))
    cluster: dict[str, Any] = {"control": node.coordinator.status()}
    if node.parents is not None:
        cluster["parents"] = node.parents.status()
    answer = StatsAnswer(
        name=node.cfg.name,
        hit_ratio=hit_ratio(known.get("hits", 0), known.get("misses", 0), known.get("stale", 0)),
        tiers=tiers,
        store=figures.store,
        cluster=cluster,
        workers=raw.workers,
        routing=node.engine.routing.status(),
        outcomes=_by_label(raw.counters.get(c.REQUESTS.name, []), 2),
        latency_buckets=raw.bounds,
        latency=latency_of(raw),
        upstream_errors=_by_label(raw.counters.get(c.UPSTREAM_ERRORS.name, []), 2),
        **known,
    )
    return _json(answer)


def _by_label(samples: list[Sample], index: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        out[s.labels[index]] = out.get(s.labels[index], 0) + int(s.value)
    return out


def latency_of(raw: RawFigures) -> dict[str, Latency]:
    """The request duration per cache outcome, and ``all`` of them added up."""
    bounds = raw.bounds
    out: dict[str, Latency] = {}
    total = [0] * (len(bounds) + 1)
    total_sum = 0.0
    for s in sorted(raw.histograms.get(c.REQUEST_SECONDS.name, []), key=lambda s: s.labels):
        counts = s.counts or []
        if len(counts) != len(total) or not sum(counts):
            continue
        out[s.labels[0]] = _latency(counts, s.sum, bounds)
        total = [a + b for a, b in zip(total, counts, strict=True)]
        total_sum += s.sum
    if sum(total):
        out["all"] = _latency(total, total_sum, bounds)
    return out


def _latency(counts: list[int], total: float, bounds: list[float]) -> Latency:
    return Latency(
        count=sum(counts),
        sum=total,
        counts=counts,
        p50=quantile(counts, bounds, 0.5),
        p90=quantile(counts, bounds, 0.9),
        p99=quantile(counts, bounds, 0.99),
    )
