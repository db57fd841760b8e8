"""The request id: one token per client request, for the client, the origin and the logs.

A client (or a load balancer in front of edge) may send ``X-Request-Id``; edge
keeps it when it is a plausible id (1 to :data:`MAX_LENGTH` visible ASCII
characters, so it can go into a header and a log line as is) and otherwise
makes one. The id is sent to the origin, returned to the client on error
answers and on answers that involved the origin, and written with every error
logged for the request, so a client's complaint can be matched to the log
line that says what went wrong.

Generating is a counter after a random per-process prefix: no syscall and no
hashing per request; the prefix is drawn again in a forked child, so workers
never hand out the same id.
"""

from __future__ import annotations

import itertools
import os
import re

from edge.models import FrozenHeaders

HEADER = "X-Request-Id"
MAX_LENGTH = 128

_VALID = re.compile(rf"[!-~]{{1,{MAX_LENGTH}}}")


class _Ids:
    __slots__ = ("prefix", "counter")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.counter = itertools.count(1)


_ids = _Ids()
os.register_at_fork(after_in_child=_ids.reset)


def new_request_id() -> str:
    """A fresh id, unique within this process and, with overwhelming odds, across them."""
    return f"{_ids.prefix}-{next(_ids.counter):x}"


def valid_request_id(value: str) -> bool:
    """Whether a client-sent id may be kept: bounded length, visible ASCII only."""
    return _VALID.fullmatch(value) is not None


def request_id_of(headers: FrozenHeaders) -> str:
    """The client's ``X-Request-Id`` when it is valid, else a new one."""
    sent = headers.get(HEADER)
    if sent is not None and valid_request_id(sent):
        return sent
    return new_request_id()
