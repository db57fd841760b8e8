"""The miss-path peer: a bare aiohttp pass-through proxy (``--port P --origin URL``).

Every request is forwarded to the origin on one pooled keep-alive session and the answer is
streamed back, hop-by-hop headers dropped; no cache, no policy. What edge's miss path costs
on top of this is the price of being a cache.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import uvloop
from aiohttp import web

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


async def serve(port: int, origin: str) -> None:
    session = aiohttp.ClientSession(
        origin, connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
    )

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        async with session.request(
            request.method,
            request.raw_path,
            headers=request.headers,
            data=request.content if request.body_exists else None,
        ) as up:
            headers = {k: v for k, v in up.headers.items() if k.lower() not in HOP}
            resp = web.StreamResponse(status=up.status, headers=headers)
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    runner = web.ServerRunner(web.Server(handler, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--origin", required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.origin))


if __name__ == "__main__":
    main()
