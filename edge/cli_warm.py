"""``edge warm``: post warming jobs to the admin API and show their progress.

URLs come from a file (one path or URL a line; blank lines and ``#`` comments
skipped) or from a sitemap (a file or an http(s) URL; ``urlset`` or a
``sitemapindex`` whose sitemaps are read in turn; gzip accepted). Sitemaps are
parsed with the stdlib's expat, refusing any DTD or entity declaration, so
neither entity expansion nor external entities can happen (what defusedxml
guards against). More URLs than one job takes are warmed in successive jobs.

Progress comes from ``GET /warm/<id>?after=N`` (a long poll: no sleeping
loop here) and is drawn with a rich progress bar on stderr; the counts are
printed on stdout at the end.
"""

from __future__ import annotations

import gzip
import io
import urllib.error
import urllib.parse
import urllib.request
import xml.parsers.expat
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

MAX_SITEMAP_BYTES = 50 << 20  # the sitemap protocol's own limit, uncompressed
MAX_SITEMAPS = 1000  # sitemaps read from one index
JOB_URLS = 10_000  # what one job takes (edge.runtime.warm.MAX_URLS)
POLL_WAIT = 10  # seconds the admin API may hold a progress request
TIMEOUT = 60.0


class WarmInputError(Exception):
    """A URL list or sitemap that cannot be used; the message says why and where."""


# -- reading the URLs ---------------------------------------------------------------
def urls_from_file(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WarmInputError(f"cannot read the URL list {path}: {exc}") from None
    urls = [line.strip() for line in text.splitlines()]
    urls = [u for u in urls if u and not u.startswith("#")]
    if not urls:
        raise WarmInputError(f"{path} lists no URL")
    return urls


def parse_sitemap(data: bytes, source: str) -> tuple[str, list[str]]:
    """(``"urlset"`` or ``"sitemapindex"``, the ``<loc>`` values); WarmInputError if the
    document is not a sitemap, is malformed, or declares a DTD or entities."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.GzipFile(fileobj=io.BytesIO(data)).read(MAX_SITEMAP_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise WarmInputError(f"{source}: bad gzip data: {exc}") from None
        if len(data) > MAX_SITEMAP_BYTES:
            raise WarmInputError(f"{source}: over {MAX_SITEMAP_BYTES >> 20} MiB uncompressed")
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack: list[str] = []
    locs: list[str] = []
    text: list[str] = []

    def refuse(*_: object) -> None:
        raise WarmInputError(f"{source}: a DTD or entity declaration: refused (not a sitemap)")

    def refuse_external(*_: object) -> int:
        raise WarmInputError(f"{source}: an external entity: refused (not a sitemap)")

    root: list[str] = []

    def start(name: str, _attrs: object) -> None:
        if not root:
            root.append(name.rpartition(" ")[2])
        stack.append(name.rpartition(" ")[2])
        text.clear()

    def end(_name: str) -> None:
        local = stack.pop()
        if local == "loc" and stack and stack[-1] in ("url", "sitemap"):
            locs.append("".join(text).strip())

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse_external
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise WarmInputError(f"{source}: not well-formed XML: {exc}") from None
    kind = root[0] if root else ""
    if kind not in ("urlset", "sitemapindex"):
        raise WarmInputError(f"{source}: not a sitemap (root element {kind or 'none'!r})")
    return kind, [loc for loc in locs if loc]


def _read_source(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=TIMEOUT) as response:
                data: bytes = response.read(MAX_SITEMAP_BYTES + 1)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise WarmInputError(f"cannot fetch the sitemap {source}: {exc}") from None
    else:
        try:
            with open(source, "rb") as f:
                data = f.read(MAX_SITEMAP_BYTES + 1)
        except OSError as exc:
            raise WarmInputError(f"cannot read the sitemap {source}: {exc}") from None
    if len(data) > MAX_SITEMAP_BYTES:
        raise WarmInputError(f"{source}: over {MAX_SITEMAP_BYTES >> 20} MiB")
    return data


def urls_from_sitemap(source: str, read: Callable[[str], bytes] = _read_source) -> list[str]:
    """Every page URL of a sitemap, following one level of sitemap index."""
    kind, locs = parse_sitemap(read(source), source)
    if kind == "urlset":
        urls = locs
    else:
        if len(locs) > MAX_SITEMAPS:
            raise WarmInputError(f"{source}: {len(locs)} sitemaps, at most {MAX_SITEMAPS}")
        urls = []
        for loc in locs:
            child = _resolve(source, loc)
            child_kind, child_locs = parse_sitemap(read(child), child)
            if child_kind != "urlset":
                raise WarmInputError(f"{child}: a sitemap index inside a sitemap index")
            urls += child_locs
    if not urls:
        raise WarmInputError(f"{source}: the sitemap lists no URL")
    return urls


def _resolve(parent: str, loc: str) -> str:
    if parent.startswith(("http://", "https://")) or loc.startswith(("http://", "https://")):
        return urllib.parse.urljoin(parent, loc)
    return str(Path(parent).parent / loc)


# -- the jobs -----------------------------------------------------------------------
class WarmJobFailed(Exception):
    """A job ended otherwise than done (cancelled), or the admin API answered nonsense."""


Call = Callable[[str, dict[str, object], str], dict[str, object]]  # (url, body, token)
Get = Callable[[str, str], dict[str, object]]  # (url, token)


COUNTS = ("stored", "already_cached", "uncacheable", "failed")


def warm(
    base: str,
    token: str,
    urls: list[str],
    concurrency: int,
    host: str | None,
    post: Call,
    get: Get,
    console: Console | None = None,
) -> list[str]:
    """Warm ``urls`` in jobs of at most :data:`JOB_URLS`; the summary lines."""
    totals = dict.fromkeys(COUNTS, 0)
    errors: list[str] = []
    console = console or Console(stderr=True)
    columns = (
        TextColumn("warming"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("warm", total=len(urls), counts="")
        finished = 0
        for first in range(0, len(urls), JOB_URLS):
            body: dict[str, object] = {"urls": urls[first : first + JOB_URLS]}
            body["concurrency"] = concurrency
            if host:
                body["host"] = host
            job = post(f"{base}/warm", body, token).get("job")
            if not isinstance(job, str):
                raise WarmJobFailed(f"{base}/warm answered no job id")
            done = 0
            while True:
                status = get(f"{base}/warm/{job}?after={done}&wait={POLL_WAIT}", token)
                done = int(str(status.get("done", 0)))
                counts = {k: totals[k] + int(str(status.get(k, 0))) for k in COUNTS}
                shown = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
                bar.update(task, completed=finished + done, counts=shown)
                if status.get("state") != "running":
                    break
            totals = counts
            finished += done
            failures = status.get("errors")
            if isinstance(failures, list):
                errors += [f"  {f.get('url')}: {f.get('error')}" for f in failures[:5]]
            if status.get("state") != "done":
                raise WarmJobFailed(f"warm job {job} was {status.get('state')}")
    lines = [
        f"warmed {finished} of {len(urls)} URLs: "
        + ", ".join(f"{totals[k]} {k.replace('_', ' ')}" for k in COUNTS)
    ]
    if errors:
        lines += ["failures (first ones):", *errors]
    return lines
