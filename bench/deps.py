"""What the side-by-side bench needs, installed when missing (and said clearly when it can't).

Debian packages (wrk, nginx, varnish, nghttp2-client for h2load) through ``apt-get install
-y`` when we are root; the Python ones, pinned, into this interpreter's environment (the
project's .venv) with pip. The pins are the ``bench`` extra in pyproject.toml.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

APT = {"wrk": "wrk", "nginx": "nginx", "varnishd": "varnish", "h2load": "nghttp2-client"}
PIP = {  # import name (or executable in the venv) -> pinned requirement
    "matplotlib": "matplotlib==3.11.2",
    "httptools": "httptools==0.9.0",
    "py-spy": "py-spy==0.4.3",
}


def _have_tool(exe: str) -> bool:
    return shutil.which(exe) is not None or Path("/usr/sbin", exe).exists()


def _have_py(name: str) -> bool:
    if name == "py-spy":
        return (Path(sys.executable).parent / "py-spy").exists()
    return importlib.util.find_spec(name) is not None


def ensure_apt() -> list[str]:
    missing = [pkg for exe, pkg in APT.items() if not _have_tool(exe)]
    if not missing:
        return []
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        why = "no apt-get" if apt is None else "not root"
        return [f"cannot install {', '.join(missing)} ({why}): those peers are not measured"]
    print(f"installing {' '.join(missing)} with apt-get ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = [apt, "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=900, check=False).returncode:
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True, timeout=600)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode:
            tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
            return [f"apt-get install {' '.join(missing)} failed: {tail[0]}"]
    still = [pkg for exe, pkg in APT.items() if not _have_tool(exe)]
    return [f"still missing after apt-get: {', '.join(still)}"] if still else []


def ensure_pip() -> list[str]:
    missing = [req for name, req in PIP.items() if not _have_py(name)]
    if not missing:
        return []
    print(f"installing {' '.join(missing)} into {sys.prefix} ...", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *missing]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return [f"pip install {' '.join(missing)} failed: {tail[0]}"]
    importlib.invalidate_caches()
    return []


def ensure() -> list[str]:
    """Install what is missing; the problems left, one sentence each (empty: all there)."""
    problems = ensure_apt() + ensure_pip()
    for p in problems:
        print(f"! {p}", flush=True)
    return problems


def versions() -> list[str]:
    out = [f"Python {sys.version.split()[0]}"]
    for name in ("aiohttp", "uvloop", "httptools"):
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    for cmd in (["nginx", "-v"], ["varnishd", "-V"], ["wrk", "-v"], ["h2load", "--version"]):
        exe = shutil.which(cmd[0]) or str(Path("/usr/sbin", cmd[0]))
        try:
            p = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, timeout=10)
        except OSError:
            continue
        text = (p.stdout + p.stderr).strip().splitlines()
        if text:
            out.append(text[0].replace("nginx version: ", ""))
    return out
