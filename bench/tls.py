"""HTTPS and HTTP/2 in the side-by-side bench: a throwaway certificate, and h2load runs.

Both edge and nginx terminate TLS with the same certificate (``trustme``, one CA, a leaf
for 127.0.0.1), TLS 1.2+ with the same AEAD suites; wrk drives HTTPS over HTTP/1.1 and
``h2load`` (Debian's nghttp2-client) drives HTTP/2 negotiated by ALPN, several streams per
connection. h2load reports mean and max latency (no percentiles): the report shows them in
the p50 and p99 columns of those rows, and says so.
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.load import WrkResult
from bench.procs import pinned

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def context(self) -> ssl.SSLContext:
        """A client context trusting the bench's CA (for the checks before timing)."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_certs(scratch: Path) -> TlsFiles | None:
    """A CA and a leaf for 127.0.0.1 under ``scratch/tls``; None without trustme."""
    try:
        import trustme
    except ImportError:
        return None
    d = scratch / "tls"
    d.mkdir(exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(d / "ca.pem", d / "leaf.pem", d / "leaf.key")
    ca.cert_pem.write_to_path(str(files.ca))
    files.cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(files.key))
    for path in (files.ca, files.cert, files.key):
        path.chmod(0o644)  # nginx's workers may run as another user; the key is throwaway
    return files


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"h2load latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _mib(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)([KMG]?B)/s", text)
    if m is None:
        return 0.0
    return (
        float(m.group(1))
        * {"B": 1 / (1 << 20), "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}[m.group(2)]
    )


def parse_h2load(out: str) -> WrkResult:
    def grab(pattern: str) -> re.Match[str]:
        m = re.search(pattern, out)
        if m is None:
            raise ValueError(f"h2load output lacks {pattern!r}:\n{out}")
        return m

    proto = re.search(r"Application protocol: (\S+)", out)
    if proto is None or proto.group(1) != "h2":
        raise RuntimeError(f"h2load did not speak h2 ({proto.group(1) if proto else 'no ALPN'})")
    finished = grab(r"finished in [\d.]+s, ([\d.]+) req/s, (\S+)")
    done = grab(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed")
    codes = grab(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
    latency = grab(r"time for request:\s+(\S+)\s+(\S+)\s+(\S+)")
    return WrkResult(
        rps=float(finished.group(1)),
        p50_ms=_ms(latency.group(3)),  # the mean
        p99_ms=_ms(latency.group(2)),  # the max
        requests=int(done.group(1)),
        errors=int(done.group(3)) + int(codes.group(3)) + int(codes.group(4)),
        mib_per_s=_mib(finished.group(2)),
    )


def h2load(url: str, connections: int, streams: int, seconds: float, cpu: str | None) -> WrkResult:
    exe = shutil.which("h2load")
    if exe is None:
        raise RuntimeError("h2load is not installed (Debian: nghttp2-client)")
    cmd = [exe, "-t1", f"-c{connections}", f"-m{streams}", f"-D{max(1, round(seconds))}"]
    cmd += ["-H", "accept-encoding: identity", url]
    proc = subprocess.run(
        pinned(cmd, cpu), capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"h2load failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
    return parse_h2load(proc.stdout)
