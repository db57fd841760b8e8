"""`make conformance`: the public HTTP cache-tests suite, run through an edge node.

Copies the suite (``$CACHE_TESTS_DIR``, else ``../shared/cache-tests`` beside this
repository) into a scratch directory, installs its dependencies with npm, starts its
origin server and an edge in front of it on free 127.0.0.1 ports, runs the suite's CLI
against the edge and prints a summary compared with ``conformance/baseline.json``
(see ``conformance/summary.py``). Exit status: 0 when no required failure appears that
the baseline does not list (or when Node.js or the suite is missing: then it says so and
skips), 1 otherwise, 2 when the run itself could not be made.

    .venv/bin/python -m conformance.run [--id TEST] [--set cache.store_set_cookie=rfc]
                                        [--keep] [--ports ORIGIN,PROXY,ADMIN] [--front F]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from conformance.summary import baseline_of, load_baseline, parse_records, render, summarise

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "conformance" / "baseline.json"
CLASSIFIER = REPO / "conformance" / "classify.mjs"
SUITE_TIMEOUT = 900.0  # the whole suite takes about a minute
START_TIMEOUT = 30.0


class RunError(Exception):
    """The run could not be made (an install failed, a process did not start)."""


def suite_dir() -> Path:
    configured = os.environ.get("CACHE_TESTS_DIR")
    return Path(configured) if configured else REPO.parent / "shared" / "cache-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        time.sleep(0.1)
    raise RunError(f"{what} did not listen on {HOST}:{port} within {START_TIMEOUT:.0f}s")


def tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def started(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own session, stopped (by its PID) on the way out."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def prepare_suite(source: Path, scratch: Path) -> Path:
    suite = scratch / "cache-tests"
    shutil.copytree(source, suite, ignore=shutil.ignore_patterns("node_modules", ".git"))
    shutil.copy(CLASSIFIER, suite / "classify.mjs")
    print(f"conformance: installing the suite's dependencies in {suite}", flush=True)
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--omit=dev", "--loglevel=error"],
        cwd=suite,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RunError(f"npm install failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return suite


def set_key(config: dict[str, object], assignment: str) -> None:
    """Apply ``dotted.key=value`` (the value read as YAML) to a nested config dict."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path:
        raise RunError(f"--set wants KEY=VALUE, got {assignment!r}")
    *parents, last = path.split(".")
    node = config
    for name in parents:
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise RunError(f"--set {assignment}: {name} is not a section")
        node = child
    node[last] = yaml.safe_load(raw)


def edge_config(
    scratch: Path, origin_port: int, proxy_port: int, admin_port: int, args: argparse.Namespace
) -> Path:
    config: dict[str, object] = {
        "name": "edge",
        "origin": {"url": f"http://{HOST}:{origin_port}"},
        "proxy": {"listen": f"{HOST}:{proxy_port}"},
        "admin": {"listen": f"{HOST}:{admin_port}", "token": "conformance-run-token-0000"},
        "cache": {"dir": str(scratch / "cache")},
        "logging": {"access_log": False},
    }
    if args.front:
        set_key(config, f"proxy.front={args.front}")
    for assignment in args.set:
        set_key(config, assignment)
    path = scratch / "edge.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_suite(suite: Path, scratch: Path, args: argparse.Namespace) -> Path:
    """Start the suite's server and an edge before it, run the CLI; the results file."""
    origin_port, proxy_port, admin_port = args.ports or (free_port(), free_port(), free_port())
    config = edge_config(scratch, origin_port, proxy_port, admin_port, args)
    server_env = {
        "npm_config_port": str(origin_port),
        "npm_config_protocol": "http",
        "npm_config_pidfile": str(scratch / "server.pid"),
    }
    server_log, edge_log = scratch / "server.log", scratch / "edge.log"
    edge_bin = Path(sys.executable).parent / "edge"
    edge_argv = [str(edge_bin), "serve", "--config", str(config)]
    with (
        started(
            ["node", "test-engine/server/server.mjs"], cwd=suite, env=server_env, log=server_log
        ) as server,
        started(edge_argv, cwd=scratch, env={}, log=edge_log) as edge,
    ):
        wait_for_port(origin_port, server, "the cache-tests server", server_log)
        wait_for_port(proxy_port, edge, "edge", edge_log)
        print(
            f"conformance: cache-tests server on :{origin_port}, edge on :{proxy_port}; "
            "running the suite (about a minute)",
            flush=True,
        )
        argv = ["npm", "run", "--silent", "cli", f"--base=http://{HOST}:{proxy_port}"]
        if args.id:
            argv.append(f"--id={args.id}")
        try:
            done = subprocess.run(
                argv, cwd=suite, capture_output=True, text=True, timeout=SUITE_TIMEOUT
            )
        except subprocess.TimeoutExpired as exc:
            raise RunError(f"the suite did not finish within {SUITE_TIMEOUT:.0f}s") from exc
        if edge.poll() is not None:
            raise RunError(f"edge exited during the run:\n{tail(edge_log)}")
    if args.id:
        print(done.stdout)
        print(done.stderr, file=sys.stderr)
        raise SystemExit(done.returncode)
    if done.returncode != 0:
        raise RunError(f"the suite's CLI failed ({done.returncode}):\n{done.stderr[-3000:]}")
    results = scratch / "results.json"
    results.write_text(done.stdout)
    errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    if errors:
        print(f"conformance: the suite's client reported {len(errors)} errors:", flush=True)
        for line in errors[:10]:
            print(f"  {line}")
    return results


def classify(suite: Path, results: Path) -> str:
    done = subprocess.run(
        ["node", "classify.mjs", str(results)], cwd=suite, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RunError(f"classifying the results failed:\n{done.stderr[-3000:]}")
    return done.stdout


def parse_ports(value: str) -> tuple[int, int, int]:
    parts = [int(p) for p in value.split(",")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("--ports wants ORIGIN,PROXY,ADMIN")
    return parts[0], parts[1], parts[2]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make conformance", description=__doc__.split("\n")[0])
    parser.add_argument("--id", help="run one test and print the suite's dump of it")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an edge config key for this run, e.g. cache.store_set_cookie=rfc",
    )
    parser.add_argument("--front", help="proxy.front for this run (http1 or aiohttp)")
    parser.add_argument("--ports", type=parse_ports, help="fixed ORIGIN,PROXY,ADMIN ports")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument(
        "--write-baseline", action="store_true", help="rewrite baseline.json from this run"
    )
    parser.add_argument("--json", type=Path, help="also write the classified results here")
    args = parser.parse_args(argv)

    source = suite_dir()
    if not (source / "test-engine" / "cli.mjs").exists():
        print(
            f"conformance: SKIPPED: the cache-tests suite is not at {source} (set CACHE_TESTS_DIR)"
        )
        return 0
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        print(f"conformance: SKIPPED: {' and '.join(missing)} not found (Node.js is needed)")
        return 0

    scratch = Path(tempfile.mkdtemp(prefix="edge-conformance-"))
    try:
        suite = prepare_suite(source, scratch)
        results = run_suite(suite, scratch, args)
        classified = classify(suite, results)
    except RunError as exc:
        print(f"conformance: ERROR: {exc}", file=sys.stderr)
        print(f"conformance: scratch directory kept: {scratch}", file=sys.stderr)
        return 2
    except SystemExit:  # --id: the suite's dump was the output
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    if args.json:
        args.json.write_text(classified)
    baseline = load_baseline(BASELINE)
    summary = summarise(parse_records(classified), baseline)
    print(render(summary))
    if args.set or args.front:
        print(
            f"(with {' '.join(args.set + ([f'proxy.front={args.front}'] if args.front else []))})"
        )
    if args.write_baseline:
        BASELINE.write_text(json.dumps(baseline_of(summary, baseline), indent=2) + "\n")
        print(f"conformance: wrote {BASELINE.relative_to(REPO)}")
    if args.keep:
        print(f"conformance: scratch directory kept: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
