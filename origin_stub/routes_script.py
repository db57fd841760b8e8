"""``/script``: a response scripted entirely by the query string.

Every header a cache cares about can be set, so edge tests need no special
origin route per RFC corner. Unknown parameters are ignored.
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict, MultiMapping

from .bodies import padded_chunks
from .conditional import not_modified
from .httpdate import resolve_date
from .respond import has_body, send_chunks
from .state import STATE, pause

__all__ = ["HEADER_PARAMS", "routes"]

routes = web.RouteTableDef()

# Query parameter -> response header, copied verbatim.
HEADER_PARAMS: tuple[tuple[str, str], ...] = (
    ("cc", "Cache-Control"),
    ("cdn_cc", "CDN-Cache-Control"),
    ("edge_cc", "Edge-Cache-Control"),
    ("surrogate_control", "Surrogate-Control"),
    ("age", "Age"),
    ("vary", "Vary"),
    ("surrogate_key", "Surrogate-Key"),
    ("cache_tag", "Cache-Tag"),
    ("cache_groups", "Cache-Groups"),
    ("content_type", "Content-Type"),
    ("location", "Location"),
    ("content_location", "Content-Location"),
)
# Headers a 304 repeats from the 200 it stands for (RFC 9110 15.4.5), plus the
# cache-control variants a CDN reads the same way.
_VALIDATOR_HEADERS = frozenset(
    {
        "cache-control",
        "cdn-cache-control",
        "edge-cache-control",
        "surrogate-control",
        "content-location",
        "etag",
        "expires",
        "last-modified",
        "vary",
    }
)


def _quote_etag(value: str) -> str:
    if value.startswith(('"', 'W/"')):
        return value
    return f'"{value}"'


def _bad(name: str, expected: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=f"query parameter {name!r} must be {expected}\n")


def _int(query: MultiMapping[str], name: str) -> int | None:
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise _bad(name, "an integer") from None


def script_headers(query: MultiMapping[str], now: float) -> CIMultiDict[str]:
    """Build the scripted response headers from the query."""
    headers: CIMultiDict[str] = CIMultiDict()
    for param, header in HEADER_PARAMS:
        if param in query:
            headers[header] = query[param]
    if "etag" in query:
        headers["ETag"] = _quote_etag(query["etag"])
    if "last_modified" in query:
        headers["Last-Modified"] = resolve_date(query["last_modified"], now)
    if "expires" in query:
        headers["Expires"] = resolve_date(query["expires"], now)
    for cookie in query.getall("set_cookie", []):
        headers.add("Set-Cookie", cookie)
    for line in query.getall("hdr", []):
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _bad("hdr", "'Name:value'")
        headers.add(name.strip(), value.strip())
    headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    return headers


def _validators_only(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() in _VALIDATOR_HEADERS)


def _prefix(request: web.Request, serve: int) -> bytes:
    """The literal ``body``, or a line naming the request and its serve number."""
    if "body" in request.query:
        return request.query["body"].encode()
    return f"script {request.raw_path} serve={serve}\n".encode()


@routes.get("/script")
async def script(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    query = request.query
    status = _int(query, "status") or 200
    size = _int(query, "size")
    if not 200 <= status <= 599:
        raise _bad("status", "a final status code, 200 to 599")
    if size is not None and size < 0:
        raise _bad("size", "a non-negative number of bytes")
    try:
        delay = float(query.get("delay", "0"))
    except ValueError:
        raise _bad("delay", "a number of seconds") from None
    if await pause(state, delay):
        raise web.HTTPServiceUnavailable(text="origin shutting down\n")
    headers = script_headers(query, state.clock())
    if 200 <= status < 300 and not_modified(
        request, etag=headers.get("ETag"), last_modified=headers.get("Last-Modified")
    ):
        return web.Response(status=304, headers=_validators_only(headers))
    response = web.StreamResponse(status=status, headers=headers)
    prefix = _prefix(request, state.next_serve(request))
    if query.get("chunked") == "1":
        response.enable_chunked_encoding()
    elif has_body(request, status) or request.method == "HEAD":
        response.content_length = len(prefix) if size is None else size
    return await send_chunks(request, response, padded_chunks(prefix, size))
