"""The error tree: every class in edge/errors.py is drawn in its docstring and carries its
HTTP status and its Cache-Status detail token."""

from __future__ import annotations

import inspect

import pytest

from edge import errors
from edge.errors import (
    BadPurge,
    ClientRequestError,
    ControlPlaneUnavailable,
    EdgeError,
    LoopDetected,
    OnlyIfCachedMiss,
    RequestTooLarge,
    SpoolUnavailable,
    UpstreamBodyError,
    UpstreamConnectError,
    UpstreamError,
    UpstreamTimeout,
    VersionPersistError,
    WorkerError,
    WorkerFanoutError,
)

CLASSES = [
    c
    for _, c in inspect.getmembers(errors, inspect.isclass)
    if issubclass(c, EdgeError) and c.__module__ == errors.__name__
]


def test_every_error_is_in_the_tree_drawn_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    assert len(CLASSES) >= 16
    for cls in CLASSES:
        assert f"── {cls.__name__} " in doc or cls is EdgeError, cls.__name__
        assert isinstance(cls.status, int) and isinstance(cls.detail, str)


@pytest.mark.parametrize(
    ("cls", "status", "detail"),
    [
        (UpstreamConnectError, 502, "origin-connect-error"),
        (UpstreamTimeout, 504, "origin-timeout"),
        (UpstreamBodyError, 502, "origin-body-error"),
        (SpoolUnavailable, 502, "origin-body-error"),
        (UpstreamError, 502, "origin-error"),
        (OnlyIfCachedMiss, 504, "only-if-cached"),
        (LoopDetected, 508, "loop"),
        (RequestTooLarge, 413, "request-too-large"),
        (ClientRequestError, 400, "client-error"),
        (BadPurge, 400, "client-error"),
        (VersionPersistError, 500, "error"),
        (ControlPlaneUnavailable, 503, "error"),
        (WorkerFanoutError, 503, "error"),
        (WorkerError, 502, "error"),
        (EdgeError, 500, "error"),
    ],
)
def test_status_and_detail(cls: type[EdgeError], status: int, detail: str) -> None:
    exc = cls("what went wrong")
    assert (exc.status, exc.detail, exc.message) == (status, detail, "what went wrong")


def test_a_worker_error_carries_the_workers_own_status() -> None:
    assert WorkerError("refused", 400).status == 400
    assert WorkerError("no answer").status == 502
