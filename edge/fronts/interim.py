"""1xx interim responses relayed to the client before its final response (RFC 9110 §15.2).

The flow hands the origin's interim responses (103 Early Hints above all, so browsers start
preloading; 102 Processing) to the sink a front gives it for a request that passes or
starts a fill. The front writes each as a head of its own (RFC 9112 §4: status line, fields,
empty line) while the final head is not out yet; once the answer is rendered the sink is
closed, so nothing can land inside a later response on the same connection.

Not relayed: 100 Continue (the front answers ``Expect: 100-continue`` itself when the flow
reads the body, RFC 9110 §10.1.1), and anything to an HTTP/1.0 client (RFC 9110 §15.2: a
server must not send it a 1xx); neither is ever stored, nor mixed into the final response.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.fronts import h1_wire as wire


def interim_head(status: int, fields: list[tuple[str, str]]) -> bytes:
    return wire.status_line(status) + wire.header_block(fields) + wire.CRLF


class InterimWriter:
    """The flow's interim sink for one request; ``write`` puts bytes on the client's wire."""

    __slots__ = ("_write", "open")

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self.open = True

    def __call__(self, status: int, fields: list[tuple[str, str]]) -> None:
        if self.open and status != 100 and 100 < status < 200:
            self._write(interim_head(status, fields))

    def close(self) -> None:
        """The final head goes out now: no interim response after it."""
        self.open = False


def for_version(version: tuple[int, int], write: Callable[[bytes], None]) -> InterimWriter | None:
    """A writer for a client speaking HTTP/``version``; None for HTTP/1.0."""
    return InterimWriter(write) if version >= (1, 1) else None
