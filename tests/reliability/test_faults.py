"""Origin faults against a real edge process, on both fronts (issue 14, item 1).

A raw-socket origin (tests/support/raw_origin.py) resets mid-body, sends fewer or more bytes
than its Content-Length, stalls in the head or the body, closes before answering, sends
garbage, breaks a chunked body off. Four clients ask at once, so they share one fill; each
gets the same honest outcome: a 502/504, or a head and a body that visibly breaks off (the
connection closes before Content-Length bytes; a chunked body has no last chunk). Nothing
broken is stored: the next request goes to the origin and is answered whole, and then hit.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import Proc, admin, start_edge
from tests.support import raw_client
from tests.support.processes import write_config
from tests.support.raw_origin import (
    Hold,
    RawOrigin,
    Reply,
    chunked_broken,
    close_before_head,
    garbage,
    long_body,
    ok,
    pattern,
    reset_mid_body,
    short_body,
    stall_in_body,
    stall_in_head,
)

pytestmark = pytest.mark.timeout(60)

CLIENTS = 4
TIMEOUT = 0.5  # origin.first_byte_timeout and origin.read_timeout of the edge under test


@pytest.fixture(scope="module")
def raw_origin() -> Iterator[RawOrigin]:
    with RawOrigin() as origin:
        yield origin


@pytest.fixture(scope="module", params=["http1", "aiohttp"])
def fault_edge(
    request: pytest.FixtureRequest, raw_origin: RawOrigin, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    tmp: Path = tmp_path_factory.mktemp(f"faults-{request.param}")
    config = write_config(
        tmp / "edge.yaml",
        {
            "origin": {"first_byte_timeout": f"{TIMEOUT}s", "read_timeout": f"{TIMEOUT}s"},
            "proxy": {"front": request.param},
            "logging": {"access_log": False},
        },
    )
    edge = start_edge(raw_origin, tmp, "--config", str(config), name=request.param)
    try:
        yield edge
    finally:
        edge.stop(signal.SIGKILL)  # what the tests are about is over: no grace needed


# fault -> (its reply given a gate to hold before anything is sent, the outcome)
TRUNCATED = "truncated"
FAULTS: dict[str, tuple[Callable[[threading.Event], Reply], int | str]] = {
    "reset-mid-body": (lambda g: [Hold(g), *reset_mid_body(200_000, 50_000)], TRUNCATED),
    "fewer-bytes-than-content-length": (
        lambda g: [Hold(g), *short_body(200_000, 50_000)],
        TRUNCATED,
    ),
    "reset-mid-body-spooled-to-disk": (
        lambda g: [Hold(g), *reset_mid_body(24 << 20, 10 << 20)],
        TRUNCATED,
    ),
    "stall-mid-body": (lambda g: [Hold(g), *stall_in_body(200_000, 50_000)], TRUNCATED),
    "chunked-breaks-off": (lambda g: [Hold(g), *chunked_broken([4096] * 8)], TRUNCATED),
    "chunked-reset": (lambda g: [Hold(g), *chunked_broken([4096] * 8, reset=True)], TRUNCATED),
    "stall-mid-head": (lambda g: [Hold(g), *stall_in_head()], 504),
    "close-before-head": (close_before_head, 502),
    "garbage-instead-of-http": (garbage, 502),
}


def _collapsed(edge: Proc) -> int:
    return int(admin(edge, "/stats")["collapsed"])


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_collapsed_client_sees_the_fault_alike_and_nothing_is_stored(
    fault_edge: Proc, raw_origin: RawOrigin, fault: str
) -> None:
    make, outcome = FAULTS[fault]
    gate = threading.Event()
    path = raw_origin.script(f"/{fault}/{uuid.uuid4().hex}", make(gate), ok(b"whole\n"))
    before = _collapsed(fault_edge)
    got: list[raw_client.Got] = []
    clients = [
        threading.Thread(target=lambda: got.append(raw_client.get(fault_edge.port, path)))
        for _ in range(CLIENTS)
    ]
    for c in clients:
        c.start()
    deadline = time.monotonic() + 10
    while _collapsed(fault_edge) < before + CLIENTS - 1:  # all of them on the one fill
        assert time.monotonic() < deadline, "the clients never joined one fill"
        time.sleep(0.01)
    gate.set()
    for c in clients:
        c.join(20)
    assert len(got) == CLIENTS and len(raw_origin.seen(path)) == 1
    for g in got:
        if outcome == TRUNCATED:
            # a head went out: the body must visibly break off, never look whole
            assert g.status == 200 and not g.complete and g.closed, (fault, g)
        else:
            assert g.status == outcome and g.complete, (fault, g)
            assert b"request id" in g.body and b"127.0.0.1" not in g.body  # says no more
    again = raw_client.get(fault_edge.port, path)  # nothing broken was stored
    assert again.status == 200 and again.body == b"whole\n"
    assert len(raw_origin.seen(path)) == 2
    hit = raw_client.get(fault_edge.port, path)
    assert hit.body == b"whole\n" and "hit" in (hit.header("cache-status") or "")


def test_a_body_longer_than_its_content_length_is_cut_and_its_connection_dropped(
    fault_edge: Proc, raw_origin: RawOrigin
) -> None:
    name = uuid.uuid4().hex
    path = raw_origin.script(f"/long/{name}", long_body(1000, b"HTTP/1.1 200 OK\r\n\r\nsmuggled"))
    after = raw_origin.script(f"/after/{name}", ok(b"next\n", keep_alive=True))
    got = raw_client.get(fault_edge.port, path)
    assert got.status == 200 and got.complete and got.body == pattern(1000)
    assert raw_client.get(fault_edge.port, after).body == b"next\n"
    # the extra bytes never answer anything: the connection they came on is not reused
    assert raw_origin.seen(after)[0].connection != raw_origin.seen(path)[0].connection
    hit = raw_client.get(fault_edge.port, path)
    assert hit.body == pattern(1000) and b"smuggled" not in hit.body
