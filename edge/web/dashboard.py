"""The dashboard on the admin port: a page, its script and style, and the two figures it needs
that ``/stats`` does not give (the top keys, the cluster's nodes).

The page (``GET /``) and its assets are public: they carry no secret and no
data. The script asks for the token once, keeps it in the tab's
``sessionStorage`` and sends it as ``Authorization: Bearer`` on every data
call, which the admin middleware checks as for any client. The page's
Content-Security-Policy allows only its own script, style and connections
(no inline script, no other origin, no framing); every admin answer says
``nosniff``, and data answers are never cached.
"""

from __future__ import annotations

import importlib.resources
import logging
from functools import cache

from aiohttp import web

from edge.cluster.connection import NATS_ERRORS
from edge.errors import ClientRequestError, ControlPlaneUnavailable, WorkerError
from edge.runtime.node import Node
from edge.runtime.topkeys import KeyCount, merge
from edge.runtime.workers import FANOUT_HEADER
from edge.web.admin_io import from_worker
from edge.web.admin_io import json_answer as _json
from edge.web.dashboard_schema import (
    ClusterAnswer,
    KeyUse,
    NodeState,
    ParentState,
    TopAnswer,
)
from edge.web.openapi import Operation, QueryParam

log = logging.getLogger("edge.admin")

NODE_KEY = web.AppKey("dashboard_node", Node)

MAX_TOP = 100

#: The page's policy: its own files only, nothing inline, no framing, no form posts.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# name -> content type; the only files served (no path from the request reaches the disk)
_ASSETS = {
    "dashboard.html": "text/html",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}


@cache
def _asset(name: str) -> bytes:
    return importlib.resources.files("edge.web").joinpath("static", name).read_bytes()


def _asset_answer(name: str) -> web.Response:
    headers = {"Cache-Control": "no-cache"}  # small; revalidated so an upgrade shows at once
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = CSP
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
    return web.Response(
        body=_asset(name), content_type=_ASSETS[name], charset="utf-8", headers=headers
    )


async def page(request: web.Request) -> web.Response:
    return _asset_answer("dashboard.html")


async def script(request: web.Request) -> web.Response:
    return _asset_answer("dashboard.js")


async def style(request: web.Request) -> web.Response:
    return _asset_answer("dashboard.css")


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Every admin answer: never sniffed; data (anything but the assets) never cached."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", "10")
    if not text.isdigit() or not 1 <= int(text) <= MAX_TOP:
        raise ClientRequestError(f"limit must be an integer 1..{MAX_TOP}, got {text!r}")
    return int(text)


def _rows(rows: list[KeyCount]) -> list[KeyUse]:
    return [KeyUse(url=r.url, hits=r.hits, bytes=r.bytes) for r in rows]


async def top(request: web.Request) -> web.Response:
    """The URLs answered from the cache most, by hits and by bytes (all workers, added up)."""
    node = request.app[NODE_KEY]
    limit = _limit(request)
    table = node.engine.top
    if from_worker(request):  # the leader asks for this worker's part
        rows = table.dump(limit)
        return _json(TopAnswer(by_hits=_rows(rows), by_bytes=[], tracked=len(table), workers=1))
    tables = [table.dump(limit)]
    link = node.coordinator.link
    tracked = len(table)
    if link is not None and link.role.leader:
        for sock in link.role.peers:
            try:
                answer = await link.call(
                    sock, "GET", f"/top?limit={limit}", headers={FANOUT_HEADER: "1"}
                )
            except WorkerError as exc:
                log.warning("no top keys from worker at %s: %s", sock, exc.message)
                continue
            rows = answer.get("by_hits", [])
            tables.append([KeyCount(r["url"], int(r["hits"]), int(r["bytes"])) for r in rows])
            tracked += int(answer.get("tracked", 0))
    by_hits, by_bytes = merge(tables, limit)
    return _json(
        TopAnswer(
            by_hits=_rows(by_hits), by_bytes=_rows(by_bytes), tracked=tracked, workers=len(tables)
        )
    )


async def cluster(request: web.Request) -> web.Response:
    """This node, the other nodes on the control plane (how far each has applied the
    invalidation stream) and the parents with their health."""
    node = request.app[NODE_KEY]
    name = node.cfg.name
    status = node.coordinator.status()
    parents = [
        ParentState(
            name=pname,
            url=str(p["url"]),
            up=bool(p["up"]),
            down_for=float(p["down_for"]),
            failures=int(p["failures"]),
            last_error=str(p["last_error"] or ""),
        )
        for pname, p in (node.parents.status() if node.parents is not None else {}).items()
        if isinstance(p, dict)
    ]
    control = node.coordinator.control
    if control is None:
        me = NodeState(name=name, this=True, state="standalone")
        return _json(ClusterAnswer(name=name, mode="standalone", nodes=[me], parents=parents))
    mine = int(status.get("last_applied_seq") or 0)  # type: ignore[call-overload]
    connected = bool(status.get("connected"))
    floors: dict[str, int] = {}
    error = ""
    try:
        floors = await control.applied_by()
    except (ControlPlaneUnavailable, *NATS_ERRORS) as exc:
        error = f"the control plane did not list its consumers: {exc}"
    head = max([mine, *floors.values()])
    nodes: list[NodeState] = []
    for other in sorted({name, *floors}):
        applied = max(mine, floors.get(other, 0)) if other == name else floors[other]
        lag = head - applied
        if other == name:
            state = "caught up" if status.get("caught_up") else "catching up"
            if not connected:
                state = "disconnected"
        else:
            state = "caught up" if lag == 0 else "behind"
        nodes.append(
            NodeState(name=other, this=other == name, state=state, applied=applied, lag=lag)
        )
    return _json(
        ClusterAnswer(
            name=name,
            mode="nats",
            connected=connected,
            nodes=nodes,
            parents=parents,
            error=error,
        )
    )


_LIMIT_Q = QueryParam(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": 10},
    "at most this many URLs in each list",
)

DASHBOARD_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/",
        page,
        "The dashboard (HTML; it asks for the token, which every data call needs)",
        answer_type="text/html",
        auth=False,
    ),
    Operation(
        "GET",
        "/dashboard.js",
        script,
        "The dashboard's script",
        answer_type="text/javascript",
        auth=False,
    ),
    Operation(
        "GET", "/dashboard.css", style, "The dashboard's style", answer_type="text/css", auth=False
    ),
    Operation(
        "GET",
        "/top",
        top,
        "The URLs answered from the cache most, by hits and by bytes (approximate)",
        answer=TopAnswer,
        query=(_LIMIT_Q,),
        errors=(400,),
    ),
    Operation(
        "GET",
        "/cluster",
        cluster,
        "This node, the other nodes of the control plane and the parents, with their state",
        answer=ClusterAnswer,
    ),
)


def install_dashboard(app: web.Application, node: Node) -> None:
    """The dashboard's state and headers on the admin app (its routes come with the table)."""
    app[NODE_KEY] = node
    app.on_response_prepare.append(on_prepare)
