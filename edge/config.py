"""Typed, frozen configuration. (Loader and validation: see ``load_config``.)"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class OriginConfig:
    url: str = "http://127.0.0.1:8081"
    preserve_host: bool = True  # send the client's Host; False sends the origin URL's host
    connect_timeout: float = 5.0
    first_byte_timeout: float = 30.0
    read_timeout: float = 30.0  # idle time between two body chunks
    max_connections: int = 256
    max_connections_per_host: int = 0  # 0: no per-host limit
    keepalive_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class AdminConfig:
    listen: HostPort = HostPort("127.0.0.1", 8090)
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    listen: HostPort = HostPort("127.0.0.1", 8080)
    max_request_body: int = 1 << 30  # bytes; larger uploads get 413
    max_header_size: int = 16384  # a request line or a header field longer than this gets 400/431
    shutdown_grace: float = 10.0
    purge_method: bool = False  # PURGE <path> on the proxy port (needs the admin token)
    via: bool = True


@dataclass(frozen=True, slots=True)
class MemoryTierConfig:
    max_bytes: int = 256 << 20
    max_object_bytes: int = 8 << 20
    policy: str = "s3fifo"  # "s3fifo" | "lru"


@dataclass(frozen=True, slots=True)
class DiskTierConfig:
    enabled: bool = True
    max_bytes: int = 4 << 30


@dataclass(frozen=True, slots=True)
class CacheConfig:
    dir: str = "./var/cache"
    memory: MemoryTierConfig = field(default_factory=MemoryTierConfig)
    disk: DiskTierConfig = field(default_factory=DiskTierConfig)
    heuristic_fraction: float = 0.1  # RFC 9111 §4.2.2: share of (Date - Last-Modified)
    heuristic_max: float = 86400.0  # cap on a heuristic lifetime, seconds
    targeted_field: str = "Edge-Cache-Control"  # RFC 9213 field aimed at this node
    surrogate_control: bool = True
    max_variants: int = 32  # Vary variants kept per URL
    hit_for_miss: float = 120.0  # remember uncacheable keys, so requests don't queue on them
    max_revalidations: int = 64  # background revalidations at once, whole node
    strip_tag_headers: bool = True  # remove Surrogate-Key / Cache-Tag before the client


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "info"  # debug | info | warning | error
    format: str = "text"  # text | json
    access_log: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    name: str = "edge"
    workers: int = 1
    origin: OriginConfig = field(default_factory=OriginConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
