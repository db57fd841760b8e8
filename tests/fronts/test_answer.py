"""edge/fronts/answer.py: a response that fails before its head is answered with an error
answer instead, alike on HTTP/1.1 and HTTP/2, and the answer is counted either way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from multidict import CIMultiDict

from edge.errors import UpstreamBodyError
from edge.models import ProxyRequest, ProxyResponse, StreamBody
from tests.fronts.conftest import Rig, get, read_answer


class Breaking:
    """The node's engine, but its responses break before their first body byte."""

    def __init__(self, engine: Any, exc: Exception) -> None:
        self.engine = engine
        self.exc = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)  # the routing the fronts read, and the rest

    async def handle(
        self, req: ProxyRequest, body: object, interim: object = None
    ) -> ProxyResponse:
        if req.target == "/fine":
            return ProxyResponse(200, CIMultiDict({"Content-Length": "3"}), StreamBody(_ok(), 3))
        return ProxyResponse(
            200, CIMultiDict({"Cache-Status": "edge; fwd=miss"}), _broken(self.exc)
        )


async def _ok() -> AsyncIterator[bytes]:
    yield b"ok\n"


def _broken(exc: Exception) -> StreamBody:
    async def chunks() -> AsyncIterator[bytes]:
        raise exc
        yield b""  # an async generator

    return StreamBody(chunks(), 100)


def _counting(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The statuses ``H1Front.finished`` counts and logs, in order."""
    statuses: list[int] = []
    real = rig.front.finished

    def finished(conn: Any, req: Any, status: int, *rest: Any) -> None:
        statuses.append(status)
        real(conn, req, status, *rest)

    monkeypatch.setattr(rig.front, "finished", finished)
    return statuses


CASES = [
    (UpstreamBodyError("the spool broke off"), 502, "origin-body-error"),
    (RuntimeError("a bug in a body source"), 500, "internal"),
]


@pytest.mark.parametrize(("exc", "status", "detail"), CASES)
async def test_http11_gets_the_error_answer_and_keeps_the_connection(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, exc: Exception, status: int, detail: str
) -> None:
    monkeypatch.setattr(rig.front, "engine", Breaking(rig.front.engine, exc))
    finished = _counting(rig, monkeypatch)
    reader, writer = await rig.connect()
    writer.write(get("/broken") + get("/fine"))
    first = await read_answer(reader)
    assert first.status == status
    assert detail in (first.header("Cache-Status") or "")
    assert b"Traceback" not in first.body and b"bug" not in first.body
    second = await read_answer(reader)  # the same connection goes on
    assert (second.status, second.body) == (200, b"ok\n")
    writer.close()
    assert finished == [status, 200]  # counted and logged as what the client got


@pytest.mark.parametrize(("exc", "status", "detail"), CASES)
async def test_http2_gets_the_same_error_answer(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, exc: Exception, status: int, detail: str
) -> None:
    monkeypatch.setattr(rig.front, "engine", Breaking(rig.front.engine, exc))
    finished = _counting(rig, monkeypatch)
    base = f"http://127.0.0.1:{rig.port}"
    async with httpx.AsyncClient(http1=False, http2=True, base_url=base, timeout=5) as client:
        resp = await client.get("/broken")
        assert resp.http_version == "HTTP/2"
        assert resp.status_code == status
        assert detail in resp.headers.get("cache-status", "")
        assert "bug" not in resp.text
        fine = await client.get("/fine")
        assert (fine.status_code, fine.content) == (200, b"ok\n")
    assert finished == [status, 200]
