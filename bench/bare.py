"""The aiohttp baseline: a bare aiohttp app on uvloop answering fixed bytes.

``python -m bench.bare --port P --docroot DIR`` answers ``GET /<relative path>`` with the file's
bytes, read once at start-up (the same documents and headers as bench/bare_protocol.py), through
aiohttp's low-level ``web.Server`` (no router, no middlewares). ``--size N`` alone answers every
path with N bytes, as before.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import uvloop
from aiohttp import web

from bench.bare_protocol import load_docroot


async def serve(port: int, docs: dict[str, tuple[bytes, str]], default: bytes | None) -> None:
    async def handler(request: web.BaseRequest) -> web.Response:
        found = docs.get(request.path)
        if found is None:
            if default is None:
                return web.Response(status=404)
            return web.Response(body=default, content_type="application/octet-stream")
        body, etag = found
        return web.Response(
            body=body,
            content_type="application/octet-stream",
            headers={"Cache-Control": "max-age=3600", "ETag": etag},
        )

    runner = web.ServerRunner(web.Server(handler, access_log=None))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--docroot", type=Path)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    docs: dict[str, tuple[bytes, str]] = {}
    if args.docroot is not None:
        for path, (head, body) in load_docroot(args.docroot).items():
            etag = head.split(b"ETag: ")[1].split(b"\r\n")[0].decode()
            docs[path.decode()] = (body, etag)
    default = None if docs else b"x" * args.size
    uvloop.run(serve(args.port, docs, default))


if __name__ == "__main__":
    main()
