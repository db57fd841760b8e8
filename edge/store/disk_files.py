"""The disk tier's file work: spool files, leftovers of a crash, the probe of a directory."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable

#: Errors after which the disk tier degrades to memory-only (and probes for recovery).
FATAL_ERRNOS = {
    errno.ENOSPC,
    errno.EIO,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EDQUOT,
    errno.ENOTDIR,  # the cache directory was replaced by a file
}
SPOOL_MAX_AGE = 3600.0  # seconds; older spool files are leftovers of a crash
_PROBE_BYTES = b"edge disk probe\n" * 256

#: Moves (or hard-links) a complete body file into place and returns its size.
PlaceBody = Callable[[str, str, bool], int]


def spool_bytes(spool_dir: str, data: bytes) -> str:
    """``data`` written to a new file in ``spool_dir``; its path."""
    fd, path = tempfile.mkstemp(dir=spool_dir, suffix=".spool")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        unlink_quietly(path)
        raise
    return path


def sweep_spool(spool_dir: str, now: float) -> None:
    """Remove spool files older than ``SPOOL_MAX_AGE``: a crash left them."""
    cutoff = now - SPOOL_MAX_AGE
    with os.scandir(spool_dir) as it:
        for item in it:
            if item.is_file() and item.stat().st_mtime < cutoff:
                unlink_quietly(item.path)


def probe_directory(spool_dir: str, data_dir: str, place: PlaceBody) -> None:
    """Write, sync and place a body file as a put does; raises OSError when that fails."""
    os.makedirs(spool_dir, exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)
    path = spool_bytes(spool_dir, _PROBE_BYTES)
    dest = os.path.join(data_dir, f".probe-{os.getpid()}")
    try:
        with open(path, "rb+") as f:
            os.fsync(f.fileno())
        place(path, dest, False)
    finally:
        unlink_quietly(path)
        unlink_quietly(dest)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
