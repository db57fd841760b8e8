"""systemd's readiness protocol (sd_notify), written by hand: one datagram to NOTIFY_SOCKET.

With ``Type=notify`` (``contrib/systemd/edge.service``) systemd starts the
units that depend on edge, and ``systemctl start`` returns, only once edge
says ``READY=1``: after its proxy and admin ports listen. ``STOPPING=1`` marks
a graceful stop. The protocol is a text datagram on the Unix socket named by
``$NOTIFY_SOCKET`` (a leading ``@`` is Linux's abstract namespace); without
the variable (not under systemd) nothing is sent. libsystemd is not needed
for this, and a failure to notify never stops edge.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("edge.notify")

NOTIFY_ENV = "NOTIFY_SOCKET"


def sd_notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``"READY=1"``, ``"STOPPING=1"``…); whether it was sent."""
    path = (os.environ if env is None else env).get(NOTIFY_ENV)
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify systemd on %s: %s", path, exc)
        return False
    return True
