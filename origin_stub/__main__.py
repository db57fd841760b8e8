"""``origin-stub --listen 127.0.0.1:8081``: run the stub origin."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from .app import make_app

__all__ = ["main", "parse_listen"]

log = logging.getLogger("origin_stub")


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:PORT``) to a host and port."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="origin-stub", description="A scriptable HTTP origin for the edge demo and tests."
    )
    parser.add_argument(
        "--listen",
        type=parse_listen,
        default=("127.0.0.1", 8081),
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:8081)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    host, port = args.listen
    log.info("origin-stub listening on http://%s:%d/", host, port)
    web.run_app(make_app(), host=host, port=port, print=None, access_log=log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
