"""Which targets a run has, started lazily by name and all stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bench.origin import Origin
from bench.targets import (
    TARGET_CPU,
    EdgeSource,
    Target,
    front_supported,
    recent_revs,
    snapshot,
    start_bare,
    start_edge,
    start_nginx,
    start_passproxy,
    start_varnish,
)
from bench.tls import make_certs

BOTH_CPUS = "0,1"
MAX_REVS = 30


class Registry:
    def __init__(self, origin: Origin, scratch: Path, docroot: Path) -> None:
        self.origin, self.scratch, self.docroot = origin, scratch, docroot
        self.started: dict[str, Target] = {}
        self.unavailable: dict[str, str] = {}
        self.notes: list[str] = []
        self.src, self.fronts = self._choose()
        if not self.fronts:
            self.notes.append(
                "no `proxy.front` value both passes `edge check-config` and starts: edge runs "
                "without the key, labelled 'edge (default front)'"
            )
        o, s = origin, scratch
        self.tls = make_certs(scratch)
        if self.tls is None:
            self.notes.append("no trustme: the HTTPS and HTTP/2 rows are not measured")
        self.starters: dict[str, Callable[[], Target | None]] = {
            "nginx": lambda: start_nginx("nginx", o, s),
            "varnish": lambda: start_varnish("varnish", o, s),
            "bare aiohttp": lambda: start_bare("bare aiohttp", "bare-aiohttp", s, docroot),
            "bare protocol": lambda: start_bare("bare protocol", "bare-protocol", s, docroot),
            "aiohttp pass-through": lambda: start_passproxy("aiohttp pass-through", o, s),
            "nginx x2": lambda: start_nginx("nginx x2", o, s, workers=2, cpu=BOTH_CPUS),
            "varnish x2": lambda: start_varnish("varnish x2", o, s, pools=2, cpu=BOTH_CPUS),
        }
        if self.tls is not None:
            tls = self.tls
            self.starters["nginx https"] = lambda: start_nginx("nginx https", o, s, tls=tls)
            if "http1" in self.fronts:  # HTTP/2 lives on the http1 front
                self.starters["edge https"] = self._edge("edge https", front="http1", tls=True)
        for front in self.fronts:
            self.starters[f"edge {front}"] = self._edge(f"edge {front}", front=front)
            self.starters[f"edge {front} disk"] = self._edge(
                f"edge {front} disk", front=front, max_object_bytes="64KiB"
            )
            self.starters[f"edge {front} x2"] = self._edge(
                f"edge {front} x2", front=front, workers=2, cpu=BOTH_CPUS
            )
        if not self.fronts:
            label = "edge (default front)"
            self.starters[label] = self._edge(label)
            self.starters[f"{label} disk"] = self._edge(f"{label} disk", max_object_bytes="64KiB")
            self.starters[f"{label} x2"] = self._edge(f"{label} x2", workers=2, cpu=BOTH_CPUS)

    def _edge(
        self,
        name: str,
        *,
        front: str | None = None,
        workers: int = 1,
        max_object_bytes: str = "8MiB",
        cpu: str = TARGET_CPU,
        tls: bool = False,
    ) -> Callable[[], Target | None]:
        def start() -> Target | None:
            return start_edge(
                self.src,
                name,
                self.origin,
                self.scratch,
                front=front,
                workers=workers,
                max_object_bytes=max_object_bytes,
                cpu=cpu,
                tls=self.tls if tls else None,
            )

        return start

    def _works(self, src: EdgeSource, front: str | None) -> str | None:
        """None if this edge starts with ``proxy.front: FRONT`` (or none); else the reason."""
        if front is not None and not front_supported(src, front, self.scratch):
            return f"`edge check-config` rejects proxy.front: {front}"
        try:
            start_edge(src, f"edge probe {front}", self.origin, self.scratch, front=front).stop()
        except RuntimeError as exc:
            return _reason(str(exc))
        return None

    def _choose(self) -> tuple[EdgeSource, list[str]]:
        """The working tree's edge if it starts (or ``BENCH_EDGE_REV``'s), else the newest
        commit whose edge starts (at most ``MAX_REVS`` back); and the fronts that start."""
        rev = os.environ.get("BENCH_EDGE_REV")
        revs = [rev] if rev else [None, *recent_revs(MAX_REVS)]
        first_problem = ""
        for r in revs:
            src = EdgeSource("the working tree") if r is None else snapshot(r, self.scratch)
            failed = {f: self._works(src, f) for f in ("http1", "aiohttp")}
            fronts = [f for f, why in failed.items() if why is None]
            problem = None if fronts else self._works(src, None)
            if fronts or problem is None:
                for f, why in failed.items():
                    if why is not None:
                        self.notes.append(f"edge with proxy.front: {f} not measured: {why}")
                if r is not None:
                    why = f": {first_problem}" if first_problem else ""
                    self.notes.append(f"edge runs from {src.label}{why}")
                    print(f"  ! {self.notes[-1]}", flush=True)
                return src, fronts
            first_problem = first_problem or f"the working tree's edge did not start ({problem})"
        raise RuntimeError(f"no edge would start: {first_problem}")

    @property
    def edges(self) -> list[str]:
        """The single-process edge targets: one per front, or the default front."""
        return [f"edge {f}" for f in self.fronts] or ["edge (default front)"]

    def get(self, name: str) -> Target | None:
        if name in self.started:
            return self.started[name]
        if name in self.unavailable:
            return None
        try:
            target = self.starters[name]()
        except RuntimeError as exc:
            self.unavailable[name] = str(exc).splitlines()[0]
            print(f"  ! {name}: {exc}", flush=True)
            return None
        if target is None:
            tool = "varnishd" if "varnish" in name else name.split()[0]
            self.unavailable[name] = f"{tool} is not installed"
            print(f"  ! {name}: {tool} is not installed, not measured", flush=True)
            return None
        self.started[name] = target
        return target

    def stop(self, name: str) -> None:
        target = self.started.pop(name, None)
        if target is not None:
            target.stop()

    def stop_all(self) -> None:
        for name in list(self.started)[::-1]:
            self.stop(name)


def _reason(log: str) -> str:
    """The last line of a start-up failure, with the code line that raised it."""
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    files = [i for i, ln in enumerate(lines) if ln.lstrip().startswith('File "')]
    if not files:
        return lines[-1] if lines else "no output"
    at = lines[files[-1]].strip().removeprefix("File ").replace('"', "")
    code = lines[files[-1] + 1].strip() if files[-1] + 1 < len(lines) else ""
    return f"{lines[-1]} at {at}: `{code}`"
