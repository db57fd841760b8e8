"""Typed, frozen configuration: what every key means, and its default.

``edge.config.load`` reads YAML into these classes and checks every value;
``config/edge.yaml`` is the commented reference. Sizes and durations are
marked with ``SIZE`` / ``DURATION`` metadata (see ``edge.config.units``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.config.routes import (
    CacheRulesConfig,
    HealthCheckConfig,
    PoolConfig,
    QueryRuleConfig,
    RouteConfig,
    ServerConfig,
)
from edge.config.units import DURATION, SIZE, HostPort

__all__ = [
    "DURATION",
    "SIZE",
    "AdminConfig",
    "CacheConfig",
    "CacheRulesConfig",
    "ClusterConfig",
    "CompressionConfig",
    "Config",
    "DiskTierConfig",
    "HealthCheckConfig",
    "HostPort",
    "Http2Config",
    "LimitsConfig",
    "LoggingConfig",
    "MemoryTierConfig",
    "NatsConfig",
    "OriginConfig",
    "OriginTlsConfig",
    "ParentConfig",
    "PoolConfig",
    "PrefetchConfig",
    "ProxyConfig",
    "QueryRuleConfig",
    "RouteConfig",
    "ServerConfig",
    "SniCertConfig",
    "RefreshAheadConfig",
    "TimeoutsConfig",
    "TlsConfig",
]

#: TLS 1.2 suites with forward secrecy and AEAD only, none on RFC 9113 Appendix A's list
#: (Mozilla's "intermediate"); TLS 1.3's suites are OpenSSL's own, all of them modern
MODERN_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)


@dataclass(frozen=True, slots=True)
class SniCertConfig:
    """One more certificate chain, served to clients asking for one of ``names`` (SNI)."""

    names: tuple[str, ...] = ()  # host names; "*.example.com" matches one label
    cert: str = ""  # PEM chain, leaf first
    key: str = ""  # PEM private key


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS termination on a listening port (``proxy.tls``, ``admin.tls``)."""

    cert: str = ""  # PEM chain of the default certificate, leaf first
    key: str = ""  # its PEM private key
    sni: tuple[SniCertConfig, ...] = ()  # certificates chosen by the client's server name
    min_version: str = "1.2"  # "1.2" | "1.3"
    ciphers: str = MODERN_CIPHERS  # OpenSSL cipher list for TLS 1.2


@dataclass(frozen=True, slots=True)
class OriginTlsConfig:
    """How edge checks https:// origins and parents."""

    verify: bool = True  # false: any certificate is accepted (a warning is logged at start)
    ca_file: str | None = None  # PEM bundle trusted instead of the system's store


@dataclass(frozen=True, slots=True)
class OriginConfig:
    url: str = "http://127.0.0.1:8081"
    preserve_host: bool = True  # send the client's Host; False sends the origin URL's host
    connect_timeout: float = field(default=5.0, metadata=DURATION)
    first_byte_timeout: float = field(default=30.0, metadata=DURATION)
    read_timeout: float = field(default=30.0, metadata=DURATION)  # idle time between two chunks
    max_connections: int = 256
    max_connections_per_host: int = 0  # 0: no per-host limit
    keepalive_timeout: float = field(default=30.0, metadata=DURATION)
    tls: OriginTlsConfig = field(default_factory=OriginTlsConfig)


@dataclass(frozen=True, slots=True)
class AdminConfig:
    listen: HostPort = HostPort("127.0.0.1", 8090)
    token: str | None = None
    tls: TlsConfig | None = None  # None: plain HTTP
    # with no token set: read it from this file, or generate one into it (nodes sharing the
    # file share the token; compose.yaml's nodes do)
    token_file: str | None = None


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    """What one request may be on the proxy port; over a limit: answered, then closed."""

    request_line: int = field(default=8192, metadata=SIZE)  # 414 over it
    header_count: int = 100  # 431 over it


@dataclass(frozen=True, slots=True)
class TimeoutsConfig:
    """Client-side timeouts of the proxy port. ``send`` holds on every front (HTTP/1.1,
    HTTP/2, aiohttp); on the aiohttp front ``head`` bounds the first request's head only."""

    # absolute deadline for a request's line and header fields, from its first byte
    head: float = field(default=10.0, metadata=DURATION)
    keepalive: float = field(default=15.0, metadata=DURATION)  # idle between two requests
    body_idle: float = field(default=30.0, metadata=DURATION)  # no request body byte for this long
    # a client that takes none of a response's bytes for this long is disconnected; on
    # HTTP/2 a stream whose window stays shut this long is reset
    send: float = field(default=60.0, metadata=DURATION)


@dataclass(frozen=True, slots=True)
class Http2Config:
    """HTTP/2 on the proxy port (``edge.fronts.h2``): ALPN ``h2`` on TLS, prior knowledge on
    plaintext (h2c). The limits answer the published HTTP/2 attacks; over one, the
    connection gets GOAWAY (ENHANCE_YOUR_CALM) and is closed."""

    enabled: bool = True
    max_concurrent_streams: int = 100  # SETTINGS_MAX_CONCURRENT_STREAMS
    # SETTINGS_MAX_HEADER_LIST_SIZE: the decoded fields of one request (RFC 9113 §6.5.2)
    max_header_list_size: int = field(default=16384, metadata=SIZE)
    # HEADERS + CONTINUATION bytes of one block, counted before HPACK decodes any of it
    # (the CONTINUATION flood, CVE-2024-27316 class)
    max_header_block: int = field(default=65536, metadata=SIZE)
    hpack_table_size: int = field(default=4096, metadata=SIZE)  # SETTINGS_HEADER_TABLE_SIZE
    # receive window of each request body (SETTINGS_INITIAL_WINDOW_SIZE): what a client may
    # send before edge has read it on
    initial_window: int = field(default=256 * 1024, metadata=SIZE)
    # within each flood_window, per connection: RST_STREAM frames from the client (rapid
    # reset, CVE-2023-44487), SETTINGS/PING/PRIORITY frames, and frames with nothing in them
    max_resets: int = 100
    max_control_frames: int = 200
    max_empty_frames: int = 100
    flood_window: float = field(default=10.0, metadata=DURATION)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    listen: HostPort = HostPort("127.0.0.1", 8080)
    front: str = "http1"  # "http1" (httptools on uvloop) | "aiohttp" (the fallback)
    # bytes; larger uploads get 413 (1 MiB, as nginx: a safe default, raise it for uploads)
    max_request_body: int = field(default=1 << 20, metadata=SIZE)
    # the header section (http1: all fields together; aiohttp: each field) over this gets 431
    max_header_size: int = field(default=8192, metadata=SIZE)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    shutdown_grace: float = field(default=10.0, metadata=DURATION)
    # open client connections per process; above it new ones get a 503 and are closed
    # (lowered at start to what RLIMIT_NOFILE leaves room for: edge.fronts.limits)
    max_connections: int = 10000
    purge_method: bool = False  # PURGE <path> on the proxy port (needs the admin token)
    via: bool = True
    tls: TlsConfig | None = None  # None: plain HTTP (and h2c by prior knowledge)
    http2: Http2Config = field(default_factory=Http2Config)
    # peers (CIDR) whose X-Forwarded-For and Forwarded are kept and appended to; from any
    # other peer they are replaced, so a client cannot put words in the origin's mouth
    trusted_proxies: tuple[str, ...] = ()
    # drop X-Original-URL, X-Rewrite-URL, X-HTTP-Method-Override and the like before the
    # origin: frameworks that honour them would answer another URL or method under this key
    strip_override_headers: bool = True


@dataclass(frozen=True, slots=True)
class MemoryTierConfig:
    max_bytes: int = field(default=256 << 20, metadata=SIZE)
    max_object_bytes: int = field(default=8 << 20, metadata=SIZE)
    policy: str = "wtinylfu"  # "wtinylfu" | "s3fifo" | "lru"


@dataclass(frozen=True, slots=True)
class DiskTierConfig:
    enabled: bool = True
    max_bytes: int = field(default=4 << 30, metadata=SIZE)


#: Media types edge compresses by default (``cache.compression.types``).
COMPRESSIBLE_TYPES: tuple[str, ...] = (
    "text/html",
    "text/css",
    "text/plain",
    "text/javascript",
    "text/xml",
    "text/csv",
    "text/markdown",
    "application/javascript",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/wasm",
    "image/svg+xml",
    "image/x-icon",
    "font/ttf",
    "font/otf",
)


@dataclass(frozen=True, slots=True)
class CompressionConfig:
    """Edge compression of stored responses the origin sent unencoded (README)."""

    enabled: bool = True
    codings: tuple[str, ...] = ("zstd", "br", "gzip")  # offered, by preference on q-value ties
    types: tuple[str, ...] = COMPRESSIBLE_TYPES  # "type/*" matches a whole top-level type
    min_size: int = field(default=1024, metadata=SIZE)  # by Content-Length; chunked: always
    zstd_level: int = 3  # 1-19
    brotli_level: int = 4  # 0-11
    gzip_level: int = 6  # 1-9


@dataclass(frozen=True, slots=True)
class PrefetchConfig:
    """Preload prefetch: rel=preload links of stored HTML responses fetched (README)."""

    enabled: bool = False
    per_response: int = 8  # links taken from one response (and its 103s)
    concurrency: int = 4  # prefetch requests at once, whole node
    max_in_flight: int = 64  # accepted and not done; beyond it links are dropped


@dataclass(frozen=True, slots=True)
class RefreshAheadConfig:
    """Background refresh of popular entries before they expire (edge.cache.refresh)."""

    fraction: float = 0.1  # the last part of the lifetime in which a hit may refresh; 0: off
    min_hits: int = 2  # hits counted in that part (frequency sketch) before refreshing


@dataclass(frozen=True, slots=True)
class CacheConfig:
    dir: str = "./var/cache"
    memory: MemoryTierConfig = field(default_factory=MemoryTierConfig)
    disk: DiskTierConfig = field(default_factory=DiskTierConfig)
    heuristic_fraction: float = 0.1  # RFC 9111 §4.2.2: share of (Date - Last-Modified)
    # cap on a heuristic lifetime, seconds
    heuristic_max: float = field(default=86400.0, metadata=DURATION)
    targeted_field: str = "Edge-Cache-Control"  # RFC 9213 field aimed at this node
    surrogate_control: bool = True
    max_variants: int = 32  # Vary variants kept per URL
    # remember uncacheable keys, so requests don't queue on them
    hit_for_miss: float = field(default=120.0, metadata=DURATION)
    max_revalidations: int = 64  # background revalidations at once, whole node
    strip_tag_headers: bool = True  # remove Surrogate-Key / Cache-Tag before the client
    # RFC 9111 §4.2.4: how long past freshness a stored response answers while the origin fails
    serve_stale_on_error: float = field(default=86400.0, metadata=DURATION)
    # responses with Set-Cookie: "shared-only" (stored only when addressed to shared caches)
    # or "rfc" (RFC 9111 §7.3: stored and served like any other field)
    store_set_cookie: str = "shared-only"
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    prefetch: PrefetchConfig = field(default_factory=PrefetchConfig)
    refresh_ahead: RefreshAheadConfig = field(default_factory=RefreshAheadConfig)


@dataclass(frozen=True, slots=True)
class AccessLogConfig:
    """The access log's lines (``access_log`` turns it on and off)."""

    format: str = "auto"  # auto (json when logging.format is json, else combined) | combined | json
    path: str = ""  # empty: standard error; else a file, appended to, reopened on reload


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"  # debug | info | warning | error
    format: str = "text"  # text | json
    access_log: bool = True
    access: AccessLogConfig = field(default_factory=AccessLogConfig)


@dataclass(frozen=True, slots=True)
class ParentConfig:
    """A shield node this one sends misses to (README: running a small CDN)."""

    name: str = ""
    url: str = ""  # its proxy port
    admin_url: str | None = None  # its admin port, for the active /healthz probe


@dataclass(frozen=True, slots=True)
class NatsConfig:
    """The JetStream control plane that carries purges and version bumps."""

    servers: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    stream: str = "EDGE_INVALIDATIONS"
    kv_bucket: str = "edge_versions"
    max_age: float = field(default=7 * 86400.0, metadata=DURATION)  # how long events are kept
    catch_up_timeout: float = field(default=30.0, metadata=DURATION)  # at start, before serving
    wait_timeout: float = field(default=5.0, metadata=DURATION)  # "wait": true on /purge


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    parents: tuple[ParentConfig, ...] = ()
    parent_down_for: float = field(default=10.0, metadata=DURATION)  # after a failure
    parent_probe_interval: float = field(default=5.0, metadata=DURATION)  # 0: passive only
    nats: NatsConfig | None = None  # None: a standalone node, no broker needed


@dataclass(frozen=True, slots=True)
class Config:
    name: str = "edge"
    workers: int = 1
    origin: OriginConfig = field(default_factory=OriginConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    # named pools of servers, and the routes that pick one (edge.config.routes); with
    # neither, origin.url is the one pool and no cache rule applies
    origins: tuple[PoolConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
