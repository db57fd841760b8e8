"""The hit path with nothing to spare: fresh memory hits answered without the flow.

A *plain* request (a GET with none of the fields that change the answer: no
``Cache-Control``, ``Pragma``, preconditions, ``Range``, ``Authorization``,
``CDN-Loop``, ``Expect``, no body) whose stored response is in the memory
tier, a fresh 200 (by :func:`edge.policy.decide.plain_hit`: what
``decide_lookup``, the rule the flow uses, says for a plain GET) is answered
here with one dict lookup and header bytes serialised once per stored entry.
Everything else returns None and goes through ``engine.handle``.

Per stored :class:`Entry` (the memory tier hands back the same object until it
is replaced) the head is rendered once, through the same code as every other
answer (``edge.fronts.h1_wire`` and ``Forwarding.downstream``), with markers
where the per-request fields go: ``Age`` (RFC 9111 §5.1), ``Cache-Status``
(RFC 9211), ``Date`` when the entry has none (RFC 9110 §6.6.1), and the
``Connection`` line. So the fields are byte-identical to the flow's answer
by construction, and ``tests/fronts`` compares the two. The head last made
from a template is kept with the Date and Connection lines it was made with:
a hot entry asked for again within the same second is answered with it. HTTP/2 clients get the same
memory hits as a field list (``answer_h2``), rendered once per entry by
``edge.fronts.h2_wire`` with slots for the same fields; ``tests/h2`` compares it with
the flow's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

from multidict import CIMultiDict

from edge.cache.forwarding import Forwarding
from edge.clock import Clock
from edge.fronts import h1_wire as wire
from edge.fronts.h2_wire import Field, response_fields
from edge.models import Entry, FileBody, FrozenHeaders
from edge.policy.cache_status import cache_status
from edge.policy.decide import plain_hit
from edge.policy.headers import age_value
from edge.policy.vary import select_variant
from edge.runtime.stats import Stats
from edge.runtime.topkeys import TopKeys
from edge.store.base import HitShortcut

#: Request fields (lower-case) that make a request not plain: any of them may change
#: the answer (RFC 9111 §5.2.1, RFC 9110 §13, §14, RFC 8586, RFC 9110 §10.1.1) or the
#: message has a body (RFC 9112 §6.3).
PLAIN_BLOCKERS = frozenset(
    {
        b"cache-control",
        b"pragma",
        b"authorization",
        b"if-none-match",
        b"if-modified-since",
        b"if-match",
        b"if-unmodified-since",
        b"if-range",
        b"range",
        b"cdn-loop",
        b"expect",
        b"content-length",
        b"transfer-encoding",
    }
)

_AGE, _STATUS, _DATE, _CONNECTION = b"A", b"C", b"D", b"K"
#: where each marker's value sits in the tuple ``answer`` formats the head from
_SLOT = {_AGE: 0, _STATUS: 1, _DATE: 2, _CONNECTION: 3}
_MARK = re.compile(rb"\x01([ACDK])\x01")


def _marker(tag: bytes) -> str:
    return "\x01" + tag.decode() + "\x01"


class Engine(Protocol):
    """The parts of ``node.engine`` the hot path reads."""

    stats: Stats
    top: TopKeys
    cache_ready: Callable[[], bool] | None

    def key_for(self, scheme: str, host: str, target: str) -> str: ...


@dataclass(frozen=True, slots=True)
class HotAnswer:
    head: bytes
    body: bytes
    cache_status: str
    file: FileBody | None = None  # a disk-tier hit: the body is this file (``body`` empty)


@dataclass(frozen=True, slots=True)
class H2HotAnswer:
    fields: list[Field]
    body: bytes
    cache_status: str


@dataclass(frozen=True, slots=True)
class _H2Fields:
    """An entry's HTTP/2 fields, and where Age, Cache-Status and Date go (-1: its own Date)."""

    fields: tuple[Field, ...]
    age_at: int
    status_at: int
    date_at: int


@dataclass(frozen=True, slots=True)
class _Template:
    entry: Entry  # held, so that its id() is not reused while the template lives
    head: bytes  # the head as a %-format: literal bytes (``%`` doubled), ``%s`` per marker
    pick: Callable[[tuple[bytes, bytes, bytes, bytes]], tuple[bytes, ...]]  # in head order
    memo: _Fields


@dataclass(slots=True)
class _Fields:
    """The per-request fields last rendered for a template, and the numbers behind them."""

    age: int = -1
    ttl: int = 0
    detail: str = ""
    status: str = ""
    age_bytes: bytes = b""
    status_bytes: bytes = b""
    age_field: Field = (b"age", b"")
    status_field: Field = (b"cache-status", b"")
    h2: _H2Fields | None = None  # rendered when an HTTP/2 client first asks
    # the last HTTP/1.1 head and the Date and Connection lines it was made with: a hot
    # entry asked for again within the same second on a keep-alive connection gets it as
    # is (the head only: a body held here would outlive its eviction or purge)
    head: bytes = b""
    date: bytes = b""
    connection: bytes = b""


class HotPath:
    """Answers plain GETs that are fresh memory hits (``answer``), else None."""

    __slots__ = (
        "engine",
        "store",
        "forwarding",
        "clock",
        "name",
        "scheme",
        "max_templates",
        "refresh_fraction",
        "files",
        "_templates",
    )

    def __init__(
        self,
        engine: Engine,
        store: HitShortcut,
        forwarding: Forwarding,
        clock: Clock,
        *,
        name: str,
        scheme: str = "http",
        max_templates: int = 4096,
        refresh_fraction: float = 0.0,
    ) -> None:
        self.engine = engine
        self.scheme = scheme  # of the port it answers on: part of the cache key
        self.store = store
        self.forwarding = forwarding
        self.clock = clock
        self.name = name
        self.max_templates = max_templates
        # cache.refresh_ahead.fraction: a hit in the last part of its lifetime goes to the
        # flow, which decides on a refresh (edge.cache.refresh); one comparison here
        self.refresh_fraction = refresh_fraction
        # disk-tier hits answered here too, as a file for the front to sendfile: only on a
        # plain-text port (sendfile would bypass TLS)
        self.files = scheme == "http"
        self._templates: dict[int, _Template] = {}

    def answer(
        self,
        host: str,
        target: str,
        headers: Callable[[], FrozenHeaders],
        *,
        date: bytes,
        connection: bytes,
    ) -> HotAnswer | None:
        """The whole answer to ``GET target`` on ``host``, or None (use ``engine.handle``).

        ``headers`` builds the request's fields, asked for only when the entry varies.
        """
        found = self._hit(host, target, headers, files=self.files)
        if found is None:
            return None
        template, data, file = found
        memo = template.memo
        head = memo.head
        if not head or memo.date != date or memo.connection != connection:
            head = template.head % template.pick(
                (memo.age_bytes, memo.status_bytes, date, connection)
            )
            memo.head, memo.date, memo.connection = head, date, connection
        return HotAnswer(head, data, memo.status, file)

    def answer_h2(
        self, host: str, target: str, headers: Callable[[], FrozenHeaders], *, date: bytes
    ) -> H2HotAnswer | None:
        """The same answer as HTTP/2 fields (``edge.fronts.h2_wire``), memory hits only:
        ``date`` is a value."""
        found = self._hit(host, target, headers, files=False)
        if found is None:
            return None
        template, data, _ = found
        memo = template.memo
        h2 = memo.h2
        if h2 is None:
            h2 = memo.h2 = self._render_h2(template.entry, len(data))
        fields = list(h2.fields)
        fields[h2.age_at] = memo.age_field
        fields[h2.status_at] = memo.status_field
        if h2.date_at >= 0:
            fields[h2.date_at] = (b"date", date)
        return H2HotAnswer(fields, data, memo.status)

    def _hit(
        self, host: str, target: str, headers: Callable[[], FrozenHeaders], *, files: bool
    ) -> tuple[_Template, bytes, FileBody | None] | None:
        """The template and body (or, with ``files``, a disk-tier file) of a fresh hit, its
        per-request fields up to date; None when the flow must answer."""
        engine = self.engine
        ready = engine.cache_ready
        if ready is not None and not ready():
            return None
        entries = self.store.lookup_sync(engine.key_for(self.scheme, host, target))
        if not entries:
            return None
        entry = _select(entries, headers)
        if entry is None or entry.status != 200 or entry.invalidated:
            return None
        hit = plain_hit(entry, self.clock.now())
        if hit is None:
            return None
        age, ttl = hit
        if ttl < entry.lifetime * self.refresh_fraction:
            return None  # near its end: the flow may refresh it ahead
        data = self.store.body_sync(entry)
        file = None
        detail = "memory"
        if data is None:
            file = self.store.file_sync(entry) if files else None
            if file is None:
                return None
            data, detail = b"", "disk"
        template = self._templates.get(id(entry))
        if template is None or template.entry is not entry:
            template = self._render(entry, entry.body_size)
        # the same numbers as the flow's answer (decide_lookup's age and ttl), formatted
        # again only when they change: once a second for a hot entry
        memo = template.memo
        if memo.age != int(age) or memo.ttl != round(ttl) or memo.detail != detail:
            memo.age, memo.ttl, memo.detail = int(age), round(ttl), detail
            memo.head = b""
            memo.status = cache_status(self.name, hit=True, ttl=ttl, detail=detail)
            memo.age_bytes = age_value(age).encode("ascii")
            memo.status_bytes = memo.status.encode("latin-1")
            memo.age_field = (b"age", memo.age_bytes)
            memo.status_field = (b"cache-status", memo.status_bytes)
        # the request, the hit and its bytes are counted by the front with its latency
        # (edge.telemetry.core.Meters.hot): nothing else is added to here
        if entry.coding:  # edge compression: what the identity body would have been
            engine.stats.compression_saved_bytes += entry.source_size - entry.body_size
        engine.top.record(entry.url, entry.body_size)
        return template, data, file

    def _render(self, entry: Entry, length: int) -> _Template:
        """The entry's head, rendered once with markers for the per-request fields."""
        headers = CIMultiDict(entry.headers)
        headers["Age"] = _marker(_AGE)
        headers.add("Cache-Status", _marker(_STATUS))
        self.forwarding.downstream(headers)
        head = wire.head(
            entry.status,
            entry.reason,
            headers,
            length=length,
            chunked=False,
            date=_marker(_DATE).encode(),
            connection=_marker(_CONNECTION).encode(),
        )
        parts = _MARK.split(head)  # literal bytes, then marker tags, alternating
        fmt = b"%s".join(p.replace(b"%", b"%%") for p in parts[0::2])
        slots = [_SLOT[tag] for tag in parts[1::2]]
        # Age and Cache-Status are always there: two or more slots, so a tuple comes back
        template = _Template(entry, fmt, itemgetter(*slots), _Fields())
        templates = self._templates
        if len(templates) >= self.max_templates:
            del templates[next(iter(templates))]  # the oldest: replaced entries age out
        templates[id(entry)] = template
        return template

    def _render_h2(self, entry: Entry, length: int) -> _H2Fields:
        """The entry's HTTP/2 fields, once, with the slots of the per-request ones found."""
        headers = CIMultiDict(entry.headers)
        headers["Age"] = _marker(_AGE)
        headers.add("Cache-Status", _marker(_STATUS))
        self.forwarding.downstream(headers)
        date_mark = _marker(_DATE).encode()
        fields = response_fields(entry.status, headers, length=length, date=date_mark)
        values = [v for _, v in fields]
        age_at = values.index(_marker(_AGE).encode())
        status_at = values.index(_marker(_STATUS).encode())
        date_at = values.index(date_mark) if date_mark in values else -1
        return _H2Fields(tuple(fields), age_at, status_at, date_at)

    def forget(self) -> None:
        self._templates.clear()


def _select(entries: Sequence[Entry], headers: Callable[[], FrozenHeaders]) -> Entry | None:
    if len(entries) == 1 and not entries[0].vary:
        return entries[0]
    return select_variant(entries, headers())
