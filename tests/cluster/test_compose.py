"""compose.yaml agrees with the config files it mounts, and with the Dockerfile.

No Docker engine runs here: the file is parsed and every service checked against the config it
names (ports, paths, volumes, upstream URLs). ``docker-compose config -q`` runs too when that
binary is on PATH.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from edge.config import Config
from edge.config.load import config_from_dict

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
EDGE_SERVICES = ("shield", "edge-a", "edge-b")
FIXED_PORTS = {  # the same as `make cluster`
    "nats": {4222},
    "origin": {8081},
    "shield": {8180, 8190},
    "edge-a": {8181, 8191},
    "edge-b": {8182, 8192},
}
_DEFAULT_RE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def with_defaults(value: Any) -> Any:
    """``${VAR:-default}`` replaced by its default, as in the containers (no such VARs set)."""
    if isinstance(value, str):
        return _DEFAULT_RE.sub(lambda m: m.group(1), value)
    if isinstance(value, list):
        return [with_defaults(v) for v in value]
    if isinstance(value, dict):
        return {k: with_defaults(v) for k, v in value.items()}
    return value


def published(service: dict[str, Any]) -> set[int]:
    ports = set()
    for spec in service.get("ports", []):
        host, _, container = str(spec).rpartition(":")
        assert host == container, f"{spec}: publish on the same port as inside"
        ports.add(int(container))
    return ports


def binds(service: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """Container path -> repo path, for bind mounts (``./x:/y[:ro]``)."""
    out = {}
    for spec in service.get("volumes", []):
        source, target = str(spec).split(":")[:2]
        if source.startswith("."):
            out[PurePosixPath(target)] = (ROOT / source).resolve()
    return out


def config_file(service: dict[str, Any]) -> Path:
    command = service["command"]
    assert command[:3] == ["edge", "serve", "--config"], command
    inside = PurePosixPath(command[3])
    for target, source in binds(service).items():
        if inside.is_relative_to(target):
            return source / inside.relative_to(target)
    raise AssertionError(f"{inside} is not on a bind mount of the service")


def node_config(name: str) -> dict[str, Any]:
    path = config_file(compose()["services"][name])
    assert path.is_file(), path
    data: dict[str, Any] = with_defaults(yaml.safe_load(path.read_text()))
    return data


def port(hostport: str) -> int:
    return int(hostport.rpartition(":")[2])


def test_every_service_publishes_the_fixed_ports() -> None:
    services = compose()["services"]
    assert set(services) == set(FIXED_PORTS)
    for name, ports in FIXED_PORTS.items():
        assert published(services[name]) == ports, name


@pytest.mark.parametrize("name", EDGE_SERVICES)
def test_node_config_agrees_with_its_service(name: str) -> None:
    data = compose()
    service = data["services"][name]
    cfg = node_config(name)
    assert cfg["name"] == name
    listen, admin = port(cfg["proxy"]["listen"]), port(cfg["admin"]["listen"])
    assert cfg["proxy"]["listen"].startswith("0.0.0.0:")  # reachable from other containers
    assert published(service) == {listen, admin}
    assert f"127.0.0.1:{admin}/healthz" in " ".join(service["healthcheck"]["test"])
    # The cache dir is a named volume of its own, declared at the top level.
    cache = [v for v in service["volumes"] if v.split(":")[1] == cfg["cache"]["dir"]]
    assert len(cache) == 1 and cache[0].split(":")[0] in data["volumes"]
    # No set-up step: no env file; the token is optional (EDGE_ADMIN_TOKEN, empty by default)
    # and otherwise shared through one file on a volume every node mounts.
    assert "env_file" not in service
    assert service["environment"] == {"EDGE_ADMIN_TOKEN": "${EDGE_ADMIN_TOKEN:-}"}
    token_dir = PurePosixPath(cfg["admin"]["token_file"]).parent
    assert f"edge-token:{token_dir}" in service["volumes"] and "edge-token" in data["volumes"]
    assert "image" in service and service.get("build") == "."


@pytest.mark.parametrize("name", EDGE_SERVICES)
def test_upstream_urls_name_real_services_and_ports(name: str) -> None:
    services = compose()["services"]
    cfg = node_config(name)
    origin = re.fullmatch(r"http://([a-z-]+):(\d+)", cfg["origin"]["url"])
    assert origin and origin[1] == "origin" and int(origin[2]) in published(services["origin"])
    (nats_url,) = cfg["cluster"]["nats"]["servers"]
    assert nats_url == "nats://nats:4222"
    for parent in cfg["cluster"]["parents"]:
        parent_cfg = node_config(parent["name"])
        assert parent["url"] == f"http://{parent['name']}:{port(parent_cfg['proxy']['listen'])}"
        assert parent["admin_url"] == (
            f"http://{parent['name']}:{port(parent_cfg['admin']['listen'])}"
        )
        assert services[name]["depends_on"][parent["name"]] == {"condition": "service_healthy"}
    expected = [] if name == "shield" else ["shield"]
    assert [p["name"] for p in cfg["cluster"]["parents"]] == expected


@pytest.mark.parametrize("name", EDGE_SERVICES)
def test_node_config_loads(name: str) -> None:
    cfg = node_config(name)
    known = {f.name for f in dataclasses.fields(Config)}
    if "cluster" not in known:  # until edge.config grows the cluster keys, check the rest
        cfg = {k: v for k, v in cfg.items() if k != "cluster"}
    config_from_dict(cfg)


def test_origin_and_nats_services() -> None:
    services = compose()["services"]
    origin = services["origin"]
    assert origin["command"][0] == "origin-stub"
    assert port(origin["command"][origin["command"].index("--listen") + 1]) == 8081
    nats = services["nats"]
    assert nats["image"].startswith("nats:")
    command = nats["command"]
    assert "-js" in command and command[command.index("-sd") + 1] == "/data"
    assert "nats-data:/data" in nats["volumes"] and "nats-data" in compose()["volumes"]
    assert "8222" in " ".join(nats["healthcheck"]["test"]) and command[command.index("-m") + 1]


def test_dockerfile_installs_the_scripts_and_drops_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install ." in text and re.search(r"^USER edge$", text, re.M)
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert {"!edge/", "!origin_stub/", "!pyproject.toml", "!config/docker/"} <= set(ignore)


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed")
    # A copy of what a fresh clone has (nothing made by hand, no EDGE_ADMIN_TOKEN set).
    shutil.copy(COMPOSE, tmp_path / "compose.yaml")
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    shutil.copytree(ROOT / "config", tmp_path / "config")
    env = {k: v for k, v in os.environ.items() if k != "EDGE_ADMIN_TOKEN"}
    result = subprocess.run(
        [binary, "-f", str(tmp_path / "compose.yaml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
