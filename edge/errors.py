"""One error tree for edge. Each error carries the HTTP status it maps to.

    EdgeError                    (500)
    ├── ConfigError              (start-up: bad config; exit code 2)
    ├── ClientRequestError       (400)  malformed or unacceptable client request
    │   ├── RequestTooLarge      (413)
    │   └── LoopDetected         (508)  CDN-Loop already names this node
    ├── OnlyIfCachedMiss         (504)  only-if-cached and nothing usable stored
    └── UpstreamError            (502)  the origin could not give a whole response
        ├── UpstreamConnectError (502)  refused, reset, DNS, TLS
        ├── UpstreamTimeout      (504)  connect, first byte or idle read timed out
        └── UpstreamBodyError    (502)  the body broke off or did not match its length

Only the error middleware catches broad exceptions; everything else raises
one of these with a message that says what was wrong.
"""

from __future__ import annotations


class EdgeError(Exception):
    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EdgeError):
    """A config file or flag is invalid. ``path`` is the key path (``cache.memory.max_bytes``)."""

    def __init__(self, path: str, value: object, expected: str) -> None:
        self.path = path
        self.value = value
        self.expected = expected
        super().__init__(f"{path}: got {value!r}, expected {expected}")


class ClientRequestError(EdgeError):
    status = 400


class RequestTooLarge(ClientRequestError):
    status = 413


class LoopDetected(ClientRequestError):
    status = 508


class OnlyIfCachedMiss(EdgeError):
    status = 504


class UpstreamError(EdgeError):
    status = 502


class UpstreamConnectError(UpstreamError):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamBodyError(UpstreamError):
    status = 502
