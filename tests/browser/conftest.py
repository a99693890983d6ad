"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by the
Python ``playwright`` package (its own browser download is never used)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import REQUIRE_SYSTEM_DEPS, require_system

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """A launched headless Chromium (a playwright ``Browser``), closed after the module."""
    require_system(CHROMIUM, "the dashboard's browser tests drive it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "the playwright package is not installed (pip install -e '.[test]')"
        if REQUIRE_SYSTEM_DEPS:
            pytest.fail(message)
        pytest.skip(message)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
