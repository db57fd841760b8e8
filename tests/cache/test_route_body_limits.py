"""``routes[].max_request_body``: the limit every front asks for once a head with a body is
parsed (``Routing.body_limit``), chosen by Host and target as the flow chooses the route."""

from __future__ import annotations

import pytest

from edge.cache.routes import Match, Route, Routing
from edge.policy.options import PolicyOptions

GLOBAL = 1 << 20
OPTS = PolicyOptions()


def _key(scheme: str, host: str, target: str) -> str:
    return f"{scheme}|{host}|{target}"


def _route(name: str, limit: int | None) -> Route:
    return Route(name, "origin", None, None, OPTS, max_request_body=limit)


def _routing(*matches: Match) -> Routing:
    return Routing(matches, _route("default", None), {}, (), _key)


ROUTING = _routing(
    Match(frozenset({"up.example.com"}), (), ("/big/",), _route("routes[0]", 1 << 30)),
    Match(frozenset(), (".example.com",), (), _route("routes[1]", 4096)),
    Match(frozenset(), (), ("/plain/",), _route("routes[2]", None)),
)


@pytest.mark.parametrize(
    ("host", "target", "limit"),
    [
        ("up.example.com", "/big/file?part=1", 1 << 30),  # the first route that takes it
        ("UP.example.com:8080", "/big/file", 1 << 30),  # Host matched as routing does
        ("up.example.com", "/small", 4096),  # the next route: any subdomain
        ("www.example.com", "/big/file", 4096),
        ("other.test", "/plain/x", GLOBAL),  # a route without its own limit: the global
        ("other.test", "/x", GLOBAL),  # no route: the default
    ],
)
def test_the_route_of_a_request_decides_its_body_limit(host: str, target: str, limit: int) -> None:
    assert ROUTING.body_limit(host, target, GLOBAL) == limit


def test_without_route_limits_no_route_is_selected() -> None:
    class Counting(Routing):
        selected = 0

        def select(self, host: str, path: str) -> Route:
            Counting.selected += 1
            return super().select(host, path)

    plain = Counting(
        (Match(frozenset(), (), ("/a/",), _route("routes[0]", None)),),
        _route("default", None),
        {},
        (),
        _key,
    )
    assert plain.body_limit("h", "/a/x", 123) == 123
    assert Counting.selected == 0
