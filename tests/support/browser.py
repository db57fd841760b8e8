"""A real browser for the tests: Debian's Chromium driven through Playwright.

Playwright's own browser downloads are never used: the tests launch
``/usr/bin/chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it), and
skip, saying how to install it, when it is missing. ``browser`` is a fixture for sync
tests (the page talks to servers in other processes); async tests pass
:func:`launch_options` to ``async_playwright().chromium.launch``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("EDGE_CHROMIUM", "/usr/bin/chromium"))
SKIP_REASON = (
    f"browser test skipped: {CHROMIUM} is not installed "
    "(as root: apt-get install -y chromium; .ci/run installs it)"
)

# A desktop and a phone viewport: the dashboard must be readable at both.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def chromium_or_skip() -> Path:
    """The Chromium binary, or a pytest skip naming how to install it."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(SKIP_REASON)
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("browser test skipped: playwright is not installed (pip install -e '.[dev]')")
    return CHROMIUM


def launch_options() -> dict[str, Any]:
    """Keyword arguments for ``chromium.launch``: the system binary, headless, no sandbox
    (CI runs as root in a container, where Chromium's sandbox cannot start)."""
    return {
        "executable_path": str(chromium_or_skip()),
        "headless": True,
        "chromium_sandbox": False,
        "args": ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        "timeout": 30_000,
    }


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright's sync API), one per test module (launching costs
    seconds); give each test its own page or context."""
    options = launch_options()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(**options)
        try:
            yield chromium
        finally:
            chromium.close()
