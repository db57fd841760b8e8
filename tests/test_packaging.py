"""The Docker image's default command, the systemd unit and readiness (issue 12 item 4).

No Docker engine runs in the tests: the image's ``CMD`` is run as it is written,
outside Docker, with the config the Dockerfile bakes in taken from the
repository and only the environment a ``docker run -e`` would give. The ports
and the cache dir come from that environment too (127.0.0.1 and free ports:
this machine is shared), the rest is the image's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path, PurePosixPath

import pytest
import yaml

from edge.config import AdminConfig, CacheConfig, Config
from edge.config.checks import token_problem
from edge.config.load import load_config
from edge.errors import ConfigError
from edge.runtime.admin_token import resolve_admin_token
from edge.runtime.notify import sd_notify
from edge.web.auth import admin_token_is_generated
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
UNIT = ROOT / "contrib/systemd/edge.service"
TOKEN = "a-real-secret-0123456789abcdef"

pytestmark = pytest.mark.timeout(120)


def image_command() -> list[str]:
    """The image's CMD, its config path mapped to the file the Dockerfile copies there."""
    (cmd,) = re.findall(r"^CMD (\[.*\])$", DOCKERFILE, re.M)
    argv: list[str] = json.loads(cmd)
    copies = dict(
        (PurePosixPath(dst), ROOT / src)
        for src, dst in re.findall(r"^COPY (\S+) (/\S+)$", DOCKERFILE, re.M)
    )
    at = argv.index("--config") + 1
    argv[at] = str(copies[PurePosixPath(argv[at])])
    edge = Path(sys.executable).with_name(argv[0])  # what `pip install .` put on the venv's PATH
    assert edge.is_file(), f"{edge}: pip install . gives the edge command"
    return [str(edge), *argv[1:]]


def container_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    env.pop("NOTIFY_SOCKET", None)
    env.update(EDGE_ORIGIN_URL="http://127.0.0.1:9", EDGE_CACHE_DIR=str(tmp_path / "cache"))
    env.update(extra)
    return env


def refused(tmp_path: Path, **extra: str) -> str:
    """Runs the image's command; it must exit 2 before listening. Its output."""
    result = subprocess.run(
        image_command(),
        env=container_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    return result.stderr


def test_the_baked_config_listens_everywhere_and_takes_the_origin_from_the_environment() -> None:
    assert "COPY config/docker/edge.yaml /etc/edge/edge.yaml" in DOCKERFILE
    data = yaml.safe_load((ROOT / "config/docker/edge.yaml").read_text())
    assert data["proxy"]["listen"] == "${EDGE_LISTEN:-0.0.0.0:8080}"
    assert data["admin"]["listen"] == "${EDGE_ADMIN_LISTEN:-0.0.0.0:8090}"
    assert data["origin"]["url"] == "${EDGE_ORIGIN_URL}"


@pytest.mark.parametrize("token", ["change-me-to-a-long-random-token", "short-token"])
def test_the_image_refuses_a_placeholder_or_short_token(tmp_path: Path, token: str) -> None:
    err = refused(tmp_path, EDGE_ADMIN_TOKEN=token)
    assert "EDGE_ADMIN_TOKEN" in err and token not in err


def test_the_image_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    assert "admin.listen" in refused(tmp_path)  # a generated token on 0.0.0.0


def test_the_baked_config_needs_an_origin_and_refuses_placeholders() -> None:
    with pytest.raises(ConfigError, match="origin.url"):
        load_config(ROOT / "config/docker/edge.yaml", env={})
    assert token_problem("CHANGE-ME-please-0123456789") and token_problem("x" * 15)
    assert not token_problem(TOKEN)


def test_the_image_command_starts_and_says_ready_to_systemd(tmp_path: Path) -> None:
    port, admin = free_port(), free_port()
    notify_path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(notify_path)
    listener.settimeout(60)
    env = container_env(
        tmp_path,
        EDGE_ADMIN_TOKEN=TOKEN,
        EDGE_LISTEN=f"127.0.0.1:{port}",
        EDGE_ADMIN_LISTEN=f"127.0.0.1:{admin}",
        NOTIFY_SOCKET=notify_path,
    )
    log = open(tmp_path / "edge.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(image_command(), env=env, stdout=log, stderr=log)
    try:
        ready = listener.recv(4096).decode()
        assert ready.startswith("READY=1\n") and f"127.0.0.1:{port}" in ready
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=10) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert listener.recv(4096) == b"STOPPING=1"
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
        log.close()
    assert TOKEN not in (tmp_path / "edge.log").read_text()  # never logged


def test_sd_notify_speaks_to_an_abstract_socket() -> None:
    name = f"@edge-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name[1:])
        listener.settimeout(5)
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": name})
        assert listener.recv(100) == b"READY=1"
    assert not sd_notify("READY=1", {})  # not under systemd: nothing to do


def test_the_systemd_unit_notifies_reloads_with_sighup_and_is_hardened() -> None:
    lines = [ln for ln in UNIT.read_text().splitlines() if ln and not ln.startswith("#")]
    keys: dict[str, list[str]] = {}
    for line in lines:
        if "=" in line:
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    assert keys["Type"] == ["notify"] and keys["NotifyAccess"] == ["all"]
    assert keys["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    (start,) = keys["ExecStart"]
    assert start.split()[1:3] == ["serve", "--config"] and start.split()[0].endswith("/edge")
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert key in keys, key
    assert keys["ProtectSystem"] == ["strict"] and keys["CapabilityBoundingSet"] == [""]
    assert keys["RestartPreventExitStatus"] == ["2"]  # a config error is not retried


def test_nodes_sharing_a_token_file_share_one_generated_token(tmp_path: Path) -> None:
    shared = tmp_path / "secrets" / "admin-token"
    a = Config(admin=AdminConfig(token_file=str(shared)), cache=CacheConfig(dir=str(tmp_path)))
    b = Config(name="b", admin=a.admin, cache=CacheConfig(dir=str(tmp_path / "b")))
    first = resolve_admin_token(a, env={})
    assert len(first) >= 16 and resolve_admin_token(b, env={}) == first
    assert shared.stat().st_mode & 0o777 == 0o600
    assert not admin_token_is_generated(a, {})  # it may guard an exposed admin port
    with pytest.raises(ConfigError, match="EDGE_ADMIN_TOKEN"):
        resolve_admin_token(a, env={"EDGE_ADMIN_TOKEN": "change-me-to-a-long-random-token"})
