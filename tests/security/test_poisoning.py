"""Cache poisoning and leaks (issue 14 item 3): each test fails if the attack works.

The attacker sends a request for a cacheable URL with a field the origin reflects (an
unkeyed input); a clean client then asks for the same URL. The clean client must never
see the attacker's value, and neither must the origin: edge replaces the forwarding
fields of an untrusted peer and removes the URL/method override fields.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.security.conftest import proxy_port, raw, status_of
from tests.support.helpers import fetch, is_hit, q

EVIL = "evil.invalid"

UNKEYED = (
    ("X-Forwarded-Host", EVIL),
    ("X-Forwarded-Proto", "evil"),
    ("X-Forwarded-Scheme", "evil"),
    ("X-Forwarded-Port", "6666"),
    ("X-Forwarded-Prefix", "/evil"),
    ("X-Forwarded-For", "6.6.6.6"),
    ("Forwarded", f'for=6.6.6.6;host="{EVIL}";proto=evil'),
    ("X-Original-URL", "/evil"),
    ("X-Rewrite-URL", "/evil"),
    ("X-HTTP-Method-Override", "DELETE-evil"),
    ("X-HTTP-Method", "DELETE-evil"),
    ("X-Method-Override", "DELETE-evil"),
)


@pytest.mark.parametrize(("name", "value"), UNKEYED, ids=[n for n, _ in UNKEYED])
async def test_unkeyed_request_fields_never_reach_a_later_client(
    edge: Any, name: str, value: str
) -> None:
    path = f"/reflect/{name.lower()}"
    attack, attack_body = await fetch(edge, path, headers={name: value})
    assert attack.status == 200
    seen = json.loads(attack_body)["headers"]
    # the origin never saw the attacker's value, under that name or any other
    assert "evil" not in json.dumps(seen).lower() and "6.6.6.6" not in json.dumps(seen)
    clean, clean_body = await fetch(edge, path)
    assert clean.status == 200
    assert b"evil" not in clean_body.lower() and b"6.6.6.6" not in clean_body


async def test_host_is_normalised_in_the_key(edge: Any) -> None:
    first, _ = await fetch(edge, "/reflect/host", headers={"Host": "Shop.Example.:80"})
    assert first.status == 200
    for host in ("shop.example", "SHOP.EXAMPLE:80", "shop.example."):
        again, _ = await fetch(edge, "/reflect/host", headers={"Host": host})
        assert is_hit(again), host
    other, _ = await fetch(edge, "/reflect/host", headers={"Host": "other.example"})
    assert not is_hit(other)  # the Host is part of the key


async def test_a_response_to_authorization_is_not_shared(edge: Any) -> None:
    path = q(cc="max-age=600", body="for-the-authorised")
    secret, _ = await fetch(edge, path, headers={"Authorization": "Bearer alice"})
    assert secret.status == 200
    other, _ = await fetch(edge, path)
    assert not is_hit(other)  # RFC 9111 §3.5: not public, s-maxage or must-revalidate


async def test_private_set_cookie_and_vary_star_are_never_shared(edge: Any) -> None:
    for path in (
        q(cc="private, max-age=600"),
        q(cc="max-age=600", vary="*"),
        q(cc="max-age=600") + "&hdr=Set-Cookie%3Asid%3Dalice",
    ):
        first, _ = await fetch(edge, path, headers={"Cookie": "sid=alice"})
        assert first.status == 200
        second, _ = await fetch(edge, path)
        assert not is_hit(second), path  # the second client's answer is the origin's own


async def test_a_fat_get_body_never_reaches_the_origin(edge: Any) -> None:
    body = b"GET /evil HTTP/1.1\r\nX: evil\r\n\r\n"
    head = f"GET /reflect/fat HTTP/1.1\r\nHost: fat.example\r\nContent-Length: {len(body)}\r\n\r\n"
    then = b"GET /reflect/fat HTTP/1.1\r\nHost: fat.example\r\nConnection: close\r\n\r\n"
    answer = await raw(proxy_port(edge), head.encode() + body + then)
    assert answer.count(b"HTTP/1.1 200") == 2  # the body was read past, the next request served
    assert b"evil" not in answer
    clean, body = await fetch(edge, "/reflect/fat", headers={"Host": "fat.example"})
    assert json.loads(body)["body"] == "" and json.loads(body)["method"] == "GET"


SMUGGLING = (
    # CL.TE: a front that reads Content-Length and a back that reads chunked
    b"POST /reflect/smuggle HTTP/1.1\r\nHost: s.example\r\nContent-Length: 49\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    b"GET /reflect/smuggle HTTP/1.1\r\nX-Original-URL: /evil\r\n\r\n",
    # TE.CL
    b"POST /reflect/smuggle HTTP/1.1\r\nHost: s.example\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 4\r\n\r\n2c\r\n"
    b"GET /reflect/smuggle HTTP/1.1\r\nX-Evil: evil\r\n\r\n0\r\n\r\n",
    # TE.TE, obfuscated
    b"POST /reflect/smuggle HTTP/1.1\r\nHost: s.example\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n"
    b"5c\r\nGET /evil HTTP/1.1\r\n\r\n0\r\n\r\n",
    # two Content-Lengths
    b"POST /reflect/smuggle HTTP/1.1\r\nHost: s.example\r\nContent-Length: 0\r\n"
    b"Content-Length: 33\r\n\r\nGET /evil HTTP/1.1\r\nX: evil\r\n\r\n",
)


@pytest.mark.parametrize("attack", SMUGGLING, ids=["cl-te", "te-cl", "te-te", "cl-cl"])
async def test_smuggling_is_refused_and_poisons_nothing(edge: Any, attack: bytes) -> None:
    answer = await raw(proxy_port(edge), attack)
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.") == 1  # no second, smuggled answer
    assert await edge.origin_count("/evil") == 0
    clean, body = await fetch(edge, "/reflect/smuggle", headers={"Host": "s.example"})
    assert clean.status == 200 and b"evil" not in body.lower()
