"""The admin app (its own listener): health now; purge, versions, stats and metrics build on it."""

from __future__ import annotations

from aiohttp import web

from edge.node import Node

NODE = web.AppKey("node", Node)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "name": request.app[NODE].cfg.name})


def make_admin_app(node: Node) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app[NODE] = node
    app.router.add_get("/healthz", healthz)
    return app
