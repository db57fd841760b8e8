"""The ``edge`` command line: argument parsing, check-config, serve's config path, admin calls."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from edge.cli import build_parser, build_serve_config, main, resolve_token
from edge.config import Config, HostPort

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "config" / "edge.yaml"
TOKEN = "test-token-0123456789"

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


# ---------------------------------------------------------------------------- check-config


def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(REFERENCE)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"ok: {REFERENCE}"
    assert "listen 127.0.0.1:8080" in out[1]
    assert "origin http://127.0.0.1:8081" in out[1]
    assert "cache dir ./var/cache" in out[1]


def test_check_config_bad_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cache:\n  memory:\n    max_byts: 1GiB\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("edge: config error: cache.memory.max_byts: got 'max_byts'")
    assert "max_object_bytes" in captured.err


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("proxy:\n  front: h2\n", "proxy.front: got 'h2', expected one of: http1, aiohttp"),
        ("proxy:\n  limits:\n    header_count: 0\n", "proxy.limits.header_count: got 0"),
        ("proxy:\n  timeouts:\n    head: 0s\n", "proxy.timeouts.head: got 0.0"),
    ],
)
def test_check_config_bad_front_settings_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, key: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"edge: config error: {key}")


def test_check_config_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_check_config_as_a_real_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("workers: true\n", encoding="utf-8")
    ok = subprocess.run(
        [sys.executable, "-m", "edge", "check-config", str(REFERENCE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert (ok.returncode, ok.stdout.splitlines()[0]) == (0, f"ok: {REFERENCE}")
    failed = subprocess.run(
        [sys.executable, "-m", "edge", "check-config", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert failed.returncode == 2
    assert failed.stderr.strip() == "edge: config error: workers: got True, expected an integer"


# ---------------------------------------------------------------------------- serve, parsing


def test_serve_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text("name: from-file\nworkers: 3\ncache:\n  dir: /srv/edge\n", encoding="utf-8")
    args = build_parser().parse_args(
        ["serve", "--config", str(path), "--listen", "[::1]:0", "--name", "edge-b"]
    )
    cfg = build_serve_config(args)
    assert cfg.proxy.listen == HostPort("::1", 0)
    assert (cfg.name, cfg.workers, cfg.cache.dir) == ("edge-b", 3, "/srv/edge")


def test_serve_without_file_uses_the_defaults_and_flags() -> None:
    args = build_parser().parse_args(
        ["serve", "--origin", "http://127.0.0.2:9000", "--admin-listen", "127.0.0.2:0"]
    )
    cfg = build_serve_config(args)
    assert cfg.origin.url == "http://127.0.0.2:9000"
    assert cfg.admin.listen == HostPort("127.0.0.2", 0)
    assert cfg.proxy == Config().proxy


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "nowhere"], "edge: config error: --listen: got 'nowhere'"),
        (["--workers", "0"], "edge: config error: --workers: got 0"),
        (["--origin", "gopher://x"], "edge: config error: --origin: got 'gopher://x'"),
        (["--config", "/nonexistent/edge.yaml"], "edge: config error: /nonexistent/edge.yaml"),
    ],
)
def test_serve_config_error_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *argv]) == 2
    assert capsys.readouterr().err.startswith(message)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["serve", "--workers", "two"],
        ["purge"],
        ["purge", "--all", "--url", "/a"],
        ["version-bump"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage: edge" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("edge ")


def test_purge_arguments_repeat() -> None:
    args = build_parser().parse_args(["purge", "--tag", "a", "--tag", "b", "--soft"])
    assert (args.tags, args.urls, args.all, args.soft) == (["a", "b"], None, False, True)


# ---------------------------------------------------------------------------- token


def test_token_sources_in_order(tmp_path: Path) -> None:
    (tmp_path / "admin-token").write_text("from-file-0123456789\n", encoding="utf-8")
    env = {"EDGE_ADMIN_TOKEN": "from-env-0123456789"}
    assert resolve_token("from-flag", str(tmp_path), env) == "from-flag"
    assert resolve_token(None, str(tmp_path), env) == "from-env-0123456789"
    assert resolve_token(None, str(tmp_path), {}) == "from-file-0123456789"
    assert resolve_token(None, str(tmp_path / "none"), {}) is None


def test_no_token_anywhere_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EDGE_ADMIN_TOKEN", raising=False)
    assert main(["purge", "--all", "--cache-dir", str(tmp_path)]) == 2
    assert "no admin token" in capsys.readouterr().err


# ---------------------------------------------------------------------------- admin calls


class FakeAdmin:
    """Records the admin calls it gets and answers like the real admin API will."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, object]] = []
        self.app = web.Application()
        self.app.router.add_post("/purge", self.purge)
        self.app.router.add_post("/versions", self.versions)

    async def _record(self, request: web.Request) -> object:
        body = await request.json()
        self.calls.append((request.path, request.headers.get("Authorization"), body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized(text="bad token")
        return body

    async def purge(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        assert isinstance(body, dict)
        answer = {"purged": 3, "soft": body["soft"], "nodes": {"edge-a": True, "edge-b": False}}
        return web.json_response(answer)

    async def versions(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        assert isinstance(body, dict)
        return web.json_response({"prefix": body["prefix"], "version": 4})


@pytest.fixture
async def admin(aiohttp_server: ServerFactory) -> tuple[FakeAdmin, str]:
    fake = FakeAdmin()
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")


async def test_purge_posts_json_and_prints_per_node(
    admin: tuple[FakeAdmin, str], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = admin
    argv = ["purge", "--admin", url, "--token", TOKEN, "--url", "/a", "--url", "/b?x=1", "--soft"]
    assert await asyncio.to_thread(main, argv) == 0
    assert fake.calls == [
        (
            "/purge",
            f"Bearer {TOKEN}",
            {"urls": ["/a", "/b?x=1"], "prefixes": [], "tags": [], "all": False, "soft": True},
        )
    ]
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "soft-purged (marked stale) 3 objects",
        "  edge-a: applied",
        "  edge-b: NOT applied",
    ]


async def test_purge_all_with_token_from_env(
    admin: tuple[FakeAdmin, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, url = admin
    monkeypatch.setenv("EDGE_ADMIN_TOKEN", TOKEN)
    assert await asyncio.to_thread(main, ["purge", "--admin", url, "--all"]) == 0
    assert fake.calls[0][2] == {"urls": [], "prefixes": [], "tags": [], "all": True, "soft": False}
    assert capsys.readouterr().out.startswith("purged 3 objects\n")


async def test_version_bump_with_token_from_file(
    admin: tuple[FakeAdmin, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, url = admin
    monkeypatch.delenv("EDGE_ADMIN_TOKEN", raising=False)
    (tmp_path / "admin-token").write_text(TOKEN + "\n", encoding="utf-8")
    argv = ["version-bump", "--admin", url, "--cache-dir", str(tmp_path), "/static/"]
    assert await asyncio.to_thread(main, argv) == 0
    assert fake.calls == [("/versions", f"Bearer {TOKEN}", {"prefix": "/static/"})]
    assert capsys.readouterr().out == "/static/ → version 4\n"


async def test_rejected_token_exits_1(
    admin: tuple[FakeAdmin, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = admin
    argv = ["purge", "--admin", url, "--token", "wrong-token-0123456789", "--tag", "t"]
    assert await asyncio.to_thread(main, argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "401" in captured.err and "bad token" in captured.err


async def test_unreachable_admin_exits_1(
    unused_tcp_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["purge", "--admin", f"127.0.0.1:{unused_tcp_port}", "--token", TOKEN, "--all"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "cannot reach the admin API" in capsys.readouterr().err


async def test_non_json_answer_exits_1(
    aiohttp_server: ServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async def nonsense(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>")

    app = web.Application()
    app.router.add_post("/versions", nonsense)
    server = await aiohttp_server(app)
    url = str(server.make_url("")).rstrip("/")
    argv = ["version-bump", "--admin", url, "--token", TOKEN, "/x"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "not JSON" in capsys.readouterr().err


async def test_unexpected_purge_answer_exits_1(
    aiohttp_server: ServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async def odd(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/purge", odd)
    server = await aiohttp_server(app)
    argv = ["purge", "--admin", str(server.make_url("")), "--token", TOKEN, "--all"]
    assert await asyncio.to_thread(main, argv) == 1
    assert "unexpected purge answer {'ok': True}" in capsys.readouterr().err


def test_check_config_bad_stale_grace_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("cache:\n  serve_stale_on_error: -5s\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err.startswith("edge: config error: cache.serve_stale_on_error")


# ---------------------------------------------------------------------------- warm inputs
SITEMAP_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def test_sitemap_parsing_takes_every_loc_and_gzip() -> None:
    import gzip

    from edge.cli_warm import parse_sitemap

    xml = (
        f"<?xml version='1.0'?><urlset {SITEMAP_NS}>"
        "<url><loc> http://example.com/a </loc><priority>1</priority></url>"
        "<url><loc>http://example.com/b?x=1&amp;y=2</loc></url></urlset>"
    ).encode()
    expected = ("urlset", ["http://example.com/a", "http://example.com/b?x=1&y=2"])
    assert parse_sitemap(xml, "s.xml") == expected
    assert parse_sitemap(gzip.compress(xml), "s.xml.gz") == expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('<!DOCTYPE urlset [<!ENTITY x "y">]><urlset/>', "DTD or entity declaration: refused"),
        ('<!DOCTYPE urlset SYSTEM "http://evil.example/x.dtd"><urlset/>', "DTD"),
        ("<urlset><url><loc>&xxe;</loc></url></urlset>", "not well-formed"),
        ("<urlset><url><loc>/a</loc></url>", "not well-formed"),
        ("<html><body>hello</body></html>", "not a sitemap (root element 'html')"),
        (f"<urlset {SITEMAP_NS}></urlset>", "lists no URL"),
    ],
)
def test_a_bad_sitemap_is_refused_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: str, message: str
) -> None:
    path = tmp_path / "sitemap.xml"
    path.write_text(document)
    argv = ["warm", "--token", TOKEN, "--admin", "http://127.0.0.1:9", "--sitemap", str(path)]
    assert main(argv) == 2  # refused before any admin call
    err = capsys.readouterr().err
    assert message in err and str(path) in err


def test_warm_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["warm", "--token", TOKEN, "--admin", "http://127.0.0.1:9"]
    assert main([*base, "--urls", str(tmp_path / "missing.txt")]) == 2
    assert "cannot read the URL list" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    assert main([*base, "--urls", str(empty)]) == 2
    assert "lists no URL" in capsys.readouterr().err
    assert main([*base, "--urls", str(empty), "--concurrency", "0"]) == 2
    assert "--concurrency must be 1..64" in capsys.readouterr().err
    assert main([*base, "--urls", str(empty), "--sitemap", str(empty)]) == 2  # one source
