"""The admin API's token: from config, the environment or a file, never logged."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping

from edge.config import Config
from edge.config.checks import MIN_TOKEN_LENGTH, TOKEN_EXPECTED, token_problem
from edge.errors import ConfigError

log = logging.getLogger("edge.node")

TOKEN_ENV = "EDGE_ADMIN_TOKEN"

__all__ = ["TOKEN_ENV", "resolve_admin_token"]


def resolve_admin_token(cfg: Config, env: Mapping[str, str] | None = None) -> str:
    """admin.token, else EDGE_ADMIN_TOKEN, else admin.token_file (read, or generated into it),
    else one generated into <cache-dir>/admin-token. The token itself is never logged.

    A placeholder or short EDGE_ADMIN_TOKEN is refused (a ConfigError: exit 2), as a bad
    admin.token is by the loader: the example's ``change-me-…`` must not guard a real node.
    """
    if cfg.admin.token:
        return cfg.admin.token
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV):
        token = env[TOKEN_ENV]
        if token_problem(token):
            raise ConfigError(TOKEN_ENV, f"<{len(token)} characters, not shown>", TOKEN_EXPECTED)
        return token
    if cfg.admin.token_file:
        return _token_file(cfg.admin.token_file, shared=True)
    return _token_file(os.path.join(cfg.cache.dir, "admin-token"), shared=False)


def _read_token(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            token = f.read().strip()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.error("cannot read admin token file %s: %s", path, exc)
        return None
    return token if len(token) >= MIN_TOKEN_LENGTH else None


def _token_file(path: str, *, shared: bool) -> str:
    """The token in ``path``, or a new one written there (mode 0600).

    ``shared`` (admin.token_file): several nodes may start at once on the same file, so
    it is created exclusively and whoever loses the race reads the winner's token; a
    file that cannot be written is a config error naming the key. The per-node file in
    the cache dir only logs the failure (the admin API is then locked).
    """
    token = _read_token(path)
    if token is not None:
        log.info("admin token read from %s", path)
        return token
    token = secrets.token_urlsafe(32)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if shared else os.O_TRUNC)
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token + "\n")
    except FileExistsError:  # another node wrote it first: its token is the shared one
        theirs = _read_token(path)
        if theirs is None:
            raise ConfigError("admin.token_file", path, "a file holding a token") from None
        return theirs
    except OSError as exc:
        if shared:
            raise ConfigError("admin.token_file", path, f"a writable path ({exc})") from None
        log.error(
            "cannot write the admin token to %s (%s): the admin API is locked; "
            "set admin.token or EDGE_ADMIN_TOKEN",
            path,
            exc,
        )
        return token
    log.info("admin token generated and written to %s (mode 0600)", path)
    return token
