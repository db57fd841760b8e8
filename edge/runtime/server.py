"""``edge serve``: run one node (proxy and admin listeners) until SIGTERM/SIGINT.

Shutdown is graceful: the listeners stop accepting, in-flight requests get
``proxy.shutdown_grace`` seconds to finish, then the origin session closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from edge.clock import Clock, SystemClock
from edge.config import Config
from edge.errors import ConfigError
from edge.fronts.aio import ProxyFront
from edge.fronts.h1_server import H1Front
from edge.fronts.h1_settings import H1Settings
from edge.fronts.limits import LimitedServer, connection_limit
from edge.fronts.purge import purge_target
from edge.fronts.tls import ServerTls
from edge.runtime.access_log import AccessLog
from edge.runtime.admin_token import resolve_admin_token
from edge.runtime.logs import access_log, setup_logging
from edge.runtime.node import Node, open_node
from edge.runtime.notify import sd_notify
from edge.runtime.reload import (
    SOURCE_ENV,
    ConfigSource,
    Reloader,
    ReloadResult,
    fan_out_reload,
    write_config_file,
)
from edge.runtime.routing import routing_changed
from edge.runtime.worker_relay import FillRelay
from edge.runtime.workers import CONFIG_FILE, WorkerRole, role_from_env, supervise
from edge.web.admin import make_admin_app
from edge.web.auth import admin_token_is_generated, check_admin_exposure

log = logging.getLogger("edge.server")


def handler_kwargs(cfg: Config, front: ProxyFront) -> dict[str, Any]:
    """How the proxy's HTTP connections are handled (shared by ``serve`` and the tests).

    aiohttp's access logger is how ``front`` learns that a response is out: it counts,
    times and logs it (``ProxyFront.answered``) whether or not access lines are on.
    """
    return {
        "access_log_class": front.access_logger(),
        "access_log": access_log,
        "max_line_size": cfg.proxy.max_header_size,
        "max_field_size": cfg.proxy.max_header_size,
        "auto_decompress": False,
        # idle between requests, and before the first one: aiohttp arms it on connect and at
        # the end of each response, and a partial head does not re-arm it, so it also bounds a
        # later request's head (the first one's: proxy.timeouts.head, edge.fronts.limits)
        "keepalive_timeout": cfg.proxy.timeouts.keepalive,
    }


def make_proxy(node: Node, access: AccessLog | None = None) -> ProxyFront:
    """The aiohttp front's handler, with ``PURGE`` when ``proxy.purge_method`` is on."""
    cfg = node.cfg

    async def purge(request: web.BaseRequest) -> web.Response:
        done = await purge_target(
            node, request.scheme, request.host, request.raw_path, request.headers
        )
        return web.Response(
            status=done.status,
            body=done.body,
            content_type="application/json",
            headers=dict(done.headers) or None,
        )

    return ProxyFront(
        node.engine,
        name=cfg.name,
        max_request_body=cfg.proxy.max_request_body,
        meters=node.meters,
        stats=node.stats,
        send_timeout=cfg.proxy.timeouts.send,
        purge=purge if cfg.proxy.purge_method else None,
        access=access,
    )


def make_admin(node: Node) -> web.Application:
    return make_admin_app(node, node.invalidator, node.versions, node.registry)


def proxy_alpn(cfg: Config) -> tuple[str, ...]:
    """ALPN on the proxy port (RFC 7301), in the server's order of preference: ``h2`` first
    when the http1 front serves HTTP/2 beside it (``proxy.http2.enabled``)."""
    if cfg.proxy.front == "http1" and cfg.proxy.http2.enabled:
        return ("h2", "http/1.1")
    return ("http/1.1",)


def listening_tls(cfg: Config) -> tuple[ServerTls | None, ServerTls | None]:
    """The proxy port's and the admin port's TLS, or None; ConfigError names a bad key."""
    proxy = cfg.proxy.tls
    admin = cfg.admin.tls
    return (
        ServerTls(proxy, "proxy.tls", alpn=proxy_alpn(cfg)) if proxy is not None else None,
        ServerTls(admin, "admin.tls", alpn=("http/1.1",)) if admin is not None else None,
    )


async def serve(
    cfg: Config,
    *,
    stop: asyncio.Event | None = None,
    started: asyncio.Event | None = None,
    clock: Clock,
    source: ConfigSource | None = None,
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    check_admin_exposure(cfg, admin_token_is_generated(cfg, os.environ))
    role = role_from_env(cfg)
    proxy_tls, admin_tls = listening_tls(cfg)  # before anything opens: a bad file stops here
    async with open_node(cfg, clock=clock, role=role) as node:
        access = AccessLog(cfg.logging)  # closed after the listeners: their last lines go out
        proxy = ProxyListener(node, proxy_tls, access)
        node.reload = _with_certificates(
            _reloader(node, proxy, source, role).reload, node, proxy_tls, admin_tls
        )
        _on_sighup(loop, node)
        admin = web.AppRunner(make_admin(node), access_log=None, handle_signals=False)
        await admin.setup()
        relay = None
        if role is not None and role.fill_sockets:
            relay = FillRelay(node.engine, role, node.versions.version_for)
        try:
            listen, admin_at = cfg.proxy.listen, cfg.admin.listen
            if relay is not None:  # the fills the other workers ask of the keys it owns:
                await relay.start()  # up once the admin socket is (the others wait for that)
            if role is not None:  # every worker: a private admin socket for the others
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(role.socket)
                await web.UnixSite(admin, role.socket).start()
                if not role.leader:  # the leader's versions before serving anything
                    await _first_sync(node)
            if role is None or role.leader:
                admin_ssl = admin_tls.context if admin_tls is not None else None
                await web.TCPSite(
                    admin, admin_at.host, admin_at.port, ssl_context=admin_ssl
                ).start()
            shared = role is not None  # workers share the port; the kernel spreads connections
            await proxy.start(reuse_port=shared)
            log.info(
                "edge %s%s serving on %s://%s (%s front), origin %s, admin on %s://%s",
                cfg.name,
                f" worker {role.index}/{role.count}" if role is not None else "",
                "https" if proxy_tls is not None else "http",
                listen,
                cfg.proxy.front,
                cfg.origin.url,
                "https" if admin_tls is not None else "http",
                admin_at,
            )
            if started is not None:
                started.set()
            if role is None or role.leader:  # systemd (Type=notify): the ports are open
                sd_notify(f"READY=1\nSTATUS=serving on {listen}")
            await stop.wait()
            if role is None or role.leader:
                sd_notify("STOPPING=1")
            log.info(
                "shutting down: finishing in-flight requests (up to %gs)", cfg.proxy.shutdown_grace
            )
        finally:
            # the other workers' fills this one is answering finish within the same grace
            # as its own clients' requests (they are in flight for clients of theirs)
            grace = node.cfg.proxy.shutdown_grace
            closing = [proxy.stop()] + ([relay.close(grace)] if relay is not None else [])
            await asyncio.gather(*closing)
            await admin.cleanup()
            access.close()
    log.info("stopped")


def _reloader(
    node: Node, proxy: ProxyListener, source: ConfigSource | None, role: WorkerRole | None
) -> Reloader:
    """The node's reload: the leader worker re-reads the file and has the others follow."""
    publish = fan_out = None
    if role is not None and role.leader and os.environ.get(SOURCE_ENV):
        source = ConfigSource.from_env(os.environ[SOURCE_ENV])
        shared = os.path.join(os.path.dirname(role.socket), CONFIG_FILE)
        link = node.link
        if link is not None:
            publish = functools.partial(write_config_file, shared)
            fan_out = functools.partial(fan_out_reload, link)

    def apply(new: Config) -> None:
        old, node.cfg = node.cfg, new
        proxy.apply(new)
        if new.logging != old.logging:
            setup_logging(new.logging)
        if routing_changed(old, new) and node.routing_of is not None:
            routing = node.routing_of(new, node.engine.routing)
            routing.start()
            node.engine.use_routing(routing).stop()  # the old pools' probes
        proxy.access.configure(new.logging)  # every reload reopens the file (logrotate)

    return Reloader(lambda: node.cfg, source, apply, publish=publish, fan_out=fan_out)


def _with_certificates(
    reload: Callable[..., Coroutine[Any, Any, ReloadResult]],
    node: Node,
    proxy_tls: ServerTls | None,
    admin_tls: ServerTls | None,
) -> Callable[..., Coroutine[Any, Any, ReloadResult]]:
    """The node's reload, then the TLS certificates re-read from the files it now names.

    Certificates are re-read on every reload, changed paths or not (a renewal
    rewrites the same files), and whether or not the config itself was valid.
    """

    async def reload_all(**kw: Any) -> ReloadResult:
        result = await reload(**kw)
        cfg = node.cfg
        if proxy_tls is not None and cfg.proxy.tls is not None:
            proxy_tls.reload_certificates(cfg.proxy.tls)
        if admin_tls is not None and cfg.admin.tls is not None:
            admin_tls.reload_certificates(cfg.admin.tls)
        return result

    return reload_all


def _on_sighup(loop: asyncio.AbstractEventLoop, node: Node) -> None:
    """SIGHUP reloads (it used to end the process, its default action)."""
    tasks: set[asyncio.Task[object]] = set()

    def hup() -> None:
        if node.reload is not None:
            task: asyncio.Task[object] = loop.create_task(node.reload())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, hup)
    except (NotImplementedError, RuntimeError):  # not the main thread (tests)
        pass


class ProxyListener:
    """The proxy port on the configured front: ``http1`` (default) or ``aiohttp`` (fallback)."""

    def __init__(
        self, node: Node, tls: ServerTls | None = None, access: AccessLog | None = None
    ) -> None:
        self.node = node
        self.tls = tls
        self.access = access if access is not None else AccessLog()
        self.h1: H1Front | None = None
        self.aio: ProxyFront | None = None
        self.runner: web.ServerRunner | None = None

    def apply(self, cfg: Config) -> None:
        """A reloaded config's limits and timeouts, for the next request on every connection."""
        if self.h1 is not None:
            old = self.h1.settings
            self.h1.settings = dataclasses.replace(
                H1Settings.from_config(cfg), hot_path=old.hot_path, high_water=old.high_water
            )
        if self.aio is not None:
            self.aio.max_body = cfg.proxy.max_request_body
            self.aio.send.seconds = cfg.proxy.timeouts.send

    def reload_certificates(self) -> list[str]:
        """Re-read the port's certificates; what was refused (nothing without TLS)."""
        return self.tls.reload_certificates() if self.tls is not None else []

    async def start(self, *, reuse_port: bool = False) -> None:
        cfg = self.node.cfg
        listen = cfg.proxy.listen
        if cfg.proxy.front == "http1":
            self.h1 = H1Front(self.node, tls=self.tls, access=self.access)
            await self.h1.start(listen.host, listen.port, reuse_port=reuse_port)
            return
        self.aio = make_proxy(self.node, self.access)
        server = LimitedServer(
            self.aio,
            limit=connection_limit(cfg),
            head_timeout=cfg.proxy.timeouts.head,
            stats=self.node.stats,
            name=cfg.name,
            **handler_kwargs(cfg, self.aio),
        )
        self.runner = web.ServerRunner(server, shutdown_timeout=cfg.proxy.shutdown_grace)
        await self.runner.setup()
        ssl_context = self.tls.context if self.tls is not None else None
        await web.TCPSite(
            self.runner, listen.host, listen.port, reuse_port=reuse_port, ssl_context=ssl_context
        ).start()

    async def stop(self) -> None:
        if self.h1 is not None:
            await self.h1.stop(self.node.cfg.proxy.shutdown_grace)
        if self.runner is not None:
            await self.runner.cleanup()


async def _first_sync(node: Node, within: float = 10.0) -> None:
    """A starting worker takes the leader's versions first (bounded: the leader may be down)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await node.coordinator.sync_from_leader():
        if loop.time() >= deadline:
            log.error("no answer from worker 0 in %gs: starting with versions.json", within)
            return
        await asyncio.sleep(0.1)


def run(cfg: Config, source: ConfigSource | None = None) -> int:
    setup_logging(cfg.logging)
    if cfg.workers > 1 and role_from_env(cfg) is None:
        try:
            check_admin_exposure(cfg, admin_token_is_generated(cfg, os.environ))
            if cfg.proxy.listen.port == 0:
                raise ConfigError(
                    "proxy.listen", str(cfg.proxy.listen), "a fixed port with workers > 1"
                )
            token = resolve_admin_token(cfg)
        except ConfigError as exc:
            log.error("config error: %s", exc.message)
            return 2
        return supervise(cfg, token, source)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        runner = asyncio.Runner()
    try:
        with runner:
            runner.run(serve(cfg, clock=SystemClock(), source=source))
    except ConfigError as exc:
        log.error("config error: %s", exc.message)
        return 2
    except OSError as exc:
        log.error("cannot serve: %s", exc)
        return 1
    return 0
