"""What becomes of a client's If-None-Match on the way to the origin (RFC 9110 §13.1.2).

A fill never sends it (the cache wants the full response to store, and answers the client's
preconditions itself); a request passed to the origin carries it exactly as the client sent
it, unquoted or not: a gateway does not repair a client's fields, the origin judges them.
"""

from __future__ import annotations

from tests.cache.rig import Rig, cached


async def test_rfc9110_13_1_2_a_fill_sends_no_if_none_match() -> None:
    rig = Rig()
    rig.upstream.answer("/e", cached(ETag='"abcdef"'))
    r, body = await rig.get("/e", If_None_Match="abcdef")
    assert "If-None-Match" not in rig.upstream.sent[0].headers
    assert (r.status, body) == (200, b"hello world")  # the unquoted tag matched nothing


async def test_rfc9110_13_1_2_a_passed_request_forwards_it_verbatim() -> None:
    rig = Rig()
    rig.upstream.answer("/e", cached(ETag='"abcdef"'))
    await rig.get("/e", method="HEAD", If_None_Match="abcdef")  # a HEAD miss is passed
    assert rig.upstream.sent[0].headers["If-None-Match"] == "abcdef"
