"""1xx interim responses (RFC 9110 §15.2): surfaced in order before the final response,
never mixed into it; 101 refused."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from edge.errors import UpstreamError
from tests.origin.conftest import OriginFactory, client, keep_alive, ok, read_all

HINTS = (
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n"
    b"X-My-Header: test\r\n\r\n"
)


async def test_interim_responses_reach_the_sink_in_order_before_the_final_one(
    make_origin: OriginFactory, pools: Any
) -> None:
    answer = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        + b"HTTP/1.1 102 Processing\r\n\r\n"
        + HINTS
        + ok(b"final", "Cache-Control: max-age=60\r\n")
    )
    origin = await make_origin(keep_alive(answer))
    seen: list[tuple[int, list[tuple[str, str]]]] = []
    c = client(origin, pools())
    resp = await c.fetch("GET", "/", CIMultiDict(), on_interim=lambda s, f: seen.append((s, f)))
    assert [s for s, _ in seen] == [100, 102, 103]
    assert seen[2][1] == [
        ("Link", "</style.css>; rel=preload; as=style"),
        ("X-My-Header", "test"),
    ]
    assert resp.status == 200
    assert "X-My-Header" not in resp.headers and "Link" not in resp.headers
    assert await read_all(resp) == b"final"
    # the connection is reused after the final response, interim ones and all
    assert await read_all(await c.fetch("GET", "/", CIMultiDict())) == b"final"
    assert origin.connections == 1


async def test_interim_split_across_reads(make_origin: OriginFactory, pools: Any) -> None:
    import asyncio

    async def handler(origin: Any, reader: Any, writer: Any) -> None:
        await origin.next_request(reader, 1)
        for piece in (HINTS[:20], HINTS[20:], ok(b"ok")[:10], ok(b"ok")[10:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)

    origin = await make_origin(handler)
    seen: list[int] = []
    resp = await client(origin, pools()).fetch(
        "GET", "/", CIMultiDict(), on_interim=lambda s, f: seen.append(s)
    )
    assert seen == [103]
    assert await read_all(resp) == b"ok"


async def test_interim_responses_without_a_sink_are_dropped(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(HINTS + ok(b"x")))
    resp = await client(origin, pools()).fetch("GET", "/", CIMultiDict())
    assert resp.status == 200 and await read_all(resp) == b"x"


async def test_a_failing_sink_does_not_break_the_response(
    make_origin: OriginFactory, pools: Any
) -> None:
    def sink(status: int, fields: list[tuple[str, str]]) -> None:
        raise RuntimeError("client gone")

    origin = await make_origin(keep_alive(HINTS + ok(b"x")))
    resp = await client(origin, pools()).fetch("GET", "/", CIMultiDict(), on_interim=sink)
    assert await read_all(resp) == b"x"


async def test_101_is_refused(make_origin: OriginFactory, pools: Any) -> None:
    origin = await make_origin(
        keep_alive(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n"
        )
    )
    with pytest.raises(UpstreamError, match="101"):
        await client(origin, pools()).fetch("GET", "/", CIMultiDict())


async def test_endless_interim_responses_are_refused(
    make_origin: OriginFactory, pools: Any
) -> None:
    origin = await make_origin(keep_alive(HINTS * 50 + ok()))
    with pytest.raises(UpstreamError, match="too many interim"):
        await client(origin, pools()).fetch("GET", "/", CIMultiDict(), on_interim=lambda s, f: None)


async def test_hop_by_hop_fields_of_an_interim_response_stay_behind(
    make_origin: OriginFactory, pools: Any
) -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nConnection: keep-alive\r\n\r\n"
    origin = await make_origin(keep_alive(hints + ok()))
    seen: list[list[tuple[str, str]]] = []
    resp = await client(origin, pools()).fetch(
        "GET", "/", CIMultiDict(), on_interim=lambda s, f: seen.append(f)
    )
    await read_all(resp)
    assert seen == [[("Link", "</a>")]]
