"""The ``edge`` command: ``serve``, ``check-config``, ``purge``, ``version-bump``, ``warm``,
``top``.

``main`` returns the exit code: 0 ok, 1 the admin API failed or could not be reached, 2 bad
usage, a bad config or an unusable URL list. ``purge``, ``version-bump`` and ``warm`` (its
sitemap reading and progress bar in edge/cli_warm.py) and ``top`` (edge/cli_top.py) are small
blocking HTTP clients of the
admin API (``urllib.request``), so they need no event loop.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from edge import cli_top, cli_warm
from edge.config import Config
from edge.config.load import apply_overrides, config_from_dict, load_config
from edge.errors import ConfigError
from edge.runtime.admin_token import TOKEN_ENV

DEFAULT_ADMIN = "http://127.0.0.1:8090"
DEFAULT_CACHE_DIR = "./var/cache"
TOKEN_FILE = "admin-token"  # inside the cache dir; written by the node when no token is set
ADMIN_TIMEOUT = 30.0  # seconds; a cluster-wide purge waits for every node


class AdminCallError(Exception):
    """The admin API could not be reached, refused the call, or answered nonsense."""


# (parsed args, admin base URL, token) -> lines to print
_AdminCall = Callable[[argparse.Namespace, str, str], list[str]]


def _version() -> str:
    try:
        return importlib.metadata.version("edge")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge", description="An HTTP caching reverse proxy.")
    parser.add_argument("--version", action="version", version=f"edge {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run one edge node")
    serve.add_argument("--config", metavar="PATH", help="YAML config file (default: built-ins)")
    serve.add_argument("--listen", metavar="H:P", help="proxy address, overrides proxy.listen")
    serve.add_argument("--origin", metavar="URL", help="origin URL, overrides origin.url")
    serve.add_argument("--admin-listen", metavar="H:P", help="overrides admin.listen")
    serve.add_argument("--cache-dir", metavar="DIR", help="overrides cache.dir")
    serve.add_argument("--name", help="node name, overrides name")
    serve.add_argument("--workers", type=int, metavar="N", help="overrides workers")

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path", metavar="PATH")

    purge = sub.add_parser("purge", help="purge cached objects on every node")
    _add_admin_options(purge)
    what = purge.add_mutually_exclusive_group(required=True)
    what.add_argument("--url", dest="urls", action="append", metavar="U", help="repeatable")
    what.add_argument("--prefix", dest="prefixes", action="append", metavar="P")
    what.add_argument("--tag", dest="tags", action="append", metavar="T")
    what.add_argument("--all", action="store_true", help="everything")
    purge.add_argument("--soft", action="store_true", help="mark stale instead of deleting")

    bump = sub.add_parser("version-bump", help="invalidate everything under a URL prefix")
    _add_admin_options(bump)
    bump.add_argument("prefix", metavar="PREFIX")

    warm = sub.add_parser("warm", help="fetch URLs through the cache (a progress bar)")
    _add_admin_options(warm)
    source = warm.add_mutually_exclusive_group(required=True)
    source.add_argument("--urls", metavar="FILE", help="one path or URL a line")
    source.add_argument("--sitemap", metavar="URL_OR_FILE", help="a sitemap.xml (or index)")
    warm.add_argument("--concurrency", type=int, default=8, metavar="N", help="1..64")
    warm.add_argument("--host", metavar="H", help="the Host to warm (default: the URLs' own)")

    top = sub.add_parser("top", help="a live view of one node or of every node of a cluster")
    top.add_argument(
        "--admin",
        dest="admins",
        action="append",
        metavar="URL",
        help=f"a node's admin API (repeat for every node of a cluster; default {DEFAULT_ADMIN})",
    )
    _add_token_options(top)
    top.add_argument("--interval", type=float, default=2.0, metavar="S", help="refresh period")
    top.add_argument("--limit", type=int, default=5, metavar="N", help="top keys per node")
    top.add_argument("--once", action="store_true", help="print one frame and exit")
    return parser


def _add_admin_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--admin", default=DEFAULT_ADMIN, metavar="URL", help="admin API base URL")
    _add_token_options(parser)


def _add_token_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", metavar="T", help=f"admin token (else ${TOKEN_ENV}, else file)")
    parser.add_argument(
        "--cache-dir",
        default=DEFAULT_CACHE_DIR,
        metavar="DIR",
        help=f"where to find the node's {TOKEN_FILE} file when no token is given",
    )


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors: keep main's int contract
        return e.code if isinstance(e.code, int) else 2
    match args.command:
        case "serve":
            return _serve(args)
        case "check-config":
            return _check_config(args.path)
        case "purge":
            return _admin_command(args, _purge)
        case "version-bump":
            return _admin_command(args, _version_bump)
        case "warm":
            return _warm_command(args)
        case "top":
            return _top_command(args)
    raise AssertionError(f"unhandled command {args.command!r}")


# ---------------------------------------------------------------------------- serve, check-config


def build_serve_config(args: argparse.Namespace) -> Config:
    """The config ``edge serve`` runs with: the file (or defaults), then the flags."""
    cfg = load_config(args.config)
    return apply_overrides(
        cfg,
        listen=args.listen,
        origin=args.origin,
        admin_listen=args.admin_listen,
        cache_dir=args.cache_dir,
        name=args.name,
        workers=args.workers,
    )


def _serve(args: argparse.Namespace) -> int:
    from edge.runtime.reload import ConfigSource

    try:
        if os.environ.get("EDGE_WORKER") and args.config:
            # a worker: its supervisor wrote the config already resolved (no ${...} again)
            with open(args.config, encoding="utf-8") as f:
                cfg = config_from_dict(json.load(f))
            source = ConfigSource(args.config, resolved=True)
        else:
            cfg = build_serve_config(args)
            flags = ("listen", "origin", "admin_listen", "cache_dir", "name", "workers")
            source = ConfigSource(args.config, {k: getattr(args, k) for k in flags})
    except ConfigError as e:
        print(f"edge: config error: {e.message}", file=sys.stderr)
        return 2
    # Imported lazily (check-config and purge need no aiohttp app) and by name, so this module
    # type-checks whether or not edge/server.py exists yet.
    run: Callable[[Config, ConfigSource], int] = importlib.import_module("edge.runtime.server").run
    return run(cfg, source)


def _check_config(path: str) -> int:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        print(f"edge: config error: {e.message}", file=sys.stderr)
        return 2
    print(f"ok: {path}")
    print(
        f"  listen {cfg.proxy.listen}, origin {cfg.origin.url}, "
        f"admin {cfg.admin.listen}, cache dir {cfg.cache.dir}"
    )
    return 0


# ---------------------------------------------------------------------------- admin clients


def resolve_token(
    token: str | None, cache_dir: str, env: Mapping[str, str] | None = None
) -> str | None:
    """``--token``, else ``$EDGE_ADMIN_TOKEN``, else ``<cache-dir>/admin-token``, else None."""
    if token:
        return token
    from_env = (os.environ if env is None else env).get(TOKEN_ENV)
    if from_env:
        return from_env
    try:
        return Path(cache_dir, TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _token_or_say_why(args: argparse.Namespace) -> str | None:
    token = resolve_token(args.token, args.cache_dir)
    if token is None:
        print(
            f"edge: no admin token: pass --token, set {TOKEN_ENV}, or point --cache-dir at the "
            f"node's cache dir (it holds {TOKEN_FILE})",
            file=sys.stderr,
        )
    return token


def _admin_command(args: argparse.Namespace, call: _AdminCall) -> int:
    token = _token_or_say_why(args)
    if token is None:
        return 2
    base = args.admin if "://" in args.admin else f"http://{args.admin}"
    try:
        for line in call(args, base.rstrip("/"), token):
            print(line)
    except AdminCallError as e:
        print(f"edge: {e}", file=sys.stderr)
        return 1
    return 0


def post_json(url: str, body: Mapping[str, object], token: str) -> dict[str, object]:
    """POST ``body`` as JSON with the bearer token; the decoded JSON object answered."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    return _call(request)


def get_json(url: str, token: str) -> dict[str, object]:
    """GET with the bearer token; the decoded JSON object answered."""
    return _call(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}))


def _call(request: urllib.request.Request) -> dict[str, object]:
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT) as response:
            raw = response.read()
    except urllib.error.HTTPError as e:
        detail = e.read(500).decode("utf-8", "replace").strip()
        raise AdminCallError(f"{url} answered {e.code} {e.reason}: {detail}".rstrip(": ")) from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise AdminCallError(f"cannot reach the admin API at {url}: {reason}") from e
    try:
        answer = json.loads(raw)
    except ValueError as e:
        raise AdminCallError(f"{url} answered something that is not JSON: {raw[:200]!r}") from e
    if not isinstance(answer, dict):
        raise AdminCallError(f"{url} answered {answer!r}, expected a JSON object")
    return answer


def _purge(args: argparse.Namespace, base: str, token: str) -> list[str]:
    body = {
        "urls": args.urls or [],
        "prefixes": args.prefixes or [],
        "tags": args.tags or [],
        "all": args.all,
        "soft": args.soft,
    }
    answer = post_json(f"{base}/purge", body, token)
    purged, nodes = answer.get("purged"), answer.get("nodes", {})
    if not isinstance(purged, int) or not isinstance(nodes, dict):
        raise AdminCallError(f"unexpected purge answer {answer!r}")
    mode = "soft-purged (marked stale)" if answer.get("soft") else "purged"
    lines = [f"{mode} {purged} object{'s' if purged != 1 else ''}"]
    lines += [f"  {node}: {'applied' if ok else 'NOT applied'}" for node, ok in nodes.items()]
    return lines


def _version_bump(args: argparse.Namespace, base: str, token: str) -> list[str]:
    answer = post_json(f"{base}/versions", {"prefix": args.prefix}, token)
    version = answer.get("version")
    if not isinstance(version, int):
        raise AdminCallError(f"unexpected version-bump answer {answer!r}")
    lines = [f"{answer.get('prefix', args.prefix)} → version {version}"]
    nodes = answer.get("nodes")
    if isinstance(nodes, dict):
        lines += [f"  {node}: {'applied' if ok else 'NOT applied'}" for node, ok in nodes.items()]
    return lines


def _warm_command(args: argparse.Namespace) -> int:
    if not 1 <= args.concurrency <= 64:
        print(f"edge: --concurrency must be 1..64, got {args.concurrency}", file=sys.stderr)
        return 2
    try:
        urls = (
            cli_warm.urls_from_file(args.urls)
            if args.urls
            else cli_warm.urls_from_sitemap(args.sitemap)
        )
    except cli_warm.WarmInputError as e:
        print(f"edge: {e}", file=sys.stderr)
        return 2
    return _admin_command(args, lambda a, base, token: _warm(a, base, token, urls))


def _warm(args: argparse.Namespace, base: str, token: str, urls: list[str]) -> list[str]:
    try:
        return cli_warm.warm(base, token, urls, args.concurrency, args.host, post_json, get_json)
    except cli_warm.WarmJobFailed as e:
        raise AdminCallError(str(e)) from None


def _top_command(args: argparse.Namespace) -> int:
    if not 0.05 <= args.interval <= 3600:
        print(f"edge: --interval must be 0.05..3600 seconds, got {args.interval}", file=sys.stderr)
        return 2
    if not 1 <= args.limit <= 100:
        print(f"edge: --limit must be 1..100, got {args.limit}", file=sys.stderr)
        return 2
    token = _token_or_say_why(args)
    if token is None:
        return 2
    admins = [a if "://" in a else f"http://{a}" for a in args.admins or [DEFAULT_ADMIN]]
    return cli_top.run(
        [a.rstrip("/") for a in admins],
        token,
        get_json,
        interval=args.interval,
        limit=args.limit,
        once=args.once,
        failure=AdminCallError,
    )
