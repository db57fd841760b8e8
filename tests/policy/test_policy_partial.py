"""RFC 9110 §14.4 Content-Range and RFC 9111 §3.3-3.4 parts: the pure rules."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from edge.policy.partial import (
    ContentRange,
    covering,
    merge_parts,
    parse_content_range,
    storable_part,
    strong_validator,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes 0-4/10", ContentRange(0, 4, 10)),
        ("bytes 4-9/*", ContentRange(4, 9, None)),
        ("bytes 5-4/10", None),  # last before first
        ("bytes 0-9/9", None),  # complete length not above the last position
        ("bytes */10", None),  # unsatisfied-range: no part
        ("items 0-4/10", None),
        ("bytes 0-4", None),
        (None, None),
    ],
)
def test_rfc9110_14_4_content_range(value: str | None, expected: ContentRange | None) -> None:
    assert parse_content_range(value) == expected


def test_rfc9111_3_3_only_a_part_whose_body_matches_its_range_is_storable() -> None:
    fields = CIMultiDict({"Content-Range": "bytes 4-9/10"})
    assert storable_part(206, fields, 6) == (4, 9)
    assert storable_part(206, fields, 5) is None  # the suite's inconsistent 206
    assert storable_part(206, CIMultiDict({"Content-Range": "bytes 4-9/*"}), 6) is None
    assert storable_part(200, fields, 6) is None


def test_rfc9110_8_8_strong_validators() -> None:
    date = "Sat, 31 Jan 2026 00:00:00 GMT"
    assert strong_validator('"a"', None, None) == '"a"'
    assert strong_validator('W/"a"', None, None) is None
    assert strong_validator(None, "Fri, 30 Jan 2026 00:00:00 GMT", date) is not None
    assert strong_validator(None, date, date) is None  # not a second before Date


def test_rfc9111_3_4_merge_coalesces_and_the_new_bytes_win() -> None:
    parts, body = merge_parts(((0, 3), (8, 9)), b"abcdij", (2, 5), b"XYZW")
    assert parts == ((0, 5), (8, 9)) and body == b"abXYZWij"
    parts, body = merge_parts(((0, 5),), b"abcdef", (6, 9), b"ghij")
    assert parts == ((0, 9),) and body == b"abcdefghij"
    assert covering(((0, 5), (8, 9)), 8, 9) == 6
    assert covering(((0, 5), (8, 9)), 4, 8) is None
