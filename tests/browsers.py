"""Headless Chromium for the tests that drive a real browser (the viewer, the web app):
where to find Debian's chromium and the flags every such test launches it with."""
from __future__ import annotations

import os
import shutil

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # WebGL in software: the viewer renders the same pixels on any machine.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    # Nothing but the page under test: no background requests to the (closed) network.
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--force-color-profile=srgb",  # screenshot pixels = page pixels
    "--hide-scrollbars",
    "--mute-audio",
)


def find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def playwright_chromium(who: str):
    """Debian's Chromium launched through playwright, as a generator for a pytest fixture:
    skips (naming ``who`` needs it) where playwright or Chromium is missing."""
    import pytest

    sync_api = pytest.importorskip("playwright.sync_api", reason=f"{who} need playwright (pip)")
    executable = find_chromium()
    if executable is None:
        pytest.skip(f"Debian's chromium is not installed (apt-get install chromium); {who} need it")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS), timeout=60_000)
        try:
            yield instance
        finally:
            instance.close()
