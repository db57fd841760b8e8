"""Plain HTTP for tests that drive real processes: one request, its reply, Cache-Status.

Synchronous (urllib), so a test can call it between starting and stopping processes;
error statuses are answers too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return ", ".join(values) if values else None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def cache_status(self) -> list[CacheStatusMember]:
        return parse_cache_status(self.header_all("Cache-Status"))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class CacheStatusMember:
    """One RFC 9211 member: a cache's name and its parameters (``hit`` is ``True``)."""

    cache: str
    params: dict[str, str | bool]

    @property
    def hit(self) -> bool:
        return self.params.get("hit") is True

    @property
    def fwd(self) -> str | None:
        value = self.params.get("fwd")
        return value if isinstance(value, str) else None

    @property
    def stored(self) -> bool:
        return self.params.get("stored") is True

    def __str__(self) -> str:
        parts = [self.cache]
        parts += [k if v is True else f"{k}={v}" for k, v in self.params.items()]
        return "; ".join(parts)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text


def parse_cache_status(values: Iterable[str]) -> list[CacheStatusMember]:
    """``Cache-Status`` field lines to members, first cache (nearest the origin) first."""
    members: list[CacheStatusMember] = []
    for line in values:
        for raw in _split_outside_quotes(line, ","):
            if not raw.strip():
                continue
            name, *params = (p.strip() for p in _split_outside_quotes(raw, ";"))
            parsed: dict[str, str | bool] = {}
            for param in params:
                key, eq, value = param.partition("=")
                parsed[key.strip()] = _unquote(value.strip()) if eq else True
            members.append(CacheStatusMember(_unquote(name), parsed))
    return members


def request(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    timeout: float = 15.0,
) -> Reply:
    """One HTTP request; error statuses are answers too. ``body`` goes as JSON."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Reply(resp.status, list(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Reply(err.code, list(err.headers.items()), err.read())


def admin_call(
    admin_url: str,
    path: str,
    token: str,
    *,
    method: str = "GET",
    body: Any = None,
    timeout: float = 30.0,
) -> Reply:
    auth = {"Authorization": f"Bearer {token}"}
    return request(admin_url + path, method=method, headers=auth, body=body, timeout=timeout)


def origin_counts(origin_url: str) -> dict[str, int]:
    """Requests the origin stub received, by path and query as sent."""
    counts: dict[str, int] = request(f"{origin_url}/__origin/stats").json()["counts"]
    return counts
