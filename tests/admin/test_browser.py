"""The admin port in a real browser (Debian's Chromium through Playwright), against a real
edge process in front of the origin stub. Skipped, saying how to install Chromium, without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import browser  # noqa: F401  (a fixture)
from tests.support.live_edge import LiveEdge, live_edge


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveEdge]:
    with live_edge(tmp_path_factory.mktemp("live-edge")) as edge:
        yield edge


def test_chromium_reads_the_admin_port(browser: Any, running: LiveEdge, tmp_path: Path) -> None:  # noqa: F811
    page = browser.new_page()
    answer = page.goto(f"{running.admin_url}/healthz")
    assert answer is not None and answer.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"
