"""The offline 360° viewer: the page itself, and what a real headless Chromium shows.

The browser tests drive Debian's ``chromium`` through the Chrome DevTools Protocol with a
minimal standard-library websocket client (below), and check the rendered pixels against
the project's own geometry (``ganorama.geometry``): a blank, broken, mirrored or flipped
rendering fails.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from browsers import CHROMIUM_FLAGS, find_chromium
import torch
from PIL import Image

from ganorama import geometry
from ganorama.errors import UsageError
from ganorama.export.viewer import (
    default_viewer_path,
    read_panorama_for_viewer,
    render_viewer_html,
    save_viewer,
)

# --------------------------------------------------------------------------------------
# A synthetic panorama with strong structure: 8 longitude sectors of 45° centred on
# multiples of 45° (sector 0 holds the centre column, sector 4 straddles the seam) times
# 3 latitude bands (north of 22.5°, equator, south of -22.5°); every cell has its own colour.
# --------------------------------------------------------------------------------------
SECTOR = math.radians(45)
BAND_EDGE = math.radians(22.5)
PANO_HEIGHT = 512


def pattern_colour(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(...), (...) radians -> (..., 3) uint8 colours of the synthetic panorama."""
    sector = np.mod(np.round(np.asarray(lon) / SECTOR), 8).astype(int)
    band = np.where(lat > BAND_EDGE, 0, np.where(lat < -BAND_EDGE, 2, 1))
    red = 20 + 30 * sector
    green = 40 + 80 * band
    blue = 40 + (sector * 57 + band * 91) % 180
    return np.stack((red, green, blue), axis=-1).astype(np.uint8)


def pattern_panorama(height: int = PANO_HEIGHT) -> Image.Image:
    lon, lat = geometry.equirect_lonlat(height, 2 * height, dtype=torch.float64)
    return Image.fromarray(pattern_colour(lon.numpy(), lat.numpy()))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture()
def pano_png(tmp_path) -> Path:
    path = tmp_path / "pano.png"
    pattern_panorama(64).save(path)
    return path


# --------------------------------------------------------------------------------------
# The page, without a browser
# --------------------------------------------------------------------------------------
def test_page_inlines_the_image_and_references_nothing_else():
    data = png_bytes(pattern_panorama(32))
    page = render_viewer_html(data, "image/png", "My pano")
    assert f'src="data:image/png;base64,{base64.b64encode(data).decode()}"' in page
    assert "{{" not in page and "}}" not in page
    assert "<title>My pano</title>" in page
    # Every src/href is a data: URI; no URL of any kind appears anywhere (not even a comment).
    for value in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", page, flags=re.I):
        assert value.startswith("data:"), value
    assert not re.search(r"https?:|ftp:|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", page, flags=re.I)
    assert "<script src" not in page.lower()
    # The CSP that keeps it offline even if some future edit slipped a URL in.
    assert "default-src 'none'" in page


def test_page_escapes_the_title_and_keeps_placeholders_in_it_literal():
    page = render_viewer_html(b"\x89PNG fake", "image/png", '<script>alert(1)</script> {{IMAGE_DATA_URI}}')
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{IMAGE_DATA_URI}}" in page
    assert page.count("data:image/png;base64,") == 1


def test_page_accepts_jpeg_and_refuses_other_types():
    assert "data:image/jpeg;base64," in render_viewer_html(b"\xff\xd8\xff", "image/jpeg", "j")
    with pytest.raises(UsageError, match="image/gif"):
        render_viewer_html(b"GIF89a", "image/gif", "g")
    with pytest.raises(UsageError, match="empty"):
        render_viewer_html(b"", "image/png", "e")


def test_save_viewer_writes_beside_the_panorama_by_default(pano_png):
    written = save_viewer(pano_png)
    assert written == default_viewer_path(pano_png) == pano_png.with_suffix(".html")
    page = written.read_text(encoding="utf-8")
    assert base64.b64encode(pano_png.read_bytes()).decode() in page
    assert "<title>pano</title>" in page


def test_save_viewer_never_overwrites(pano_png, tmp_path):
    out = tmp_path / "view.html"
    out.write_text("precious")
    with pytest.raises(UsageError, match="already exists"):
        save_viewer(pano_png, out)
    assert out.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pano.png", "view.html"]  # no temp files left


def test_save_viewer_accepts_jpeg(tmp_path):
    path = tmp_path / "pano.jpg"
    pattern_panorama(32).save(path, quality=90)
    data, mime = read_panorama_for_viewer(path)
    assert mime == "image/jpeg" and data == path.read_bytes()
    assert "data:image/jpeg;base64," in save_viewer(path, tmp_path / "out.html").read_text()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.mkdir(), "is not a file"),
        (lambda p: p.write_text("not an image"), "not a readable PNG or JPEG"),
        (lambda p: Image.new("RGB", (100, 60)).save(p, format="PNG"), "100x60"),
        (lambda p: Image.new("RGB", (64, 64)).save(p, format="PNG"), "2:1"),
        (lambda p: Image.new("RGB", (64, 32)).save(p, format="GIF"), "GIF"),
        (lambda p: p.write_bytes(png_bytes(pattern_panorama(32))[:60]), "not a readable"),
    ],
    ids=["missing", "directory", "text", "not-2to1", "square", "gif", "truncated"],
)
def test_save_viewer_refuses_bad_input_with_one_line(tmp_path, make, message):
    source = tmp_path / "in.png"
    make(source)
    with pytest.raises(UsageError, match=message) as caught:
        save_viewer(source, tmp_path / "out.html")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.html").exists()


def test_messages_name_the_file_not_an_in_memory_buffer(tmp_path):
    """Pillow names what it reads; the viewer reads the bytes from memory, and Pillow's
    ``<_io.BytesIO object at 0x...>`` must not reach the user."""
    source = tmp_path / "in.png"
    source.write_text("not an image")
    with pytest.raises(UsageError) as caught:
        save_viewer(source, tmp_path / "out.html")
    message = str(caught.value)
    assert message.startswith(f"{source} is not a readable PNG or JPEG image (")
    assert "object at 0x" not in message and "BytesIO" not in message
    assert "cannot identify image file image" in message


@pytest.mark.parametrize(
    "output, message",
    [
        ("view.png", r"must end in \.html or \.htm"),
        ("/proc/view.html", "cannot create files in /proc"),
        ("/dev/null/view.html", "/dev/null is not a directory"),
        ("v" * 240 + ".html", "bytes long"),
    ],
)
def test_save_viewer_checks_the_output_before_reading(tmp_path, output, message):
    with pytest.raises(UsageError, match=message):
        save_viewer(tmp_path / "missing.png", tmp_path / output)  # the missing input is never reached
    assert list(tmp_path.iterdir()) == []


def test_save_viewer_refuses_images_too_large_for_a_browser(tmp_path, monkeypatch):
    source = tmp_path / "in.png"
    Image.new("RGB", (200, 100)).save(source)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow errors at twice this
    with pytest.raises(UsageError, match="too large"):
        save_viewer(source, tmp_path / "out.html")


# --------------------------------------------------------------------------------------
# A minimal Chrome DevTools Protocol client (RFC 6455 websocket, client side only)
# --------------------------------------------------------------------------------------
CALL_TIMEOUT = 30.0  # seconds for any single protocol call
WAIT_TIMEOUT = 30.0  # seconds for the page to reach a state


class DevTools:
    """One websocket connection to a DevTools target; ``call`` sends a command and returns
    its result, keeping every event that arrives meanwhile in ``events``."""

    def __init__(self, ws_url: str):
        url = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=CALL_TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the connection during the websocket handshake")
            response += chunk
        head, self._buffer = response.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")
        self.events: list[dict] = []
        self._next_id = 0

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self.sock.recv(max(65536, count - len(self._buffer)))
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])  # FIN + opcode
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])  # clients must mask
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _receive(self) -> dict:
        message = b""
        while True:
            first, second = self._read(2)
            opcode, length = first & 0x0F, second & 0x7F
            if length == 126:
                (length,) = struct.unpack(">H", self._read(2))
            elif length == 127:
                (length,) = struct.unpack(">Q", self._read(8))
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode == 0x9:
                self._send_frame(0xA, payload)  # answer a ping
                continue
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if first & 0x80:  # FIN: the message is complete
                    return json.loads(message)

    def call(self, method: str, **params):
        self._next_id += 1
        ident = self._next_id
        self._send_frame(0x1, json.dumps({"id": ident, "method": method, "params": params}).encode())
        deadline = time.monotonic() + CALL_TIMEOUT
        while time.monotonic() < deadline:
            message = self._receive()
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"{method} got no answer in {CALL_TIMEOUT} s")

    def close(self) -> None:
        try:
            self._send_frame(0x8, b"")
        except OSError:
            pass
        self.sock.close()


class Browser:
    """A headless Chromium with DevTools on a free port; ``close`` kills it and its children."""

    def __init__(self, executable: str, profile: Path):
        self.log = open(profile.parent / f"{profile.name}-chromium.log", "w+b")
        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so that close() reaches every child
        )
        try:
            # Chromium writes the port it picked into the profile: no race for a free port.
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + WAIT_TIMEOUT
            while not (port_file.exists() and port_file.read_text().strip()):
                if self.process.poll() is not None:
                    raise RuntimeError(f"chromium exited with {self.process.returncode}: {self._log_tail()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chromium did not open DevTools in {WAIT_TIMEOUT} s: {self._log_tail()}")
                time.sleep(0.05)
            self.port = int(port_file.read_text().split()[0])
        except BaseException:
            self.close()
            raise

    def _log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def _http(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT) as response:
            return json.loads(response.read() or b"null")

    def new_page(self) -> tuple[DevTools, str]:
        target = self._http("/json/new?about:blank", method="PUT")
        return DevTools(target["webSocketDebuggerUrl"]), target["id"]

    def close_page(self, page: DevTools, target_id: str) -> None:
        page.close()
        try:
            self._http(f"/json/close/{target_id}")
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        # Children may outlive the main process: the group is ours, end all of it.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = find_chromium()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); the viewer's browser tests need it")
    instance = Browser(executable, tmp_path_factory.mktemp("chromium") / "profile")
    try:
        yield instance
    finally:
        instance.close()


TEST_FLAG = "#ganorama-test"  # opens the page with its test hook, window.ganoramaViewer


@pytest.fixture(scope="module")
def viewer_page_url(tmp_path_factory) -> str:
    """The viewer for the 1024 x 512 synthetic panorama, as a file:// URL."""
    folder = tmp_path_factory.mktemp("viewer")
    pano = folder / "pattern.png"
    pattern_panorama().save(pano)
    return save_viewer(pano, folder / "pattern.html").resolve().as_uri()


@pytest.fixture(scope="module")
def viewer_url(viewer_page_url) -> str:
    """The same page with the test hook switched on."""
    return viewer_page_url + TEST_FLAG


WIDTH, HEIGHT = 800, 600


class Page:
    """A browser tab showing one page, with the checks the tests share."""

    def __init__(self, devtools: DevTools):
        self.devtools = devtools
        for domain in ("Page", "Runtime", "Network", "Log"):
            devtools.call(f"{domain}.enable")
        devtools.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)

    def evaluate(self, expression: str):
        result = self.devtools.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str):
        deadline = time.monotonic() + WAIT_TIMEOUT
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        text = self.evaluate("document.body ? document.body.innerText : ''")
        raise AssertionError(f"timed out waiting for {what}; page text: {text!r}; errors: {self.errors()}")

    def open(self, url: str) -> dict:
        self.devtools.call("Page.navigate", url=url)
        self.wait_for(
            "!!(window.ganoramaViewer && (window.ganoramaViewer.state.ready || window.ganoramaViewer.state.error))",
            "the viewer to draw or report an error",
        )
        return self.state()

    def state(self) -> dict:
        return self.evaluate("JSON.parse(JSON.stringify(window.ganoramaViewer.state))")

    def after_frame(self, action) -> dict:
        """Run ``action()`` and wait until the viewer has drawn a new frame."""
        frames = self.state()["frames"]
        action()
        self.wait_for(f"window.ganoramaViewer.state.frames > {frames}", "a new frame")
        return self.state()

    def screenshot(self) -> np.ndarray:
        data = self.devtools.call("Page.captureScreenshot", format="png")["data"]
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
        assert image.shape == (HEIGHT, WIDTH, 3), image.shape
        return image

    def drag(self, start: tuple[int, int], end: tuple[int, int], steps: int = 10) -> None:
        (x0, y0), (x1, y1) = start, end
        mouse = self.devtools.call
        mouse("Input.dispatchMouseEvent", type="mouseMoved", x=x0, y=y0)
        mouse("Input.dispatchMouseEvent", type="mousePressed", x=x0, y=y0, button="left", buttons=1, clickCount=1)
        for step in range(1, steps + 1):
            x, y = x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps
            mouse("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1)
        mouse("Input.dispatchMouseEvent", type="mouseReleased", x=x1, y=y1, button="left", buttons=0, clickCount=1)

    def click(self, selector: str) -> None:
        box = self.evaluate(f"JSON.parse(JSON.stringify(document.querySelector({json.dumps(selector)}).getBoundingClientRect()))")
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.devtools.call("Input.dispatchMouseEvent", type="mousePressed", x=x, y=y, button="left", buttons=1, clickCount=1)
        self.devtools.call("Input.dispatchMouseEvent", type="mouseReleased", x=x, y=y, button="left", buttons=0, clickCount=1)

    def press(self, key: str, code: str, key_code: int) -> None:
        text = key if len(key) == 1 else ""
        for kind in ("keyDown", "keyUp"):
            self.devtools.call(
                "Input.dispatchKeyEvent", type=kind, key=key, code=code, text=text if kind == "keyDown" else "",
                windowsVirtualKeyCode=key_code, nativeVirtualKeyCode=key_code,
            )

    def overlay_box(self) -> tuple[float, float, float, float]:
        box = self.evaluate("JSON.parse(JSON.stringify(document.getElementById('overlay').getBoundingClientRect()))")
        return box["left"], box["top"], box["right"], box["bottom"]

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.devtools.events if e["method"] == "Network.requestWillBeSent"]

    def errors(self) -> list:
        found = []
        for event in self.devtools.events:
            if event["method"] == "Runtime.exceptionThrown":
                found.append(event["params"]["exceptionDetails"])
            elif event["method"] == "Log.entryAdded" and event["params"]["entry"]["level"] == "error":
                found.append(event["params"]["entry"])
            elif event["method"] == "Runtime.consoleAPICalled" and event["params"]["type"] in ("error", "assert"):
                found.append(event["params"])
        return found


@pytest.fixture()
def page(browser):
    devtools, target = browser.new_page()
    try:
        yield Page(devtools)
    finally:
        browser.close_page(devtools, target)


# --------------------------------------------------------------------------------------
# What the viewer should show, computed with the project's geometry
# --------------------------------------------------------------------------------------
GLOBE_FOV = math.radians(40)  # the viewer's fixed camera field of view in globe mode
GLOBE_BACKGROUND = np.array([0.07, 0.08, 0.10]) * 255


def expected_rendering(state: dict, xs: np.ndarray, ys: np.ndarray):
    """For screen pixels (xs, ys): world directions (N, 3) seen there, a brightness factor
    (N,) and whether the pixel shows the panorama at all (N,) (False: globe background)."""
    globe = state["globe"]
    tan_y = math.tan((GLOBE_FOV if globe else state["fov"]) / 2)
    tan_x = tan_y * WIDTH / HEIGHT
    ndc_x = 2 * (xs + 0.5) / WIDTH - 1
    ndc_y = 1 - 2 * (ys + 0.5) / HEIGHT
    ray = np.stack((ndc_x * tan_x, -ndc_y * tan_y, np.ones_like(ndc_x)), axis=-1)  # x right, y down
    shade = np.ones(len(xs))
    shown = np.ones(len(xs), dtype=bool)
    if globe:
        # Unit sphere at the origin, camera at (0, 0, -distance); the point facing the camera
        # shows the view direction, east to its right and north above it (not mirrored).
        ray = ray / np.linalg.norm(ray, axis=-1, keepdims=True)
        origin = np.array([0.0, 0.0, -state["distance"]])
        b = ray @ origin
        disc = b * b - (origin @ origin - 1)
        shown = disc >= 0
        hit = origin + (-b - np.sqrt(np.maximum(disc, 0)))[:, None] * ray
        shade = 0.5 + 0.5 * -(hit * ray).sum(-1)
        ray = hit * np.array([1.0, 1.0, -1.0])
    rotation = geometry.view_rotation(
        torch.tensor(state["yaw"], dtype=torch.float64),
        torch.tensor(state["pitch"], dtype=torch.float64),
        torch.tensor(0.0, dtype=torch.float64),
    ).numpy()
    return ray @ rotation.T, shade, shown


def check_rendering(shot: np.ndarray, state: dict, exclude=None, tolerance: int = 14) -> int:
    """Assert that ``shot`` shows the synthetic panorama as the project's conventions say it
    should for ``state``, on a grid of pixels away from colour edges; returns how many
    pixels were checked. ``exclude`` is a (left, top, right, bottom) box to skip."""
    xs, ys = np.meshgrid(np.linspace(10, WIDTH - 11, 31), np.linspace(10, HEIGHT - 11, 23))
    xs, ys = xs.ravel().round(), ys.ravel().round()
    if exclude is not None:
        left, top, right, bottom = exclude
        keep = ~((xs >= left - 4) & (xs <= right + 4) & (ys >= top - 4) & (ys <= bottom + 4))
        xs, ys = xs[keep], ys[keep]
    direction, shade, shown = expected_rendering(state, xs, ys)
    lon, lat = (t.numpy() for t in geometry.direction_to_lonlat(torch.from_numpy(direction)))
    # Only pixels whose colour cell is the same 3° around them: no edge, no filtering blur.
    margin = math.radians(3)
    colour = pattern_colour(lon, lat)
    uniform = np.abs(lat) < math.radians(80)
    for dlon in (-margin, 0, margin):
        for dlat in (-margin, 0, margin):
            uniform &= (pattern_colour(lon + dlon, lat + dlat) == colour).all(-1)
    expected = np.where(shown[:, None], colour * shade[:, None], GLOBE_BACKGROUND)
    check = uniform | ~shown
    rendered = shot[ys.astype(int), xs.astype(int)].astype(float)
    error = np.abs(rendered - expected).max(-1)
    bad = check & (error > tolerance)
    assert check.sum() >= 40, f"only {check.sum()} pixels could be checked"
    assert not bad.any(), (
        f"{bad.sum()} of {check.sum()} pixels differ from the panorama seen with {state}; e.g. at "
        f"{list(zip(xs[bad][:3], ys[bad][:3]))}: rendered {rendered[bad][:3].tolist()}, expected {expected[bad][:3].tolist()}"
    )
    return int(check.sum())


def distinct_colours(shot: np.ndarray) -> int:
    return len(np.unique((shot // 8).reshape(-1, 3), axis=0))


def changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a.astype(int) - b.astype(int)).max(-1) > 24).mean())


def test_rendering_check_rejects_blank_mirrored_and_flipped_screens():
    """The browser tests' pixel check has teeth: a page that is blank, mirrored or upside
    down fails it (shown on a synthetic 'perfect' rendering computed in Python)."""
    state = {"yaw": 0.3, "pitch": 0.2, "fov": math.radians(90), "globe": False, "distance": 3.2}
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    direction, _, _ = expected_rendering(state, xs.ravel().astype(float), ys.ravel().astype(float))
    lon, lat = (t.numpy() for t in geometry.direction_to_lonlat(torch.from_numpy(direction)))
    perfect = pattern_colour(lon, lat).reshape(HEIGHT, WIDTH, 3)
    assert check_rendering(perfect, state) >= 40
    for broken in (np.full_like(perfect, 255), np.zeros_like(perfect), perfect[:, ::-1], perfect[::-1]):
        with pytest.raises(AssertionError):
            check_rendering(np.ascontiguousarray(broken), state)


# --------------------------------------------------------------------------------------
# The browser tests
# --------------------------------------------------------------------------------------
@pytest.mark.browser
def test_browser_shows_the_panorama_follows_drags_and_globe_offline(page, viewer_url):
    state = page.open(viewer_url)
    assert state["error"] is None, state["error"]
    assert (state["textureWidth"], state["textureHeight"]) == (1024, 512)
    overlay = page.overlay_box()

    # The first view: not blank, looking at the centre column with the top row up.
    first = page.screenshot()
    assert distinct_colours(first) >= 6, "the page looks blank"
    assert (state["yaw"], state["pitch"]) == (0, 0)
    centre = first[HEIGHT // 2 - 2 : HEIGHT // 2 + 3, WIDTH // 2 - 2 : WIDTH // 2 + 3].reshape(-1, 3)
    assert np.abs(centre.astype(int) - pattern_colour(np.array(0.0), np.array(0.0))).max() <= 8, centre[0]
    check_rendering(first, state, overlay)

    # Drag right by 200 px: the picture follows the pointer, so the view turns left (west).
    state = page.after_frame(lambda: page.drag((400, 300), (600, 300)))
    dragged = page.screenshot()
    assert changed_fraction(first, dragged) > 0.2
    assert math.degrees(state["yaw"]) == pytest.approx(-30, abs=1)  # 200 px of a 90° / 600 px view
    assert state["pitch"] == pytest.approx(0, abs=1e-9)
    # What was under the pointer is still under it: the centre column's colour is now at x = 600.
    assert np.abs(dragged[300, 600].astype(int) - pattern_colour(np.array(0.0), np.array(0.0))).max() <= 8
    check_rendering(dragged, state, overlay)

    # Drag down: the picture moves down, the view looks up.
    state = page.after_frame(lambda: page.drag((400, 300), (400, 400)))
    assert math.degrees(state["pitch"]) == pytest.approx(15, abs=1)
    check_rendering(page.screenshot(), state, overlay)

    # Globe mode with the key G: a sphere from outside, background around it.
    state = page.after_frame(lambda: page.press("g", "KeyG", 71))
    assert state["globe"] is True
    globe = page.screenshot()
    assert changed_fraction(dragged, globe) > 0.2
    check_rendering(globe, state, overlay)
    assert np.abs(globe[5, WIDTH - 6].astype(int) - GLOBE_BACKGROUND).max() <= 3  # a corner: no sphere there
    # Dragging turns the globe the same way: its surface follows the pointer.
    state = page.after_frame(lambda: page.drag((400, 300), (450, 300)))
    assert state["yaw"] < math.radians(-30 - 5)
    check_rendering(page.screenshot(), state, overlay)

    # The button switches back to the panorama.
    state = page.after_frame(lambda: page.click("#globe-button"))
    assert state["globe"] is False
    check_rendering(page.screenshot(), state, overlay)

    # Offline: the page itself (file:) and its image (data:) were the only requests.
    urls = page.requested_urls()
    assert urls and urls[0] == viewer_url.split("#")[0]  # the fragment is not part of the request
    assert all(url.startswith(("file:", "data:")) for url in urls), urls
    assert page.errors() == []


@pytest.mark.browser
def test_browser_keys_zoom_and_seam(page, viewer_url):
    state = page.open(viewer_url)
    page.drag((400, 300), (400, 300), steps=1)  # a click, so that the page has keyboard focus
    state = page.after_frame(lambda: page.press("d", "KeyD", 68))
    assert state["yaw"] > 0  # D turns right, toward the east
    state = page.after_frame(lambda: page.press("ArrowUp", "ArrowUp", 38))
    assert state["pitch"] > 0
    fov = state["fov"]
    state = page.after_frame(lambda: page.devtools.call(
        "Input.dispatchMouseEvent", type="mouseWheel", x=400, y=300, deltaX=0, deltaY=-240))
    assert state["fov"] < fov  # wheel up zooms in
    check_rendering(page.screenshot(), state, page.overlay_box())

    # Look straight back at the seam (lon = ±180°, inside sector 4): no line where the
    # last column meets the first.
    state = page.after_frame(lambda: page.evaluate(
        "Object.assign(window.ganoramaViewer.state, {yaw: Math.PI, pitch: 0}); window.ganoramaViewer.render()"))
    shot = page.screenshot()
    check_rendering(shot, state, page.overlay_box())
    strip = shot[HEIGHT // 2 - 60 : HEIGHT // 2 + 60, WIDTH // 2 - 3 : WIDTH // 2 + 3].reshape(-1, 3).astype(int)
    assert np.abs(strip - pattern_colour(np.array(math.pi), np.array(0.0))).max() <= 8
    assert page.errors() == []


def cap_webgl(page, texture_size: int | None = None, texture_units: int | None = None) -> None:
    """Make the page's WebGL report a smaller MAX_TEXTURE_SIZE and/or fewer texture units,
    as a phone's GPU does (4096 is common)."""
    page.devtools.call("Page.addScriptToEvaluateOnNewDocument", source=f"""
        (function () {{
          var original = WebGLRenderingContext.prototype.getParameter;
          WebGLRenderingContext.prototype.getParameter = function (name) {{
            if (name === this.MAX_TEXTURE_SIZE && {texture_size or 0}) return {texture_size or 0};
            if (name === this.MAX_TEXTURE_IMAGE_UNITS && {texture_units or 0}) return {texture_units or 0};
            return original.call(this, name);
          }};
        }})();""")


@pytest.mark.browser
def test_browser_tiles_images_larger_than_the_texture_limit_at_full_resolution(page, viewer_url):
    # MAX_TEXTURE_SIZE 256: the 1024 x 512 image is held in 5 x 3 tiles, none downscaled.
    cap_webgl(page, texture_size=256)
    state = page.open(viewer_url)
    assert state["error"] is None, state["error"]
    assert (state["textureWidth"], state["textureHeight"]) == (state["imageWidth"], state["imageHeight"]) == (1024, 512)
    assert state["tiles"] == [5, 3]
    check_rendering(page.screenshot(), state, page.overlay_box())
    assert page.errors() == []


@pytest.mark.browser
def test_browser_downscales_only_what_its_texture_units_cannot_tile(page, viewer_url):
    # MAX_TEXTURE_SIZE 256 and 2 texture units: 2 tiles of 256 hold at most 511 x 256.
    cap_webgl(page, texture_size=256, texture_units=2)
    state = page.open(viewer_url)
    assert state["error"] is None, state["error"]
    assert state["tiles"] == [2, 1]
    assert state["textureWidth"] <= 511 and state["textureHeight"] <= 256
    assert state["textureWidth"] >= 400  # shrunk only as far as needed
    check_rendering(page.screenshot(), state, page.overlay_box())
    assert page.errors() == []


def ramp_panorama(height: int) -> Image.Image:
    """A colour-coded panorama whose every texel differs from its neighbours (red counts
    columns, green rows, modulo 256; blue says which 256-block): a tile that samples the
    wrong texel, or a filter that stops at a tile's edge, shows. Compresses well as PNG."""
    columns = np.arange(2 * height)
    rows = np.arange(height)
    red = np.broadcast_to(columns % 256, (height, 2 * height))
    green = np.broadcast_to((rows % 256)[:, None], (height, 2 * height))
    blue = (columns[None, :] // 256 * 37 + rows[:, None] // 256 * 71) % 256
    return Image.fromarray(np.stack((red, green, blue), axis=-1).astype(np.uint8))


@pytest.mark.browser
def test_browser_tiled_8192_panorama_equals_the_untiled_render_at_tile_borders(page, tmp_path):
    """An 8192 x 4096 panorama with MAX_TEXTURE_SIZE capped at 4096 (3 tiles across) renders
    as the same page with one 8192 texture does, zoomed in on each tile border."""
    pano = tmp_path / "ramp.png"
    ramp_panorama(4096).save(pano)
    url = save_viewer(pano, tmp_path / "ramp.html").resolve().as_uri() + TEST_FLAG
    step = math.ceil((8192 - 1) / 3)
    views = []
    for border in (step, 2 * step):  # the borders between tiles, a little above the equator, zoomed in
        yaw = 2 * math.pi * (border + 0.5) / 8192 - math.pi
        views.append(f"Object.assign(window.ganoramaViewer.state, {{yaw: {yaw}, pitch: 0.2, fov: {math.radians(20)}}});"
                     " window.ganoramaViewer.render()")  # fmt: skip

    def shots() -> list[np.ndarray]:
        found = []
        for view in views:
            page.after_frame(lambda: page.evaluate(view))
            found.append(page.screenshot().astype(int))
        return found

    state = page.open(url)
    assert state["error"] is None, state["error"]
    if state["tiles"] != [1, 1]:
        pytest.skip(f"this browser's WebGL holds at most {state['textureWidth']} texels a side; the untiled "
                    "reference needs 8192")  # fmt: skip
    untiled = shots()
    cap_webgl(page, texture_size=4096)  # from the next load of the page on
    page.devtools.call("Page.navigate", url="about:blank")  # the same URL again would not reload it
    page.wait_for("!window.ganoramaViewer", "the page to unload")
    state = page.open(url)
    assert state["tiles"] == [3, 1] and (state["textureWidth"], state["textureHeight"]) == (8192, 4096)
    tiled = shots()
    left, top, right, bottom = (int(value) for value in page.overlay_box())
    for one, other in zip(untiled, tiled):
        difference = np.abs(one - other).max(-1)
        difference[max(top - 4, 0) : bottom + 4, max(left - 4, 0) : right + 4] = 0
        # The ramp's red steps by one level a texel (and by 255 at each 256th): filter
        # rounding moves a level here and there; a seam or a wrong texel would move many.
        assert np.quantile(difference, 0.999) <= 3, np.quantile(difference, [0.99, 0.999, 1.0])
        assert distinct_colours(other.astype(np.uint8)) >= 20
    assert page.errors() == []


@pytest.mark.browser
def test_browser_without_webgl_says_so(page, viewer_url):
    page.devtools.call("Page.addScriptToEvaluateOnNewDocument", source="""
        HTMLCanvasElement.prototype.getContext = function () { return null; };""")
    state = page.open(viewer_url)
    assert "needs WebGL" in state["error"]
    assert "needs WebGL" in page.evaluate("document.getElementById('message').innerText")
    assert page.evaluate("!document.getElementById('message').hidden")


@pytest.mark.browser
def test_browser_reports_an_undecodable_image(page, tmp_path):
    html_path = tmp_path / "broken.html"
    html_path.write_text(render_viewer_html(b"\x89PNG\r\n\x1a\n broken", "image/png", "broken"))
    state = page.open(html_path.resolve().as_uri() + TEST_FLAG)
    assert "could not be decoded" in state["error"]
    assert not state["ready"]


@pytest.mark.browser
def test_browser_page_without_the_flag_shows_the_panorama_and_no_test_hook(page, viewer_page_url):
    """The product page keeps its state to itself: window.ganoramaViewer exists only with
    #ganorama-test. It still draws the panorama (the centre column, facing the viewer)."""
    page.devtools.call("Page.navigate", url=viewer_page_url)
    page.wait_for("document.readyState === 'complete' && document.getElementById('panorama').complete",
                  "the page and its image to load")  # fmt: skip
    expected = pattern_colour(np.array(0.0), np.array(0.0)).astype(int)
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        shot = page.screenshot()
        centre = shot[HEIGHT // 2 - 2 : HEIGHT // 2 + 3, WIDTH // 2 - 2 : WIDTH // 2 + 3].reshape(-1, 3).astype(int)
        if distinct_colours(shot) >= 6 and np.abs(centre - expected).max() <= 8:
            break
        assert time.monotonic() < deadline, f"the page never showed the panorama; errors: {page.errors()}"
        time.sleep(0.1)
    assert page.evaluate("typeof window.ganoramaViewer") == "undefined"
    assert page.evaluate("Object.keys(window).filter(k => /ganorama/i.test(k))") == []
    assert page.errors() == []


# --------------------------------------------------------------------------------------
# 360 videos
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pattern_video(tmp_path_factory) -> Path:
    """A 2-second 360 MP4 (512 x 256, 12 fps) of the synthetic panorama, as animate writes them."""
    from ganorama.export.animation import encode_360_video

    frame = pattern_panorama(256)
    return encode_360_video((frame for _ in range(24)), tmp_path_factory.mktemp("video") / "pattern.mp4", 12)


def test_save_viewer_embeds_a_360_video_and_refuses_one_that_is_not_2_to_1(pattern_video, tmp_path):
    from ganorama.export.animation import encode_360_video

    page = save_viewer(pattern_video, tmp_path / "video.html").read_text()
    assert '<video id="panorama"' in page and "data:video/mp4;base64," in page and "media-src data:" in page
    square = encode_360_video((Image.new("RGB", (64, 64)) for _ in range(2)), tmp_path / "square.mp4", 2)
    with pytest.raises(UsageError, match="square.mp4 is 64x64; a 360 video must be twice as wide"):
        save_viewer(square, tmp_path / "square.html")
    (tmp_path / "fake.mp4").write_bytes(b"not a video at all")
    with pytest.raises(UsageError, match="fake.mp4 is not an MP4 video"):
        save_viewer(tmp_path / "fake.mp4", tmp_path / "fake.html")


@pytest.mark.browser
def test_browser_plays_a_360_video_follows_drags_and_pauses(page, pattern_video, tmp_path):
    url = save_viewer(pattern_video, tmp_path / "video.html").resolve().as_uri() + TEST_FLAG
    state = page.open(url)
    if state["error"] and "could not be decoded" in state["error"]:
        pytest.skip("this chromium cannot decode H.264")
    assert state["error"] is None, state["error"]
    assert state["video"] is True and (state["textureWidth"], state["textureHeight"]) == (512, 256)
    page.wait_for("window.ganoramaViewer.state.videoFrames > 3", "the video to play")
    overlay = page.overlay_box()
    # H.264 in yuv420p moves the flat colours a little: a wider tolerance than the PNG's.
    check_rendering(page.screenshot(), page.state(), overlay, tolerance=24)

    state = page.after_frame(lambda: page.drag((400, 300), (600, 300)))
    assert math.degrees(state["yaw"]) == pytest.approx(-30, abs=1)
    check_rendering(page.screenshot(), state, overlay, tolerance=24)

    page.press(" ", "Space", 32)
    page.wait_for("document.getElementById('panorama').paused", "the video to pause")
    assert page.state()["paused"] is True
    paused_at = page.evaluate("document.getElementById('panorama').currentTime")
    frames = page.state()["videoFrames"]
    time.sleep(0.5)
    assert page.evaluate("document.getElementById('panorama').currentTime") == paused_at
    assert page.state()["videoFrames"] == frames
    assert page.evaluate("document.getElementById('play-button').textContent") == "Play"

    page.press(" ", "Space", 32)
    page.wait_for(f"window.ganoramaViewer.state.videoFrames > {frames}", "the video to play again")
    assert page.state()["paused"] is False
    urls = page.requested_urls()
    assert all(url.startswith(("file:", "data:")) for url in urls), urls
    assert page.errors() == []
