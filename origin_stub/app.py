"""The origin-stub application: a misbehaving-on-demand origin for the edge.

Routes live in topic modules (content, script, faults, admin); this module
only composes them with the shared middleware and signals.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from . import routes_admin, routes_content, routes_faults, routes_script
from .httpdate import format_http_date
from .state import STATE, DownMode, OriginState, abort_connection

__all__ = ["CONTROL_PREFIX", "make_app"]

# The control plane stays reachable while the origin is "down".
CONTROL_PREFIX = "/__origin/"


@web.middleware
async def count_and_switch(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every content request, then honour the down switch."""
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    state = request.app[STATE]
    state.record(request)
    if state.down is DownMode.RESET:
        abort_connection(request)
        return web.Response()
    if state.down is DownMode.UNAVAILABLE:
        return web.Response(status=503, text="Service Unavailable\n", headers={"Retry-After": "1"})
    return await handler(request)


async def _stamp_date(request: web.Request, response: web.StreamResponse) -> None:
    # Date comes from the injected clock so it agrees with a test's fake clock.
    response.headers["Date"] = format_http_date(request.app[STATE].clock())
    response.headers["Server"] = "origin-stub"


def make_app(*, clock: Callable[[], float] | None = None) -> web.Application:
    """Build the origin app; ``clock`` gives wall time (default :func:`time.time`)."""
    app = web.Application(middlewares=[count_and_switch])
    app[STATE] = OriginState(clock or time.time)
    app.on_response_prepare.append(_stamp_date)
    app.on_shutdown.append(_release)
    for module in (routes_content, routes_script, routes_faults, routes_admin):
        app.router.add_routes(module.routes)
    return app


async def _release(app: web.Application) -> None:
    # Hanging and delayed handlers wait on this event; on_shutdown runs before
    # the server waits for in-flight requests, so they finish promptly.
    app[STATE].shutdown.set()
