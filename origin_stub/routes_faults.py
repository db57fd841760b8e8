"""Large and streamed bodies, and the ways an origin can fail."""

from __future__ import annotations

from aiohttp import web

from .bodies import CHUNK, filler_chunks, modulo_chunks, parse_size
from .conditional import not_modified
from .respond import send_chunks
from .state import STATE, abort_connection, pause

__all__ = ["HANG_SECONDS", "routes"]

routes = web.RouteTableDef()

# Upper bound on "forever", so a forgotten client cannot pin a handler for good.
HANG_SECONDS = 300.0
TRUNCATE_LENGTH = 1000
TRUNCATE_SENT = 400


def _float_param(request: web.Request, name: str, default: float = 0.0) -> float:
    try:
        return float(request.query.get(name, default))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"query parameter {name!r} must be a number\n") from exc


@routes.get(r"/big/{size}")
async def big(request: web.Request) -> web.StreamResponse:
    size = parse_size(request.match_info["size"])
    if size is None:
        raise web.HTTPNotFound(text="use /big/{n}, /big/{n}KiB, /big/{n}MiB or /big/{n}GiB\n")
    headers = {"Cache-Control": "max-age=3600", "ETag": f'"big-{size}"'}
    if not_modified(request, etag=headers["ETag"]):
        return web.Response(status=304, headers=headers)
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/octet-stream"
    response.content_length = size
    return await send_chunks(request, response, modulo_chunks(size))


@routes.get(r"/stream/{chunks:\d+}")
async def stream(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    count = int(request.match_info["chunks"])
    interval = _float_param(request, "interval")
    response = web.StreamResponse(headers={"Cache-Control": "max-age=60"})
    response.content_type = "text/plain"
    response.enable_chunked_encoding()
    await response.prepare(request)
    for index in range(count):
        if index and await pause(state, interval):
            break
        if request.method != "HEAD":
            await response.write(f"chunk {index}\n".encode())
    await response.write_eof()
    return response


@routes.get(r"/fault/{status:[45]\d\d}")
async def fault_status(request: web.Request) -> web.Response:
    status = int(request.match_info["status"])
    headers = {"Cache-Control": "max-age=0"}
    if status == 503:
        headers["Retry-After"] = "1"
    text = f"fault {status}: the origin failed on purpose\n"
    return web.Response(status=status, text=text, headers=headers)


@routes.get("/fault/reset")
async def fault_reset(request: web.Request) -> web.Response:
    abort_connection(request)
    # Nothing reaches the client: aiohttp's write fails on the dead transport.
    return web.Response()


@routes.get("/fault/truncate")
async def fault_truncate(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Cache-Control": "max-age=60"})
    response.content_length = TRUNCATE_LENGTH
    response.content_type = "text/plain"
    await response.prepare(request)
    for chunk in filler_chunks(TRUNCATE_SENT):
        await response.write(chunk)
    if request.transport is not None:
        request.transport.close()  # close() flushes what was written, then FIN
    return response


@routes.get("/fault/hang")
async def fault_hang(request: web.Request) -> web.Response:
    await pause(request.app[STATE], HANG_SECONDS)
    abort_connection(request)
    return web.Response()


@routes.get("/fault/hang-body")
async def fault_hang_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Cache-Control": "max-age=60"})
    response.content_length = 2 * CHUNK
    response.content_type = "text/plain"
    await response.prepare(request)
    for chunk in filler_chunks(CHUNK):
        await response.write(chunk)
    await pause(request.app[STATE], HANG_SECONDS)
    abort_connection(request)
    return response


@routes.get("/fault/slow")
async def fault_slow(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await pause(state, _float_param(request, "delay", 1.0))
    served = state.next_serve(request)
    return web.Response(text=f"slow serve={served}\n", headers={"Cache-Control": "max-age=60"})
