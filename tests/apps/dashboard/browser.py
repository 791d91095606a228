"""Debian Chromium driven by Playwright, shared by the browser tests.

Screenshots go to $TESSERA_SCREENSHOT_DIR when set (to review the design), else a tmp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    directory = Path(os.environ.get("TESSERA_SCREENSHOT_DIR") or tmp_path / "shots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def browser_context():
    """A fresh Chromium context (1360×900); skips cleanly where Chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        yield context
        context.close()
        browser.close()
