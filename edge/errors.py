"""One error tree for edge. Each error carries, as class attributes, the HTTP ``status`` it
maps to and the ``detail`` token the proxy port puts in ``Cache-Status`` when it answers
with it.

    EdgeError                        (500, error)
    ├── ConfigError                  start-up: bad config; exit code 2
    ├── ClientRequestError           (400, client-error)  malformed or unacceptable request
    │   ├── RequestTooLarge          (413, request-too-large)
    │   ├── LoopDetected             (508, loop)  CDN-Loop already names this node
    │   └── BadPurge                 (400)  a purge input that is not a path or a URL
    ├── OnlyIfCachedMiss             (504, only-if-cached)  nothing usable stored
    ├── UpstreamError                (502, origin-error)  no whole response from the origin
    │   ├── UpstreamConnectError     (502, origin-connect-error)  refused, reset, DNS
    │   │   └── UpstreamTLSError     (502, origin-tls-error)  the TLS handshake failed
    │   ├── UpstreamTimeout          (504, origin-timeout)  connect, first byte or idle read
    │   └── UpstreamBodyError        (502, origin-body-error)  broke off, or wrong length
    │       └── SpoolUnavailable     no spool file for a body larger than memory allows
    ├── VersionPersistError          (500)  the version table could not be read or written
    ├── StoreBusy                    (503)  the disk tier did not finish a purge's batch (retry)
    ├── ControlPlaneUnavailable      (503)  NATS unreachable or did not confirm
    ├── WorkerError                  (502)  another worker of this node did not answer
    └── WorkerFanoutError            (503)  a worker did not apply a change (retried)

Only the error middleware catches broad exceptions; everything else raises one of these
with a message that says what was wrong. Client-library exceptions (aiohttp, nats) are
turned into these where edge calls the library (the origin client, the worker link, the
control plane), so no other code catches them.
"""

from __future__ import annotations


class EdgeError(Exception):
    status: int = 500
    detail: str = "error"

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
    detail = "client-error"


class RequestTooLarge(ClientRequestError):
    status = 413
    detail = "request-too-large"


class LoopDetected(ClientRequestError):
    status = 508
    detail = "loop"


class BadPurge(ClientRequestError):
    """A purge input that is not a path or an http(s) URL."""


class OnlyIfCachedMiss(EdgeError):
    status = 504
    detail = "only-if-cached"


class UpstreamError(EdgeError):
    status = 502
    detail = "origin-error"


class UpstreamConnectError(UpstreamError):
    status = 502
    detail = "origin-connect-error"


class UpstreamTLSError(UpstreamConnectError):
    """The TLS handshake with an https origin or parent failed (a certificate refused)."""

    detail = "origin-tls-error"


class UpstreamTimeout(UpstreamError):
    status = 504
    detail = "origin-timeout"


class UpstreamBodyError(UpstreamError):
    status = 502
    detail = "origin-body-error"


class SpoolUnavailable(UpstreamBodyError):
    """No spool file could be made for a body larger than memory allows."""


class VersionPersistError(EdgeError):
    """The version table could not be read, or a bump could not be written (it holds in
    memory only)."""

    status = 500


class StoreBusy(EdgeError):
    """The disk tier, still serving, did not get through a purge's batch (SQLite busy, or an
    I/O error it logged): the purge is not reported done, and can be retried."""

    status = 503


class ControlPlaneUnavailable(EdgeError):
    """NATS is unreachable or did not confirm; the event applied locally only (or not at all)."""

    status = 503


class WorkerError(EdgeError):
    """Another worker of this node did not answer on its private socket, or refused the call.

    ``status`` is the worker's own when it answered with an error, else 502.
    """

    status = 502

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class WorkerFanoutError(EdgeError):
    """A worker of this node did not apply a change (it is retried, never skipped)."""

    status = 503
