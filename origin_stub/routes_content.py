"""Ordinary cacheable content: index, static assets, JSON API, privacy and Vary cases."""

from __future__ import annotations

import gzip
import hashlib
import html
import mimetypes

from aiohttp import web

from .conditional import not_modified
from .httpdate import format_http_date
from .respond import drain_body
from .state import STATE

__all__ = ["ROUTE_HELP", "routes"]

routes = web.RouteTableDef()

ROUTE_HELP: tuple[tuple[str, str], ...] = (
    ("GET /", "this index (Cache-Control: max-age=5)"),
    ("GET /static/{name}", "immutable asset, strong ETag, fixed Last-Modified, 304 support"),
    ("GET|POST /api/{name}", "JSON, max-age=2 + stale-while-revalidate/-if-error; POST bumps"),
    ("GET /script?status=&cc=&etag=&...", "every header, delay, size and body from the query"),
    ("GET /private", "Cache-Control: private, max-age=60"),
    ("GET /no-store", "Cache-Control: no-store"),
    ("GET /cookie", "Set-Cookie with max-age=60"),
    ("GET /vary/lang", "Vary: Accept-Language; body in the first language asked for"),
    ("GET /vary/encoding", "Vary: Accept-Encoding; real gzip when accepted"),
    ("GET /big/{n}[KiB|MiB|GiB]", "large deterministic body (byte i = i mod 251), streamed"),
    ("GET /stream/{chunks}?interval=", "chunked response written chunk by chunk"),
    ("GET /fault/{500|503|...}", "error status with a body, max-age=0"),
    ("GET /fault/reset", "connection reset before any response"),
    ("GET /fault/truncate", "fewer bytes than Content-Length, then close"),
    ("GET /fault/hang, /fault/hang-body", "never answer / stop mid-body (bounded, 300 s)"),
    ("GET /fault/slow?delay=", "answer after delay seconds"),
    ("GET|PUT|POST|DELETE /res/{name}", "stored document for unsafe-method tests"),
    ("POST /upload", "streamed upload; JSON byte count and sha256"),
    ("ANY /echo", "JSON of the method, path, query and request headers (no-store)"),
    ("POST /__origin/down[?mode=reset], /__origin/up", "switch the whole origin off and on"),
    ("GET /__origin/stats, POST /__origin/reset", "request counts and last headers; clear"),
)

STATIC_LAST_MODIFIED = format_http_date(1767225600.0)  # 2026-01-01T00:00:00Z
STATIC_CC = "public, max-age=31536000, immutable"
API_CC = "max-age=2, stale-while-revalidate=30, stale-if-error=300"
_GREETINGS = {"en": "Hello", "fr": "Bonjour", "de": "Hallo", "es": "Hola", "it": "Ciao"}


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    items = "\n".join(
        f"<li><code>{html.escape(route)}</code>: {html.escape(text)}</li>"
        for route, text in ROUTE_HELP
    )
    page = (
        "<!doctype html>\n<html><head><title>origin-stub</title></head><body>\n"
        f"<h1>origin-stub</h1>\n<ul>\n{items}\n</ul>\n</body></html>\n"
    )
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "max-age=5"})


def static_body(name: str) -> bytes:
    """Deterministic content for a named asset, shaped a little by its extension."""
    comment = {".css": "/* {} */", ".js": "// {}", ".html": "<!-- {} -->"}
    suffix = name[name.rfind(".") :] if "." in name else ""
    line = comment.get(suffix, "# {}").format(f"static asset {name}")
    return ((line + "\n") * 32).encode()


@routes.get("/static/{name:.+}")
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = static_body(name)
    headers = {
        "Cache-Control": STATIC_CC,
        "ETag": f'"{hashlib.sha256(body).hexdigest()[:32]}"',
        "Last-Modified": STATIC_LAST_MODIFIED,
    }
    if not_modified(request, etag=headers["ETag"], last_modified=STATIC_LAST_MODIFIED):
        return web.Response(status=304, headers=headers)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers["Content-Type"] = content_type
    return web.Response(body=body, headers=headers)


@routes.get("/api/{name}")
async def api_get(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name = request.match_info["name"]
    version = state.api_versions.get(name, 1)
    headers = {"Cache-Control": API_CC, "ETag": f'"api-{name}-v{version}"'}
    if not_modified(request, etag=headers["ETag"]):
        return web.Response(status=304, headers=headers)
    served = state.next_serve(request)
    payload = {"name": name, "version": version, "served": served, "path": request.raw_path}
    return web.json_response(payload, headers=headers)


@routes.post("/api/{name}")
async def api_bump(request: web.Request) -> web.Response:
    """Bump the resource version, so the next GET carries a new ETag."""
    state = request.app[STATE]
    name = request.match_info["name"]
    await drain_body(request)
    state.api_versions[name] = state.api_versions.get(name, 1) + 1
    payload = {"name": name, "version": state.api_versions[name]}
    return web.json_response(payload, headers={"Cache-Control": "no-store"})


def _simple(request: web.Request, label: str, headers: dict[str, str]) -> web.Response:
    served = request.app[STATE].next_serve(request)
    return web.Response(text=f"{label} serve={served}\n", headers=headers)


@routes.get("/private")
async def private(request: web.Request) -> web.Response:
    return _simple(request, "private", {"Cache-Control": "private, max-age=60"})


@routes.get("/no-store")
async def no_store(request: web.Request) -> web.Response:
    return _simple(request, "no-store", {"Cache-Control": "no-store"})


@routes.get("/cookie")
async def cookie(request: web.Request) -> web.Response:
    served = request.app[STATE].next_serve(request)
    headers = {"Cache-Control": "max-age=60", "Set-Cookie": f"session=s{served}; Path=/"}
    return web.Response(text=f"cookie serve={served}\n", headers=headers)


def first_language(accept_language: str) -> str:
    first = accept_language.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first or "en"


@routes.get("/vary/lang")
async def vary_lang(request: web.Request) -> web.Response:
    lang = first_language(request.headers.get("Accept-Language", ""))
    greeting = _GREETINGS.get(lang.split("-", 1)[0], "Hi")
    served = request.app[STATE].next_serve(request)
    headers = {"Cache-Control": "max-age=60", "Vary": "Accept-Language", "Content-Language": lang}
    return web.Response(text=f"{greeting} ({lang}) serve={served}\n", headers=headers)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether gzip is acceptable, honouring an explicit ``q=0`` refusal."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip"):
            continue
        param = params.strip().lower()
        try:
            return not param.startswith("q=") or float(param[2:]) > 0
        except ValueError:
            return True
    return False


@routes.get("/vary/encoding")
async def vary_encoding(request: web.Request) -> web.Response:
    gzipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    text = "".join(f"line {i}: the same text compresses well\n" for i in range(64))
    headers = {"Cache-Control": "max-age=60", "Vary": "Accept-Encoding"}
    if not gzipped:
        return web.Response(text=text, headers=headers)
    headers["Content-Encoding"] = "gzip"
    # mtime=0 keeps the gzip bytes identical across requests.
    body = gzip.compress(text.encode(), mtime=0)
    return web.Response(body=body, content_type="text/plain", charset="utf-8", headers=headers)
