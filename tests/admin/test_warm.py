"""Cache warming: POST /warm and GET /warm/<id> on a real node and origin stub, the Warmer's
limits and shutdown on a scripted handle, and ``edge warm`` against the running admin app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from edge.cli import main
from edge.clock import FakeClock
from edge.models import ProxyRequest, ProxyResponse
from edge.runtime import warm as warm_module
from edge.runtime.warm import MAX_RUNNING, JobLimit, Warmer, classify
from tests.admin.conftest import TOKEN, Rig, is_hit


def proxy_host(rig: Rig) -> str:
    return f"{rig.proxy.host}:{rig.proxy.port}"


async def start(rig: Rig, **body: Any) -> dict[str, Any]:
    async with rig.admin.post("/warm", json=body, headers=rig.auth) as r:
        assert r.status == 202, await r.text()
        answer: dict[str, Any] = await r.json()
    return answer


async def finished(rig: Rig, job: str) -> dict[str, Any]:
    """The job's progress once it has ended (awaiting its task: no polling, no sleep)."""
    task = rig.node.warmer.get(job).task  # type: ignore[union-attr]
    assert task is not None
    await task
    await rig.engine.fills.drain()
    async with rig.admin.get(f"/warm/{job}", headers=rig.auth) as r:
        assert r.status == 200
        progress: dict[str, Any] = await r.json()
    return progress


async def test_warm_stores_through_the_flow_and_counts_each_outcome(rig: Rig) -> None:
    urls = [
        str(rig.proxy.make_url("/static/warm.css")),  # absolute: its host is the job's
        "/static/warm.js",
        "/private",
        "/fault/500",
        "/fault/reset",
    ]
    started = await start(rig, urls=urls, concurrency=2)
    assert started["total"] == 5 and started["host"] == proxy_host(rig)
    progress = await finished(rig, started["job"])
    assert progress["state"] == "done"
    assert (progress["total"], progress["done"]) == (5, 5)
    assert progress["stored"] == 2
    assert progress["uncacheable"] == 1
    assert progress["failed"] == 2
    assert progress["already_cached"] == 0
    assert {e["url"].rsplit("/", 2)[-2:][1] for e in progress["errors"]} == {"500", "reset"}
    assert progress["finished_at"] == rig.clock.now()
    for path in ("/static/warm.css", "/static/warm.js"):  # a client now hits
        _, status = await rig.get(path)
        assert is_hit(status), status
    again = await finished(rig, (await start(rig, urls=urls[:2]))["job"])
    assert (again["already_cached"], again["stored"]) == (2, 0)
    async with rig.admin.get("/metrics", headers=rig.auth) as r:
        scrape = await r.text()
    for name, value in [
        ("stored", 2),
        ("already_cached", 2),
        ("uncacheable", 1),
        ("failed", 2),
    ]:  # both jobs, counted by the node as each URL ends
        assert f"edge_warmed_{name}_total {float(value)}" in scrape, name


async def test_warm_accepts_extra_request_fields_for_a_variant(rig: Rig) -> None:
    job = await start(
        rig,
        urls=["/vary/lang"],
        host=proxy_host(rig),
        headers={"Accept-Language": "fr"},
    )
    assert (await finished(rig, job["job"]))["stored"] == 1
    _, status = await rig.get("/vary/lang", headers={"Accept-Language": "fr"})
    assert is_hit(status)


async def test_long_poll_answers_when_the_job_ends(rig: Rig) -> None:
    job = (await start(rig, urls=["/static/poll.css"], host=proxy_host(rig)))["job"]
    async with rig.admin.get(f"/warm/{job}?after=0&wait=30", headers=rig.auth) as r:
        progress = await r.json()
    assert progress["done"] == 1 and progress["state"] == "done"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"urls": []}, "urls"),
        ({"urls": ["/a"], "concurrency": 0}, "concurrency"),
        ({"urls": ["/a"], "concurrency": 65}, "concurrency"),
        ({"urls": ["ftp://example.com/a"]}, "ftp://example.com/a"),
        ({"urls": ["http://a.example/x", "http://b.example/y"]}, "b.example"),
        ({"urls": ["http://a.example/x"], "host": "b.example"}, "not on b.example"),
        ({"urls": ["/a"], "host": "bad host/"}, "host"),
        ({"urls": ["/a"] * 10_001}, "urls"),
        ({"urls": ["/a"], "headers": {"Bad Name": "x"}}, "headers"),
        ({"urls": ["/a"], "surprise": 1}, "surprise"),
    ],
)
async def test_bad_warm_requests_are_400_naming_the_problem(
    rig: Rig, body: dict[str, Any], message: str
) -> None:
    async with rig.admin.post("/warm", json=body, headers=rig.auth) as r:
        assert r.status == 400
        assert message in (await r.json())["error"]


async def test_unknown_job_is_404_and_the_paths_are_documented(rig: Rig) -> None:
    async with rig.admin.get("/warm/nope", headers=rig.auth) as r:
        assert r.status == 404
        assert "nope" in (await r.json())["error"]
    async with rig.admin.get("/openapi.json", headers=rig.auth) as r:
        doc = await r.json()
    status = doc["paths"]["/warm/{job}"]["get"]
    assert {p["name"]: p["in"] for p in status["parameters"]} == {
        "job": "path",
        "after": "query",
        "wait": "query",
    }
    assert set(doc["paths"]["/warm"]["post"]["responses"]) == {"202", "400", "401", "413", "429"}


async def test_cli_warm_against_the_admin_app(
    rig: Rig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = str(rig.admin.make_url("")).rstrip("/")
    listing = tmp_path / "urls.txt"
    listing.write_text("# warm these\n/static/cli.css\n\n/static/cli.js\n/private\n")
    argv = ["warm", "--admin", admin, "--token", TOKEN, "--host", proxy_host(rig)]
    code = await asyncio.to_thread(main, [*argv, "--urls", str(listing), "--concurrency", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "warmed 3 of 3 URLs: 2 stored, 0 already cached, 1 uncacheable, 0 failed" in out
    await rig.engine.fills.drain()
    _, status = await rig.get("/static/cli.css")
    assert is_hit(status)

    base = str(rig.proxy.make_url("")).rstrip("/")
    sitemap = tmp_path / "sitemap.xml"
    sitemap.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/static/cli.css</loc></url>"
        f"<url><loc>{base}/static/map.css</loc><lastmod>2026-01-01</lastmod></url>"
        "</urlset>"
    )
    index = tmp_path / "index.xml"
    index.write_text(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>sitemap.xml</loc></sitemap></sitemapindex>"
    )
    argv = ["warm", "--admin", admin, "--token", TOKEN, "--sitemap", str(index)]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "warmed 2 of 2 URLs: 1 stored, 1 already cached" in out

    bad = tmp_path / "bomb.xml"
    bad.write_text('<!DOCTYPE urlset [<!ENTITY a "aaaa">]><urlset>&a;</urlset>')
    code = await asyncio.to_thread(main, [*argv[:-1], str(bad)])
    assert code == 2
    assert "DTD or entity declaration: refused" in capsys.readouterr().err
    code = await asyncio.to_thread(
        main,
        ["warm", "--admin", admin, "--token", "wrong-token-0123456789", "--urls", str(listing)],
    )
    assert code == 1
    assert "401" in capsys.readouterr().err


# -- the Warmer on a scripted handle: limits, long poll, cancellation, shutdown -------
class Gate:
    """A request handle that answers each request only when released."""

    def __init__(self) -> None:
        self.waiting: asyncio.Queue[asyncio.Future[ProxyResponse]] = asyncio.Queue()
        self.seen: list[ProxyRequest] = []

    async def __call__(self, request: ProxyRequest, body: None) -> ProxyResponse:
        self.seen.append(request)
        answer: asyncio.Future[ProxyResponse] = asyncio.get_running_loop().create_future()
        await self.waiting.put(answer)
        return await answer

    async def release(self, cache_status: str, status: int = 200) -> None:
        answer = await self.waiting.get()
        response = ProxyResponse(status, CIMultiDict())
        response.cache_status = cache_status
        answer.set_result(response)


async def test_warmer_long_poll_cancel_and_shutdown() -> None:
    gate = Gate()
    warmer = Warmer(gate, clock=FakeClock(), default_host="edge.example")
    job = warmer.start(["/a", "/b", "/c"], concurrency=1)
    assert job.host == "edge.example"
    poll = asyncio.create_task(job.progress_after(0, 30))
    await gate.release("edge; fwd=uri-miss; fwd-status=200; stored")
    await poll
    assert (job.done, job.stored, job.state) == (1, 1, "running")
    assert gate.seen[0].headers["Host"] == "edge.example" and gate.seen[0].target == "/a"
    await gate.release("edge; hit; ttl=10; detail=memory")
    await job.progress_after(1, 30)
    assert job.cached == 1
    warmer.cancel(job)
    assert job.task is not None
    await asyncio.gather(job.task, return_exceptions=True)
    assert job.state == "cancelled" and job.done == 2

    jobs = [warmer.start(["/x"]) for _ in range(MAX_RUNNING)]
    with pytest.raises(JobLimit):
        warmer.start(["/y"])
    await warmer.close()  # node shutdown: every running job is cancelled
    assert {j.state for j in jobs} == {"cancelled"}
    with pytest.raises(JobLimit):
        warmer.start(["/z"])


async def test_warmer_forgets_the_oldest_finished_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    monkeypatch.setattr(warm_module, "MAX_KEPT", 2)
    warmer = Warmer(gate, clock=FakeClock(), default_host="edge.example")
    ids = []
    for _ in range(3):
        job = warmer.start(["/a"])
        ids.append(job.id)
        await gate.release("edge; fwd=uri-miss; fwd-status=200; detail=private")
        assert job.task is not None
        await job.task
        assert job.uncacheable == 1
    assert warmer.get(ids[0]) is None and warmer.get(ids[2]) is not None


def test_classify_reads_this_nodes_cache_status() -> None:
    def answer(value: str, status: int = 200) -> ProxyResponse:
        response = ProxyResponse(status, CIMultiDict())
        response.cache_status = value
        return response

    assert classify(answer("edge; hit; ttl=5")) == "cached"
    assert classify(answer("edge; fwd=uri-miss; fwd-status=200; stored; collapsed")) == "stored"
    assert classify(answer("edge; fwd=stale; fwd-status=304; ttl=60")) == "cached"
    assert classify(answer("edge; fwd=uri-miss; fwd-status=200; detail=no-store")) == "uncacheable"
    assert classify(answer("edge; fwd=uri-miss; fwd-status=503; stored", 503)) == "failed"
    assert classify(answer("edge; fwd=uri-miss; fwd-status=404; stored", 404)) == "stored"
