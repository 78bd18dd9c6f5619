"""``ganorama ui`` in a real headless Chromium against a real server (see conftest.py).

What a user does, checked against what the CLI makes: the panorama appears in the
project's WebGL viewer and turns when dragged; the downloaded PNG is byte for byte the
CLI's for the same seed and parameters; a bad value shows the CLI's one line in the
page; two pages generating at once each get their own result; the history reopens an
earlier result; "Reproduce" fills the form from a sidecar; a texture is shown tiled.
Images come from a random-weight *test fixture*: they are compared, never looked at.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Every wait below has its own limit (Playwright's default is set to 30 s per step), so
# no test can hang: the slowest step, a fresh server's first generation, gets 90 s.
pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 64, 32  # small panoramas: the tiny fixture makes them in a fraction of a second
CLI_SEEDS = (100, 101, 102)  # seeds of the CLI's reference results
# Two pages at once: the first asks for a panorama big enough (seconds) that the second
# page's click surely comes while it is being made; the second for a small one.
SLOW_WIDTH, SLOW_SEED = 1024, 7
CLASS = "sandbar"
RESULT_TIMEOUT_MS = 90_000  # the first generation in a fresh server warms the model up
VIEWPORT = {"width": 1400, "height": 1000}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ganorama", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)  # fmt: skip


class CliReferences:
    """The CLI's panoramas for the seeds the tests use, made by ``ganorama panorama -n``
    in the background while the server starts (they are what the page must match)."""

    def __init__(self, weights: Path, folder: Path):
        self.folder = folder
        self.runs: dict[int, tuple[subprocess.Popen, Path, tuple[int, ...]]] = {}
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        for width, seeds in ((WIDTH, CLI_SEEDS), (SLOW_WIDTH, (SLOW_SEED,))):
            outdir = folder / str(width)
            command = [sys.executable, "-m", "ganorama", "panorama", "--weights", str(weights), "--class_names", CLASS,
                       "--seed", str(seeds[0]), "-n", str(len(seeds)), "--panorama_width", str(width),
                       "--panorama_height", str(width // 2), "-o", str(outdir), "-q"]  # fmt: skip
            process = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)  # fmt: skip
            self.runs[width] = (process, outdir, seeds)

    def png(self, seed: int, width: int = WIDTH) -> Path:
        """The CLI's PNG for ``seed`` at ``width`` (result k of ``-n`` has seed + k)."""
        process, outdir, seeds = self.runs[width]
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        path = outdir / f"{seeds.index(seed)}.png"
        assert json.loads(path.with_suffix(".json").read_text())["seed"] == seed
        return path

    def close(self) -> None:
        for process, _, _ in self.runs.values():
            if process.poll() is None:
                process.kill()
            process.communicate()


@pytest.fixture(scope="module", autouse=True)
def cli(tiny_checkpoint, tmp_path_factory):
    """Started first (autouse), so the CLI runs while the server starts."""
    references = CliReferences(tiny_checkpoint, tmp_path_factory.mktemp("cli"))
    try:
        yield references
    finally:
        references.close()


class AppPage:
    """One browser tab on the app, with the steps a user takes."""

    def __init__(self, browser, server, downloads: Path):
        self.context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.server = server
        self.downloads = downloads
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(server.url)
        self.page.locator("#generate-panorama").wait_for(timeout=60_000)

    def close(self) -> None:
        self.context.close()

    def text_field(self, elem_id: str):
        return self.page.locator(f"#{elem_id} textarea, #{elem_id} input").first

    def set_classes(self, text: str) -> None:
        box = self.page.locator("#classes input")
        box.fill(text)
        box.press("Enter")

    def fill_panorama(self, seed: int, width: int = WIDTH, height: int = HEIGHT, classes: str = CLASS) -> None:
        self.set_classes(classes)
        self.text_field("seed").fill(str(seed))
        self.text_field("panorama_width").fill(str(width))
        self.text_field("panorama_height").fill(str(height))

    def generate(self, kind: str = "panorama") -> None:
        self.page.locator(f"#generate-{kind}").click()

    def wait_for_result(self, title_part: str) -> None:
        """Wait until the result info names ``title_part`` (e.g. "seed 100")."""
        self.page.locator("#ganorama-info", has_text=title_part).wait_for(timeout=RESULT_TIMEOUT_MS)

    def viewer(self):
        return self.page.locator("#ganorama-viewer iframe")

    def viewer_pixels(self) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(self.viewer().screenshot())).convert("RGB")).astype(np.float64)

    def download(self, file_name: str) -> Path:
        with self.page.expect_download(timeout=30_000) as started:
            self.page.locator(f'#downloads a[download="{file_name}"]').click()
        target = self.downloads / f"{time.monotonic_ns()}-{file_name}"
        started.value.save_as(target)
        return target

    def body_text(self) -> str:
        return self.page.locator("body").inner_text()


@pytest.fixture()
def app_page(browser, ui_server, tmp_path):
    page = AppPage(browser, ui_server, tmp_path)
    try:
        yield page
    finally:
        page.close()


def wait_for_viewer_frame(page: AppPage, before: np.ndarray | None = None, timeout: float = 30.0) -> np.ndarray:
    """The viewer's pixels once it has drawn something with structure (and, given
    ``before``, something other than ``before``)."""
    deadline = time.monotonic() + timeout
    while True:
        pixels = page.viewer_pixels()
        drawn = pixels.std() > 2.0
        changed = before is None or np.abs(pixels - before).mean() > 1.0
        if drawn and changed:
            return pixels
        if time.monotonic() > deadline:
            raise AssertionError(f"the viewer did not draw (std {pixels.std():.2f}); "
                                 f"page text: {page.body_text()[:500]!r}")  # fmt: skip
        time.sleep(0.2)


def test_panorama_appears_in_the_360_viewer_and_dragging_turns_it(app_page, ui_server):
    app_page.fill_panorama(seed=CLI_SEEDS[0])
    app_page.generate()
    app_page.wait_for_result(f"seed {CLI_SEEDS[0]}")

    first = wait_for_viewer_frame(app_page)
    # It shows this panorama, not something else: the view's mean colour is the image's.
    panorama = np.asarray(Image.open(app_page.download(f"panorama_{CLI_SEEDS[0]}.png")).convert("RGB"), np.float64)
    lower_right = first[first.shape[0] // 2 :, first.shape[1] // 2 :]  # away from the help overlay
    assert np.abs(lower_right.mean(axis=(0, 1)) - panorama.mean(axis=(0, 1))).max() < 40

    box = app_page.viewer().bounding_box()
    centre_x, centre_y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.7
    mouse = app_page.page.mouse
    mouse.move(centre_x, centre_y)
    mouse.down()
    for step in range(1, 11):
        mouse.move(centre_x + 25 * step, centre_y, steps=2)
    mouse.up()
    wait_for_viewer_frame(app_page, before=first)

    # Globe mode: the sphere seen from outside, on the viewer's dark background.
    app_page.page.frame_locator("#ganorama-viewer iframe").locator("#globe-button").click()
    deadline = time.monotonic() + 30
    while True:
        globe = app_page.viewer_pixels()
        corner = globe[-20:-10, -20:-10].mean(axis=(0, 1))  # inside the frame's rounded corner
        if np.abs(corner - (18, 20, 26)).max() <= 3:
            break
        assert time.monotonic() < deadline, f"globe mode did not show the background; corner colour {corner}"
        time.sleep(0.2)
    assert "Traceback" not in ui_server.log()


def test_downloaded_png_equals_the_cli_output_for_the_same_seed(app_page, cli, tiny_checkpoint):
    seed = CLI_SEEDS[1]
    app_page.fill_panorama(seed=seed)
    app_page.generate()
    app_page.wait_for_result(f"seed {seed}")

    downloaded = app_page.download(f"panorama_{seed}.png")
    assert downloaded.read_bytes() == cli.png(seed).read_bytes()
    sidecar = json.loads(app_page.download(f"panorama_{seed}.json").read_text())
    cli_sidecar = json.loads(cli.png(seed).with_suffix(".json").read_text())
    assert sidecar["request"] == cli_sidecar["request"]
    assert sidecar["weights"] == cli_sidecar["weights"] == str(tiny_checkpoint)


def test_bad_class_shows_the_cli_one_line_error_in_the_page(app_page, ui_server, tmp_path, tiny_checkpoint):
    refused = run_cli("panorama", "--weights", str(tiny_checkpoint), "--class_names", "notaclass", "-o",
                      str(tmp_path / "x.png"), cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2
    cli_message = refused.stderr.strip().removeprefix("ganorama panorama: error: ")
    assert "notaclass" in cli_message and "\n" not in cli_message

    app_page.fill_panorama(seed=1, classes="notaclass")
    app_page.generate()
    error = app_page.page.locator("#ganorama-error .ganorama-error")
    error.wait_for(timeout=30_000)
    assert error.inner_text().strip() == cli_message
    assert app_page.viewer().count() == 0  # no result shown
    assert "Traceback" not in app_page.body_text() and "Traceback" not in ui_server.log()
    assert not (tmp_path / "x.png").exists()


def test_two_pages_generating_at_once_each_get_their_own_result(browser, ui_server, tmp_path, cli):
    requests = [(SLOW_SEED, SLOW_WIDTH), (CLI_SEEDS[0], WIDTH)]  # (seed, width) of each page
    pages = [AppPage(browser, ui_server, tmp_path) for _ in requests]
    try:
        for page, (seed, width) in zip(pages, requests):
            page.fill_panorama(seed=seed, width=width, height=width // 2)
        for page in pages:  # a script's click: both within milliseconds, even on a busy machine
            page.page.evaluate("() => document.querySelector('#generate-panorama').click()")
        overlapped = pages[0].viewer().count() == 0  # the first result had not arrived yet
        progress = watch_progress(pages, [f"seed {seed}" for seed, _ in requests])
        images = [page.download(f"panorama_{seed}.png").read_bytes() for page, (seed, _) in zip(pages, requests)]
    finally:
        for page in pages:
            page.close()
    assert overlapped, "the second page clicked after the first page's result came; make the first one larger"
    # The generator's progress callback reaches the pages as gradio's progress bar.
    assert any("generating" in text and "%" in text for text in progress), progress
    for image, (seed, width) in zip(images, requests):
        assert image == cli.png(seed, width).read_bytes()


def watch_progress(pages: list[AppPage], titles: list[str], timeout: float = 90.0) -> list[str]:
    """What gradio's progress indicators on ``pages`` say until each shows its result."""
    texts = []
    deadline = time.monotonic() + timeout
    while not all(page.page.locator("#ganorama-info", has_text=title).count() for page, title in zip(pages, titles)):
        assert time.monotonic() < deadline, f"not every page showed its result in {timeout} s"
        for page in pages:
            texts.append(page.page.evaluate(
                "() => Array.from(document.querySelectorAll('[data-testid=status-tracker]'))"
                ".map(element => element.innerText.replace(/\\s+/g, ' ')).join(' | ')"))  # fmt: skip
        time.sleep(0.05)
    return texts


def test_a_mix_typed_into_the_class_box_is_used_without_pressing_enter(app_page):
    box = app_page.page.locator("#classes input")
    box.fill("0.7*sandbar+0.3*valley")
    app_page.text_field("seed").fill("31")
    app_page.text_field("panorama_width").fill(str(WIDTH))
    app_page.text_field("panorama_height").fill(str(HEIGHT))
    app_page.generate()
    app_page.wait_for_result("seed 31")
    sidecar = json.loads(app_page.download("panorama_31.json").read_text())
    assert sidecar["request"]["classes"] == "0.7*sandbar+0.3*valley"
    assert sidecar["view_classes"][0] == {"977": pytest.approx(0.7), "979": pytest.approx(0.3)}


def test_search_mix_editor_and_dice_fill_the_form(app_page):
    page = app_page.page
    page.get_by_text("Find a class by meaning, mix classes").click()
    app_page.text_field("class-search").fill("beach")
    page.locator("#class-matches label", has_text="seashore").click()
    page.wait_for_function("() => document.querySelector('#classes input').value.includes('seashore')")

    for row, name in ((1, "sandbar"), (2, "valley")):
        mix_box = page.locator(f"#mix-class-{row} input")
        mix_box.fill(name)
        mix_box.press("Enter")
    page.locator("#mix-weight-1 input").fill("3")
    page.get_by_role("button", name="Use this mix as the classes").click()
    page.wait_for_function("() => document.querySelector('#classes input').value === '3*sandbar+1*valley'")

    app_page.text_field("seed").fill("")
    page.locator("#dice").click()
    page.wait_for_function("() => /^[0-9]+$/.test(document.querySelector('#seed textarea, #seed input').value)")


def test_history_strip_reopens_an_earlier_result_of_the_page(app_page):
    for seed in (21, 22):
        app_page.fill_panorama(seed=seed)
        app_page.generate()
        app_page.wait_for_result(f"seed {seed}")
    thumbnails = app_page.page.locator("#history button.thumbnail-item, #history .thumbnail-item")
    assert thumbnails.count() == 2
    thumbnails.nth(1).click()  # newest first: the second is seed 21
    app_page.wait_for_result("seed 21")
    assert "seed 21" in app_page.viewer().get_attribute("title")
    assert app_page.page.locator('#downloads a[download="panorama_21.png"]').count() == 1


def test_reproduce_fills_the_form_from_a_sidecar_and_makes_the_same_image(app_page, cli):
    seed = CLI_SEEDS[2]
    sidecar = cli.png(seed).with_suffix(".json")
    app_page.page.get_by_role("tab", name="Texture").click()
    with app_page.page.expect_file_chooser(timeout=30_000) as chooser:
        app_page.page.locator("#reproduce").click()
    chooser.value.set_files(str(sidecar))
    app_page.page.locator("#ganorama-info", has_text="from the sidecar").wait_for(timeout=30_000)
    assert app_page.text_field("seed").input_value() == str(seed)
    assert app_page.text_field("panorama_width").input_value() == str(WIDTH)
    assert app_page.page.locator("#generate-panorama").is_visible()  # the panorama tab is shown again

    app_page.generate()
    app_page.wait_for_result(f"seed {seed}")
    assert app_page.download(f"panorama_{seed}.png").read_bytes() == cli.png(seed).read_bytes()


def test_reproduce_refuses_a_file_that_is_not_a_sidecar(app_page, tmp_path):
    bogus = tmp_path / "notes.json"
    bogus.write_text(json.dumps({"request": {"kind": "panorama", "layout": "/etc/passwd.json"}}))
    with app_page.page.expect_file_chooser(timeout=30_000) as chooser:
        app_page.page.locator("#reproduce").click()
    chooser.value.set_files(str(bogus))
    error = app_page.page.locator("#ganorama-error .ganorama-error")
    error.wait_for(timeout=30_000)
    assert "reads no files on the server" in error.inner_text()


def test_texture_is_shown_tiled_3x3(app_page, tmp_path):
    app_page.page.get_by_role("tab", name="Texture").click()
    app_page.set_classes(CLASS)
    app_page.text_field("seed").fill("5")
    app_page.page.locator("#texture-size input").fill("64")
    app_page.generate("texture")
    app_page.wait_for_result("seed 5")
    texture = np.asarray(Image.open(app_page.download("texture_5.png")).convert("RGB"))
    tiled_url = app_page.page.locator("#result-tiled img").get_attribute("src")
    response = app_page.page.request.get(tiled_url)
    tiled = np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))
    assert tiled.shape == (3 * texture.shape[0], 3 * texture.shape[1], 3)
    assert np.array_equal(tiled, np.tile(texture, (3, 3, 1)))


def test_big_image_tab_makes_a_morph_and_hides_the_360_viewer(app_page):
    app_page.fill_panorama(seed=4)  # a panorama first: its viewer must go away
    app_page.generate()
    app_page.wait_for_result("seed 4")
    page = app_page.page
    page.get_by_role("tab", name="Big image").click()
    app_page.set_classes("orange|lemon")
    app_page.text_field("seed").fill("6")
    page.locator("#bigimg-cols input").fill("3")
    page.locator("#bigimg-morph input").check()
    app_page.generate("bigimg")
    app_page.wait_for_result("seed 6")
    assert not page.locator("#ganorama-viewer").is_visible()
    image = Image.open(app_page.download("bigimg_6.png"))
    assert image.size == (16 * (3 + 1), 32)  # 32 px tiles overlapping by half: (S/2)(cols+1) wide
    request = json.loads(app_page.download("bigimg_6.json").read_text())["request"]
    assert request["morph"] is True and request["classes"] == "orange|lemon" and request["batch_size"] == 3


def test_page_loads_nothing_from_other_hosts(app_page, ui_server):
    app_page.fill_panorama(seed=3)
    app_page.generate()
    app_page.wait_for_result("seed 3")
    wait_for_viewer_frame(app_page)
    own = ui_server.url.rstrip("/")
    elsewhere = [url for url in app_page.requests if not url.startswith((own, "data:", "blob:", "about:"))]
    assert elsewhere == []



def test_the_server_writes_only_into_its_temporary_folder_and_removes_it_when_stopped(browser, own_ui_server,
                                                                                      tmp_path):  # fmt: skip
    server = own_ui_server
    page = AppPage(browser, server, tmp_path)
    try:
        page.fill_panorama(seed=1)
        page.generate()
        page.wait_for_result("seed 1")
        page.download("panorama_1.png")
    finally:
        page.close()
    workspaces = list(server.tmp.iterdir())
    assert [folder.name[:12] for folder in workspaces] == ["ganorama-ui-"]
    assert list(workspaces[0].rglob("panorama_1.png"))  # the result lives there

    assert server.stop() == 0, server.log()
    assert "stopped" in server.log() and "Traceback" not in server.log()
    assert list(server.tmp.iterdir()) == []
    assert list(server.home.rglob("*")) == [] and list(server.cwd.rglob("*")) == []
