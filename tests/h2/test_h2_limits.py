"""The published HTTP/2 attacks, each as raw frames, each answered by a limit of
``proxy.http2``: without the limit the test fails (no GOAWAY, or the stream served)."""

from __future__ import annotations

from typing import Any

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes
from hyperframe.frame import ContinuationFrame, DataFrame, HeadersFrame, PingFrame, SettingsFrame

from edge.config import Config
from edge.config.load import config_from_dict
from edge.errors import ConfigError
from edge.fronts.h2_limits import H2Settings
from tests.h2.conftest import h2_config
from tests.support.h2_raw import RawH2, Seen

CALM = ErrorCodes.ENHANCE_YOUR_CALM


def _ended(seen: Seen) -> bool:
    return seen.goaway is not None and seen.closed


async def _calmed(conn: RawH2) -> Seen:
    """Read until the GOAWAY and the end of the connection; both must come."""
    seen = await conn.read_until(_ended, 5)
    conn.close()
    assert seen.goaway is not None, "no GOAWAY: the limit did not hold"
    assert seen.goaway.error_code == CALM
    assert seen.closed
    return seen


async def test_settings_advertise_the_limits(make_h2_edge: Any) -> None:
    edge = await make_h2_edge(h2_config(max_concurrent_streams=7, hpack_table_size=1024))
    conn = await RawH2.open(edge.port)
    seen = await conn.read_until(lambda s: bool(s.settings()))
    conn.close()
    advertised = seen.settings()
    assert {
        SettingCodes.MAX_CONCURRENT_STREAMS: 7,
        SettingCodes.MAX_HEADER_LIST_SIZE: 16384,
        SettingCodes.HEADER_TABLE_SIZE: 1024,
        SettingCodes.INITIAL_WINDOW_SIZE: 256 * 1024,
    }.items() <= advertised.items()
    assert advertised.get(SettingCodes.ENABLE_PUSH, 0) == 0  # a server may only say 0


async def test_rapid_reset_is_met_with_goaway(make_h2_edge: Any) -> None:
    """CVE-2023-44487: open and cancel streams as fast as the wire allows."""
    edge = await make_h2_edge()
    conn = await RawH2.open(edge.port)
    for i in range(150):
        sid = conn.request(f"/script?cc=max-age%3D60&n={i}")
        conn.h2.reset_stream(sid, ErrorCodes.CANCEL)
    conn.flush()
    seen = await _calmed(conn)
    assert seen.goaway is not None and seen.goaway.last_stream_id <= 2 * 150


async def test_ping_and_settings_floods(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    for frame in (PingFrame(0, opaque_data=b"12345678"), SettingsFrame(0)):
        conn = await RawH2.open(edge.port)
        for _ in range(250):
            conn.frame(frame)
        await _calmed(conn)


async def test_empty_data_frames_flood(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    conn = await RawH2.open(edge.port)
    sid = conn.request("/upload", method="POST", end=False)
    for _ in range(150):
        conn.frame(DataFrame(sid, b""))
    await _calmed(conn)


async def test_continuation_flood_is_cut_before_hpack(make_h2_edge: Any) -> None:
    """CVE-2024-27316 class: a header block that never ends, in a few large frames (fewer
    than h2's own 64-frame backlog, so only edge's byte bound stops it)."""
    edge = await make_h2_edge()
    conn = await RawH2.open(edge.port)
    conn.frame(HeadersFrame(1, b"\x00" * 1000))  # no END_HEADERS
    for _ in range(5):
        conn.frame(ContinuationFrame(1, b"\x00" * 16000))
    await _calmed(conn)


async def test_header_list_over_the_limit_is_not_served(make_h2_edge: Any) -> None:
    edge = await make_h2_edge()
    conn = await RawH2.open(edge.port)
    sid = conn.request("/echo", extra=[("x-big", "a" * 20000)])
    seen = await conn.read_until(lambda s: s.goaway is not None or bool(s.headers_on(sid)))
    conn.close()
    assert seen.goaway is not None and not seen.headers_on(sid)


async def test_streams_over_the_concurrency_limit_are_refused(make_h2_edge: Any) -> None:
    """A client ignoring SETTINGS_MAX_CONCURRENT_STREAMS: the stream past it is not served."""
    edge = await make_h2_edge(h2_config(max_concurrent_streams=5))
    conn = await RawH2.open(edge.port)
    sids = [conn.request("/upload", method="POST", end=False) for _ in range(6)]
    seen = await conn.read_until(lambda s: s.goaway is not None or sids[-1] in s.resets(), 5)
    conn.close()
    assert seen.goaway is not None or sids[-1] in seen.resets()
    assert not seen.headers_on(sids[-1])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_concurrent_streams", 0),
        ("max_header_block", 10),
        ("initial_window", 1000),
        ("max_resets", 0),
        ("flood_window", 0.0),
    ],
)
def test_limits_are_checked_by_key(key: str, value: float) -> None:
    """By the loader (``edge check-config``, exit 2) and for a Config built in code."""
    with pytest.raises(ConfigError) as loaded:
        config_from_dict({"proxy": {"http2": {key: value}}})
    assert loaded.value.path == f"proxy.http2.{key}"
    with pytest.raises(ConfigError) as built:
        H2Settings.from_config(h2_config(Config(), **{key: value}))
    assert built.value.path == f"proxy.http2.{key}"
