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
