"""How long ``ganorama ui`` takes from a click on Generate to the panorama drawn in the
viewer, on this machine, for a 128 px model. A measurement to read, not a test.

    PYTHONPATH=src:tests python tests/ui/measure_click_to_result.py [--model full|small] [--sizes auto 1000]

``--model full`` writes a full-size biggan-deep-128 random-weight *test fixture* (the
real architecture, so the real cost); ``small`` the width-8 one of the test suite. Each
size is generated twice: the first click in a fresh server also pays one-off costs
(building the canvas's sync operators); the second is what a user waits for after that.
"""
from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]  # test helpers

import numpy as np
from browsers import CHROMIUM_FLAGS, find_chromium
from conftest import UiServer
from fixture_models import small_config, write_legacy_checkpoint
from PIL import Image

from ganorama.models.config import BigGANConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("full", "small"), default="full")
    parser.add_argument("--sizes", nargs="+", default=["auto", "1000"],
                        help="panorama widths (the height is half), or auto: 4x the views' size")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="ganorama-measure-") as folder:
        folder = Path(folder)
        config = BigGANConfig.preset("biggan-deep-128") if args.model == "full" else small_config(8)
        started = time.perf_counter()
        weights = write_legacy_checkpoint(folder / "weights", config, seed=3)
        print(f"fixture ({args.model} 128 px) written in {time.perf_counter() - started:.1f} s", flush=True)
        server = UiServer(weights, folder / "server")
        try:
            started = time.perf_counter()
            server.wait_until_ready(timeout=600)
            print(f"server answered {time.perf_counter() - started:.1f} s after start", flush=True)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS))
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(600_000)
                page.goto(server.url)
                page.locator("#generate").wait_for()
                seed = 1
                for size in args.sizes:
                    for attempt in ("first", "again"):
                        seconds, made = click_to_viewer(page, seed, size)
                        print(f"panorama {size:>5}: click to drawn viewer {seconds:6.1f} s ({attempt}; "
                              f"generator {made})", flush=True)  # fmt: skip
                        seed += 1
                browser.close()
        finally:
            server.stop()


def click_to_viewer(page, seed: int, size: str) -> tuple[float, str]:
    """Seconds from the click to the viewer showing a picture, and the generator's own time."""
    page.locator("#seed textarea, #seed input").first.fill(str(seed))
    page.locator("#panorama_width textarea, #panorama_width input").first.fill(size)
    height = "auto" if size == "auto" else str(int(size) // 2)
    page.locator("#panorama_height textarea, #panorama_height input").first.fill(height)
    started = time.perf_counter()
    page.locator("#generate").click()
    page.locator("#ganorama-info", has_text=f"seed {seed} (panorama)").wait_for()
    while True:  # the sandboxed viewer is another origin: its pixels are what tells it drew
        shot = Image.open(io.BytesIO(page.locator("#ganorama-viewer iframe").screenshot()))
        if np.asarray(shot.convert("L"), dtype=np.float64).std() > 2.0:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    made = re.search(r"made in ([0-9.]+ s)", page.locator("#ganorama-info").inner_text())
    return seconds, made.group(1) if made else "?"


if __name__ == "__main__":
    main()
