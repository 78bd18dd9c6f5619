"""``ganorama ui`` in a real headless Chromium against a real server (see conftest.py).

What a user does, checked against what the CLI makes: the panorama appears in the
project's WebGL viewer and turns when dragged; the downloaded PNG is byte for byte the
CLI's for the same seed and parameters (one result or several, -n); a bad value shows the
CLI's one line in the page; two pages generating at once each get their own result; the
history (the server's) reopens an earlier result, also after a reload, with whole
captions; "Reproduce" fills the form from a sidecar and refuses a bad file in one line
(and one log line); a texture is shown tiled; Animate makes the animate command's 360
MP4. At 1280x720 and 390x844, Generate is in the window as the page opens and a click
shows progress and then the result or the error in the window; Cancel stops a run.
Images come from a random-weight *test fixture*: they are compared, never looked at.
"""
from __future__ import annotations

import io
import json
import os
import re
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

    def __init__(self, browser, server, downloads: Path, viewport: dict = VIEWPORT):
        self.context = browser.new_context(viewport=viewport, accept_downloads=True)
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.server = server
        self.downloads = downloads
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(server.url)
        self.page.locator("#generate").wait_for(timeout=60_000)

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

    def generate(self) -> None:
        self.page.locator("#generate").click()

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
            page.page.evaluate("() => document.querySelector('#generate').click()")
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


def test_the_mix_hint_shows_as_typed_and_typing_it_is_used_without_pressing_enter(app_page):
    hint = app_page.page.locator("#classes-help code").first.inner_text()
    assert hint == "0.7*sandbar+0.3*valley"  # not eaten as emphasis
    app_page.page.locator("#classes input").fill(hint)
    app_page.text_field("seed").fill("31")
    app_page.text_field("panorama_width").fill(str(WIDTH))
    app_page.text_field("panorama_height").fill(str(HEIGHT))
    app_page.generate()
    app_page.wait_for_result("seed 31")
    sidecar = json.loads(app_page.download("panorama_31.json").read_text())
    assert sidecar["request"]["classes"] == "0.7*sandbar+0.3*valley"
    assert sidecar["view_classes"][0] == {"977": pytest.approx(0.7), "979": pytest.approx(0.3)}
    assert app_page.page.locator("#ganorama-info", has_text="0.7 sandbar + 0.3 valley, seed 31").count() == 1


def test_the_field_help_is_true_about_share_z_and_count(app_page):
    text = app_page.body_text()
    assert "the CLI option of the same name" not in text
    assert "unchecked is --no_share_z" in text and "count is -n" in text


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


def history_item(page: AppPage, title_part: str):
    """The history's thumbnails whose caption holds ``title_part`` (not followed by a
    digit: "seed 32" is not "seed 320")."""
    return page.page.locator("#history .thumbnail-item", has_text=re.compile(re.escape(title_part) + r"(?!\d)"))


def test_history_strip_reopens_an_earlier_result_also_after_a_reload(app_page):
    for seed in (21, 22):
        app_page.fill_panorama(seed=seed)
        app_page.generate()
        app_page.wait_for_result(f"seed {seed}")
    assert history_item(app_page, "seed 22").count() == 1 and history_item(app_page, "seed 21").count() == 1
    app_page.page.reload()  # the history is the server's: a new page finds it
    app_page.page.locator("#generate").wait_for(timeout=60_000)
    history_item(app_page, "seed 21").wait_for(timeout=30_000)
    history_item(app_page, "seed 21").click()
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
    assert app_page.page.locator("#panorama_width").is_visible()  # the panorama tab is shown again

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
    app_page.generate()
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
    app_page.generate()
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
    assert list(workspaces[0].rglob("hash_seed.txt"))  # gradio's first start wrote its seed there
    gradio_entries = sorted(path.name for path in (server.site / "gradio").iterdir())

    assert server.stop() == 0, server.log()
    assert "stopped" in server.log() and "Traceback" not in server.log()
    assert list(server.tmp.iterdir()) == []
    assert list(server.home.rglob("*")) == [] and list(server.cwd.rglob("*")) == []
    assert "hash_seed.txt" not in gradio_entries  # not beside gradio's code
    assert sorted(path.name for path in (server.site / "gradio").iterdir()) == gradio_entries


# --- where the eye is: the two window sizes of issue 20 -------------------------------------

WINDOWS = {"1280x720": {"width": 1280, "height": 720}, "390x844": {"width": 390, "height": 844}}
# The part of an element inside the window, in pixels of height (0: hidden or outside).
VISIBLE_HEIGHT = """(selector) => {
  const element = document.querySelector(selector);
  if (!element) { return 0; }
  const box = element.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) { return 0; }
  return Math.max(0, Math.min(box.bottom, window.innerHeight) - Math.max(box.top, 0));
}"""
# gradio's progress indicator on the line above the result, with its text.
PROGRESS = "#ganorama-info [data-testid=status-tracker]"


def visible_height(page: AppPage, selector: str) -> float:
    return page.page.evaluate(VISIBLE_HEIGHT, selector)


def fully_visible(page: AppPage, selector: str) -> bool:
    height = page.page.evaluate(f"() => document.querySelector({selector!r}).getBoundingClientRect().height")
    return height > 0 and abs(visible_height(page, selector) - height) < 1


def click_generate_from_where_the_page_opens(page: AppPage) -> None:
    """Generate must be in the window as the page opens (above the fold), and is clicked
    where it is: a click that had to scroll would not count."""
    assert page.page.evaluate("() => window.scrollY") == 0
    assert fully_visible(page, "#generate"), page.page.locator("#generate").bounding_box()
    page.page.locator("#generate").click(no_wait_after=True)


@pytest.mark.parametrize("window", WINDOWS)
def test_after_a_click_the_window_shows_progress_then_the_result_without_scrolling(browser, ui_server, tmp_path,
                                                                                   window):  # fmt: skip
    page = AppPage(browser, ui_server, tmp_path, viewport=WINDOWS[window])
    try:
        seed = 60 if window == "1280x720" else 70
        page.fill_panorama(seed=seed, width=SLOW_WIDTH, height=SLOW_WIDTH // 2)
        page.page.locator("#count input").fill("3")  # three results: seconds of progress to see
        page.page.evaluate("() => window.scrollTo(0, 0)")  # as the page opened
        click_generate_from_where_the_page_opens(page)
        progress_seen = []
        deadline = time.monotonic() + RESULT_TIMEOUT_MS / 1000
        while not page.page.locator("#ganorama-info", has_text="Result 3 of 3").count():
            assert time.monotonic() < deadline, "no result in time"
            if visible_height(page, PROGRESS) > 0:
                progress_seen.append(page.page.locator(PROGRESS).inner_text())
            time.sleep(0.05)
        assert any("generating" in text for text in progress_seen), progress_seen[-5:]
        assert fully_visible(page, "#ganorama-info")
        assert fully_visible(page, "#ganorama-viewer iframe")  # the panorama, whole in the window
        assert page.page.locator("#ganorama-info", has_text=f"seed {seed + 2}").count() == 1
    finally:
        page.close()


@pytest.mark.parametrize("window", WINDOWS)
def test_after_a_click_the_window_shows_the_error_without_scrolling(browser, ui_server, tmp_path, window):
    page = AppPage(browser, ui_server, tmp_path, viewport=WINDOWS[window])
    try:
        page.fill_panorama(seed=1, classes="notaclass")
        page.page.evaluate("() => window.scrollTo(0, 0)")
        click_generate_from_where_the_page_opens(page)
        page.page.locator("#ganorama-error .ganorama-error").wait_for(timeout=30_000)
        assert fully_visible(page, "#ganorama-error .ganorama-error"), (
            page.page.locator("#ganorama-error .ganorama-error").bounding_box(), page.page.evaluate("() => window.scrollY"),
            page.page.locator("#ganorama-result").bounding_box())
    finally:
        page.close()


def test_cancel_stops_the_run_and_keeps_only_what_was_made_before(app_page, ui_server):
    """12 results of a coral reef; Cancel once the first is in the history: the run stops
    within a step, the page says so, nothing more is made afterwards and the app takes
    the next click."""
    app_page.fill_panorama(seed=300, width=SLOW_WIDTH // 2, height=SLOW_WIDTH // 4, classes="coral reef")
    app_page.page.locator("#count input").fill("12")
    app_page.generate()
    history_item(app_page, "coral reef, seed 300").wait_for(timeout=RESULT_TIMEOUT_MS)
    app_page.page.locator("#cancel").click()
    app_page.page.locator("#ganorama-info", has_text="Cancelled").wait_for(timeout=30_000)
    made = app_page.page.locator("#history .thumbnail-item", has_text="coral reef").count()
    assert 1 <= made < 12
    time.sleep(2)
    app_page.page.reload()
    app_page.page.locator("#generate").wait_for(timeout=60_000)
    app_page.page.locator("#history .thumbnail-item").first.wait_for(timeout=30_000)
    assert app_page.page.locator("#history .thumbnail-item", has_text="coral reef").count() == made  # stopped
    app_page.fill_panorama(seed=400)
    app_page.generate()
    app_page.wait_for_result("seed 400")
    assert "Traceback" not in ui_server.log()


def test_several_results_are_the_clis_n_results(app_page, cli):
    app_page.fill_panorama(seed=CLI_SEEDS[0])
    app_page.page.locator("#count input").fill(str(len(CLI_SEEDS)))
    app_page.generate()
    app_page.page.locator("#ganorama-info", has_text=f"Result 3 of 3: sandbar, seed {CLI_SEEDS[2]}").wait_for(
        state="attached", timeout=RESULT_TIMEOUT_MS)
    assert app_page.download(f"panorama_{CLI_SEEDS[2]}.png").read_bytes() == cli.png(CLI_SEEDS[2]).read_bytes()
    for seed in CLI_SEEDS:
        assert history_item(app_page, f"sandbar, seed {seed}").count() >= 1


def test_history_captions_are_whole_and_name_every_class_of_a_mix(app_page):
    app_page.fill_panorama(seed=32, classes="0.7*sandbar+0.3*valley")
    app_page.generate()
    app_page.wait_for_result("seed 32")
    item = history_item(app_page, "seed 32")
    assert "0.7 sandbar + 0.3 valley, seed 32" in item.inner_text()
    clipped = item.evaluate("""(item) => Array.from(item.querySelectorAll('*')).concat([item])
        .filter(element => element.textContent.includes('seed 32'))
        .filter(element => element.scrollWidth > element.clientWidth + 1 || element.scrollHeight > element.clientHeight + 1)
        .map(element => element.outerHTML.slice(0, 120))""")
    assert clipped == []


def test_the_animate_tab_makes_a_360_video_and_shows_it(app_page, tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="360 videos need imageio-ffmpeg")
    page = app_page.page
    page.get_by_role("tab", name="Animate").click()
    app_page.set_classes("valley|sandbar")
    app_page.text_field("seed").fill("3")
    for name, value in (("frames", "4"), ("fps", "4"), ("panorama_width", "64"), ("panorama_height", "32")):
        app_page.text_field(f"animate-{name}").fill(value)
    app_page.generate()
    app_page.wait_for_result("4 frames")
    assert app_page.page.locator("#ganorama-info", has_text="valley -> sandbar -> valley").count() == 1
    source = page.locator("#result-video video").get_attribute("src")
    assert source and source.startswith(app_page.server.url.rstrip("/"))
    video = app_page.download("animation_3.mp4")
    assert imageio_ffmpeg.count_frames_and_secs(str(video))[0] == 4
    assert b"sv3d" in video.read_bytes() and b"GSpherical" in video.read_bytes()
    sidecar = json.loads(app_page.download("animation_3.json").read_text())
    assert sidecar["walk"]["frames"] == 4 and sidecar["walk"]["loop"] is True
    assert not page.locator("#ganorama-viewer").is_visible()


# --- issue 18, family 6: refused uploads, nothing written outside the temporary folder --------

REFUSED_UPLOADS = {
    "notes.txt": (b"hello, not a sidecar", "not valid JSON"),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    "wrong-types.json": (json.dumps({"request": {"kind": 3}}).encode(), "kind"),
    "layout-file.json": (json.dumps({"request": {"kind": "panorama", "layout": "/etc/passwd.json"}}).encode(),
                         "reads no files on the server"),
    "huge.json": (b'{"request": {}, "pad": "' + b" " * (5 * 2**20) + b'"}', "4 MiB"),
}


def test_reproduce_with_a_file_the_server_refuses_shows_one_line_and_logs_one_line(app_page, ui_server, tmp_path):
    error = app_page.page.locator("#ganorama-error .ganorama-error")
    for name, (content, fragment) in REFUSED_UPLOADS.items():
        upload = tmp_path / name
        upload.write_bytes(content)
        logged_before = ui_server.log().count("refused an upload")
        with app_page.page.expect_file_chooser(timeout=30_000) as chooser:
            app_page.page.locator("#reproduce").click()
        chooser.value.set_files(str(upload))
        app_page.page.locator("#ganorama-error .ganorama-error", has_text=fragment).wait_for(timeout=30_000)
        assert "\n" not in error.inner_text().strip(), name
        deadline = time.monotonic() + 10
        while ui_server.log().count("refused an upload") == logged_before and time.monotonic() < deadline:
            time.sleep(0.1)
        log = ui_server.log()
        assert log.count("refused an upload") == logged_before + 1, (name, log[-2000:])
        assert "Traceback" not in log, log[-3000:]


def join_event(server, elem_id: str, data: list, session: str) -> list[dict]:
    """Send the event of the component ``elem_id`` with ``data`` as any HTTP client can
    (gradio's queue API on loopback) and return the server's messages up to its answer."""
    import urllib.request

    config = json.loads(urllib.request.urlopen(server.url + "config", timeout=30).read())
    ids = {component["id"] for component in config["components"]
           if component.get("props", {}).get("elem_id") == elem_id}  # fmt: skip
    fn_index = next(index for index, dependency in enumerate(config["dependencies"])
                    if any(target[0] in ids for target in dependency["targets"]))  # fmt: skip
    body = json.dumps({"data": data, "fn_index": config["dependencies"][fn_index]["id"], "session_hash": session,
                       "event_data": None, "trigger_id": None}).encode()  # fmt: skip
    join = urllib.request.Request(server.url + "gradio_api/queue/join", data=body,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
    urllib.request.urlopen(join, timeout=30).read()
    messages = []
    with urllib.request.urlopen(f"{server.url}gradio_api/queue/data?session_hash={session}", timeout=60) as stream:
        for line in stream:
            if line.startswith(b"data:"):
                messages.append(json.loads(line[5:]))
                if messages[-1].get("msg") == "process_completed":
                    return messages
    return messages


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ("\x00binary, not JSON", "not valid JSON"),
        ("x" * (4 * 2**20 + 1), "larger than 4 MiB"),
        ("[" * 100_000, "not valid JSON"),
        (json.dumps({"request": {"kind": "panorama", "truncation": "high"}}), "truncation"),
    ],
    ids=["not-json", "too-large", "deep", "wrong-type"],
)  # fmt: skip
def test_a_refused_reproduce_over_http_answers_one_line_and_logs_one_line(ui_server, payload, fragment):
    """What any HTTP client can send as the sidecar's text (the page sends text, never a
    file: gradio's own refusal of a file, a traceback and no word, cannot happen)."""
    logged_before = ui_server.log().count("refused an upload")
    messages = join_event(ui_server, "sidecar-text", [payload], session=f"http-{time.monotonic_ns()}")
    answer = messages[-1]
    assert answer["msg"] == "process_completed" and answer["success"] is True, answer
    shown = json.dumps(answer["output"])
    assert "ganorama-error" in shown and fragment in shown
    deadline = time.monotonic() + 10
    while ui_server.log().count("refused an upload") == logged_before and time.monotonic() < deadline:
        time.sleep(0.1)
    log = ui_server.log()
    assert log.count("refused an upload") == logged_before + 1 and "Traceback" not in log, log[-3000:]


def test_a_file_reference_to_a_server_path_is_refused_with_one_log_line(ui_server):
    """A hand-made request naming a file outside gradio's cache: gradio refuses it before
    our code runs (and printed its whole traceback); the log gets one line."""
    before = ui_server.log()
    payload = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}, "orig_name": "passwd"}
    messages = join_event(ui_server, "sidecar-text", [payload], session=f"file-{time.monotonic_ns()}")
    assert messages[-1]["msg"] == "process_completed" and messages[-1]["success"] is False, messages[-1]
    deadline = time.monotonic() + 10
    while "refused a request" not in ui_server.log()[len(before):] and time.monotonic() < deadline:
        time.sleep(0.1)
    new = ui_server.log()[len(before):]
    assert new.count("refused a request") == 1 and "Traceback" not in new, new[-3000:]
    assert "root:" not in json.dumps(messages)
