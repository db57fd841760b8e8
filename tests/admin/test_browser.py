"""The admin port in a real browser (Debian's Chromium through Playwright), against a real
edge process in front of the origin stub. Skipped, saying how to install Chromium, without it.

``EDGE_DASHBOARD_PNG=docs/dashboard.png`` makes the dashboard test also write the README's
screenshot (1280x800), after a little more traffic so that the charts have a shape.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import DESKTOP, PHONE, browser  # noqa: F401  (a fixture)
from tests.support.live_edge import LiveEdge, live_edge

WAIT_MS = 10_000  # the page polls every 2 s


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEdge]:
    with live_edge(tmp_path_factory.mktemp("live-edge")) as edge:
        yield edge


def sign_in(page: Any, edge: LiveEdge) -> None:
    """Open the dashboard and give it the token, as a user would."""
    answer = page.goto(f"{edge.admin_url}/")
    assert answer is not None and answer.status == 200
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert page.is_visible("#login") and not page.is_visible("#board")
    page.fill("#token", edge.token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#board", state="visible", timeout=WAIT_MS)


def wait_text(page: Any, selector: str, predicate_js: str) -> str:
    """Until ``predicate_js`` (of ``text``) holds for the element's text; that text."""
    page.wait_for_function(
        f"() => {{ const el = document.querySelector({json.dumps(selector)});"
        f" const text = el ? el.textContent : ''; return {predicate_js}; }}",
        timeout=WAIT_MS,
    )
    text: str = page.text_content(selector) or ""
    return text


def traffic(edge: LiveEdge, rounds: int, pause: float = 0.0) -> None:
    """A few cached routes of the origin stub, each asked ``rounds`` times."""
    for _ in range(rounds):
        for path in ("/static/app.js", "/static/app.css", "/api/items", "/big/1MiB"):
            edge.get(path)
        if pause:
            time.sleep(pause)


def test_the_dashboard_shows_traffic_and_purges(
    browser: Any,  # noqa: F811
    running: LiveEdge,
    tmp_path: Path,
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, running)
    before = wait_text(page, "#hit-ratio", "text.includes('%')")

    # a miss, then hits: the hit ratio since start moves, and the entry is listed
    path = f"/script?cc=max-age%3D3600&size=2048&n={uuid.uuid4().hex[:8]}"
    assert "fwd=uri-miss" in running.get(path)[1]
    for _ in range(3):
        assert "hit" in running.get(path)[1]
    after = wait_text(page, "#hit-ratio", f"text.includes('%') && text !== {json.dumps(before)}")
    assert float(after.rstrip(" %")) > float(before.rstrip(" %"))
    # the latency panel: p50/p90/p99 from the node's histograms, by cache outcome
    latency = wait_text(page, "#latency", "text.includes('all, since start') && /\\d/.test(text)")
    assert "hit" in latency and "miss" in latency, latency
    assert "no latency" not in (page.text_content("#latency-note") or "")
    wait_text(page, "#top-hits", f"text.includes({json.dumps(path)})")
    wait_text(page, "#entries", f"text.includes({json.dumps(path)})")

    # a purge from the form: the answer is shown and the entry leaves the list
    page.select_option("#purge-kind", "urls")
    page.fill("#purge-value", path)
    page.click("#purge-form button[type=submit]")
    result = wait_text(page, "#purge-result", "text.startsWith('Purged')")
    assert result.startswith("Purged 1 entry"), result
    wait_text(page, "#entries", f"!text.includes({json.dumps(path)})")
    assert "fwd=uri-miss" in running.get(path)[1]  # really gone from the cache

    if os.environ.get("EDGE_DASHBOARD_PNG"):  # the README's screenshot: charts with a shape
        traffic(running, 12, pause=0.5)
        page.wait_for_timeout(2500)
    else:
        traffic(running, 2)
        wait_text(page, "#top-bytes", "text.includes('/big/1MiB')")
    page.screenshot(path=str(tmp_path / "dashboard-1280x800.png"))
    if os.environ.get("EDGE_DASHBOARD_PNG"):
        page.screenshot(path=os.environ["EDGE_DASHBOARD_PNG"])
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # the charts redraw on resize
    page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
    assert (tmp_path / "dashboard-1280x800.png").stat().st_size > 10_000
    assert (tmp_path / "dashboard-phone.png").stat().st_size > 10_000
    # nothing is wider than a phone's screen
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone"
    assert not errors, errors


def test_a_wrong_token_is_refused_and_the_form_stays(
    browser: Any,  # noqa: F811
    running: LiveEdge,
) -> None:
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{running.admin_url}/")
    page.fill("#token", "not-the-token")
    page.click("#login-form button[type=submit]")
    wait_text(page, "#login-error", "text.includes('refused')")
    assert page.is_visible("#login") and not page.is_visible("#board")
    assert page.evaluate("sessionStorage.getItem('edge.admin.token')") is None
