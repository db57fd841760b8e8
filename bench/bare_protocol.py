"""The Python limit: an ``asyncio.Protocol`` with httptools on uvloop, pre-serialised answers.

``python -m bench.bare_protocol --port P --docroot DIR`` reads every file under DIR once and
answers ``GET /<relative path>`` with the whole response (status line, headers, body) built at
start-up; only the Date header is re-rendered, once a second. No routing, no header objects,
no copies: what is left is the event loop, the parser and ``transport.write``.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
from pathlib import Path
from typing import cast

import httptools
import uvloop

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def load_docroot(root: Path, limit: int = 64 << 20) -> dict[bytes, tuple[bytes, bytes]]:
    """``/path`` -> (headers after Date, body) for every regular file up to ``limit`` bytes."""
    out: dict[bytes, tuple[bytes, bytes]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.stat().st_size > limit:
            continue
        body = path.read_bytes()
        etag = hashlib.sha1(body).hexdigest()[:16]
        head = (
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n"
            f'Cache-Control: max-age=3600\r\nETag: "{etag}"\r\n\r\n'
        ).encode()
        out[b"/" + str(path.relative_to(root)).encode()] = (head, body)
    return out


class Responses:
    """The pre-serialised responses, their Date refreshed by a once-a-second timer."""

    def __init__(self, docs: dict[bytes, tuple[bytes, bytes]]) -> None:
        self.docs = docs
        self.ready: dict[bytes, bytes] = {}
        self.refresh()

    def refresh(self) -> None:
        date = email.utils.formatdate(usegmt=True).encode()
        start = b"HTTP/1.1 200 OK\r\nServer: bare\r\nDate: " + date + b"\r\n"
        self.ready = {p: start + head + body for p, (head, body) in self.docs.items()}
        asyncio.get_event_loop().call_later(1.0, self.refresh)


class BareProtocol(asyncio.Protocol):
    __slots__ = ("parser", "responses", "transport", "url")

    def __init__(self, responses: Responses) -> None:
        self.responses = responses
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        path = self.url.partition(b"?")[0]
        self.url = b""
        if self.transport is not None:
            self.transport.write(self.responses.ready.get(path, NOT_FOUND))
            if not self.parser.should_keep_alive():
                self.transport.close()


async def serve(port: int, docroot: Path) -> None:
    responses = Responses(load_docroot(docroot))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: BareProtocol(responses), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--docroot", type=Path, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.docroot))


if __name__ == "__main__":
    main()
