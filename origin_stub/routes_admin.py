"""Control plane (``/__origin/*``) and the routes for unsafe methods and uploads."""

from __future__ import annotations

import hashlib

from aiohttp import web

from .conditional import not_modified
from .respond import drain_body
from .state import STATE, DownMode, Resource

__all__ = ["MAX_RESOURCE_BYTES", "routes"]

routes = web.RouteTableDef()

# Stored documents live in memory; refuse anything larger than a test needs.
MAX_RESOURCE_BYTES = 16 * 1024 * 1024
_NO_STORE = {"Cache-Control": "no-store"}


@routes.post("/__origin/down")
async def down(request: web.Request) -> web.Response:
    mode = request.query.get("mode", "503")
    try:
        request.app[STATE].down = DownMode(mode)
    except ValueError:
        raise web.HTTPBadRequest(text="mode must be '503' or 'reset'\n") from None
    return web.json_response({"down": mode}, headers=_NO_STORE)


@routes.post("/__origin/up")
async def up(request: web.Request) -> web.Response:
    request.app[STATE].down = None
    return web.json_response({"down": None}, headers=_NO_STORE)


@routes.get("/__origin/stats")
async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].snapshot(), headers=_NO_STORE)


@routes.post("/__origin/reset")
async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True}, headers=_NO_STORE)


@routes.get("/res/{name}")
async def resource_get(request: web.Request) -> web.Response:
    resource = request.app[STATE].resources.get(request.match_info["name"])
    if resource is None:
        raise web.HTTPNotFound(text="no such resource; PUT or POST one first\n")
    headers = {"Cache-Control": "max-age=300", "ETag": resource.etag}
    if not_modified(request, etag=resource.etag):
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = resource.content_type
    return web.Response(body=resource.body, headers=headers)


async def _read_limited(request: web.Request) -> bytes:
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_RESOURCE_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_RESOURCE_BYTES, actual_size=len(body))
    return bytes(body)


@routes.route("PUT", "/res/{name}")
@routes.route("POST", "/res/{name}")
async def resource_store(request: web.Request) -> web.Response:
    """PUT/POST store the body: 201 when created, then 204 (PUT) or 200 (POST)."""
    state = request.app[STATE]
    name = request.match_info["name"]
    body = await _read_limited(request)
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    created = name not in state.resources
    resource = Resource(body=body, content_type=content_type, version=state.take_version())
    state.resources[name] = resource
    headers = {"ETag": resource.etag, "Cache-Control": "no-store"}
    if "location" in request.query:
        headers["Location"] = request.query["location"]
    if "content_location" in request.query:
        headers["Content-Location"] = request.query["content_location"]
    if not created and request.method == "PUT":
        return web.Response(status=204, headers=headers)
    payload = {"name": name, "size": len(body), "etag": resource.etag, "created": created}
    return web.json_response(payload, status=201 if created else 200, headers=headers)


@routes.delete("/res/{name}")
async def resource_delete(request: web.Request) -> web.Response:
    if request.app[STATE].resources.pop(request.match_info["name"], None) is None:
        raise web.HTTPNotFound(text="no such resource\n")
    return web.Response(status=204, headers=_NO_STORE)


@routes.post("/upload")
@routes.put("/upload")
async def upload(request: web.Request) -> web.Response:
    """Hash the body as it streams in; the stub never holds the whole upload."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        digest.update(chunk)
        size += len(chunk)
    return web.json_response({"bytes": size, "sha256": digest.hexdigest()}, headers=_NO_STORE)


@routes.route("*", "/echo")
async def echo(request: web.Request) -> web.Response:
    """Describe the request as received: method, target and every header."""
    body_bytes = await drain_body(request)
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        name = str(key)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    payload = {
        "method": request.method,
        "path": request.path,
        "raw_path": request.raw_path,
        "query": request.query_string,
        "version": f"{request.version.major}.{request.version.minor}",
        "remote": request.remote,
        "headers": headers,
        "raw_headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
        "body_bytes": body_bytes,
    }
    return web.json_response(payload, headers=_NO_STORE)
