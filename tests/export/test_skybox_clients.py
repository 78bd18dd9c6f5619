"""The three.js and Babylon.js presets in the real clients: headless Chromium loads each
preset's files as that library's skybox (its own loader, its own shader), renders the six
axis directions and some oblique ones, and every view must match the project's own
perspective render of the panorama in the same direction.

The libraries are the npm packages pinned in tests/js/package.json (.ci/run installs
them); the page and the files come from a server on 127.0.0.1, nothing else is fetched.
The panorama's colour encodes its direction, so a wrong face, a mirror or a turn shows as
an angle between the direction seen and the one expected.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import io
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from browsers import playwright_chromium
from ganorama import geometry
from ganorama.engines import engine_preset
from ganorama.export.io import sample_equirect
from ganorama.export.skybox import save_skybox

pytestmark = pytest.mark.browser

NODE_MODULES = Path(__file__).resolve().parents[1] / "js" / "node_modules"
VIEW = 48  # rendered view side in pixels
FOV = 90.0
# Directions to look in, in each library's world, with the camera's up vector: the six
# axes, then oblique ones.
LOOKS = [
    ((1, 0, 0), (0, 1, 0)), ((-1, 0, 0), (0, 1, 0)), ((0, 0, 1), (0, 1, 0)), ((0, 0, -1), (0, 1, 0)),
    ((0, 1, 0), (0, 0, 1)), ((0, -1, 0), (0, 0, 1)),
    ((1, 1, 1), (0, 1, 0)), ((-1, 0.4, 2), (0, 1, 0)), ((0.3, -1, -0.5), (0, 1, 0)), ((-2, -0.3, -1), (0, 1, 0)),
]  # fmt: skip
# Each library's world -> ours (x right, y down, z forward), a rotation, and its handedness
# (how its camera's right follows from forward and up). three.js is right-handed, Y up; it
# samples image cube textures with x mirrored, so +Z shows the cube's +Z face: our forward,
# with our right at its -X. Babylon.js is left-handed, Y up, +Z forward, +X right.
CLIENTS = {
    "threejs": {"to_ours": ((-1, 0, 0), (0, -1, 0), (0, 0, 1)), "right_handed": True, "format": "png"},
    "babylon": {"to_ours": ((1, 0, 0), (0, -1, 0), (0, 0, 1)), "right_handed": False, "format": "png"},
}

THREE_PAGE = """<!doctype html><html><body style="margin:0">
<script type="module">
import * as THREE from './three.module.js';
const renderer = new THREE.WebGLRenderer({preserveDrawingBuffer: true, antialias: false});
renderer.setPixelRatio(1);
renderer.setSize(%(size)d, %(size)d);
document.body.appendChild(renderer.domElement);
const scene = new THREE.Scene();
const camera = new THREE.PerspectiveCamera(%(fov)f, 1, 0.1, 10);
new THREE.CubeTextureLoader().setPath('sky/').load(%(files)s, (texture) => {
  scene.background = texture;
  window.look = (d, u) => {
    camera.up.set(u[0], u[1], u[2]);
    camera.lookAt(d[0], d[1], d[2]);
    renderer.render(scene, camera);
    return renderer.domElement.toDataURL('image/png');
  };
  window.ready = true;
}, undefined, (error) => { window.failed = String(error); });
</script></body></html>"""

BABYLON_PAGE = """<!doctype html><html><body style="margin:0">
<canvas id="c" width="%(size)d" height="%(size)d"></canvas>
<script src="babylon.js"></script>
<script>
const canvas = document.getElementById('c');
const engine = new BABYLON.Engine(canvas, false, {preserveDrawingBuffer: true}, false);
engine.setHardwareScalingLevel(1);
const scene = new BABYLON.Scene(engine);
const camera = new BABYLON.TargetCamera('camera', BABYLON.Vector3.Zero(), scene);
camera.fov = %(fov)f * Math.PI / 180;
camera.minZ = 0.1;
const skybox = BABYLON.MeshBuilder.CreateBox('skybox', {size: 100}, scene);
const material = new BABYLON.StandardMaterial('skybox', scene);
material.backFaceCulling = false;
material.disableLighting = true;
material.diffuseColor = new BABYLON.Color3(0, 0, 0);
material.specularColor = new BABYLON.Color3(0, 0, 0);
// Ready once the faces are in and the skybox's shader is compiled (the first frames
// before that draw the clear colour).
const texture = new BABYLON.CubeTexture('sky/skybox', scene, %(extensions)s, true, null,
                                        () => scene.executeWhenReady(() => { window.ready = true; }),
                                        (m) => { window.failed = String(m); });
texture.coordinatesMode = BABYLON.Texture.SKYBOX_MODE;
material.reflectionTexture = texture;
skybox.material = material;
skybox.infiniteDistance = true;
window.look = (d, u) => {
  camera.upVector = new BABYLON.Vector3(u[0], u[1], u[2]);
  camera.setTarget(new BABYLON.Vector3(d[0], d[1], d[2]));
  scene.render();
  return canvas.toDataURL('image/png');
};
</script></body></html>"""


def direction_panorama(height: int = 128) -> torch.Tensor:
    return (geometry.equirect_directions(height, 2 * height).permute(2, 0, 1) + 1) / 2


def our_render(panorama: torch.Tensor, client: dict, look: tuple, up: tuple) -> torch.Tensor:
    """The project's own perspective render (3, VIEW, VIEW) of the panorama, for a camera
    in the library's world looking along ``look`` with ``up``."""
    forward = torch.nn.functional.normalize(torch.tensor(look, dtype=torch.float64), dim=0)
    up_vector = torch.tensor(up, dtype=torch.float64)
    right = torch.linalg.cross(forward, up_vector) if client["right_handed"] else torch.linalg.cross(up_vector, forward)
    right = torch.nn.functional.normalize(right, dim=0)
    true_up = torch.linalg.cross(right, forward) if client["right_handed"] else torch.linalg.cross(forward, right)
    half = math.tan(math.radians(FOV) / 2)
    grid = geometry.pixel_grid(VIEW, VIEW, dtype=torch.float64)  # x right, y down
    rays = forward + half * grid[..., 0:1] * right - half * grid[..., 1:2] * true_up
    ours = rays @ torch.tensor(client["to_ours"], dtype=torch.float64).T
    return sample_equirect(panorama.double(), ours).float()


def angles_degrees(seen: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """Per pixel, the angle between the directions two direction-coded images show."""
    a = torch.nn.functional.normalize(seen * 2 - 1, dim=0)
    b = torch.nn.functional.normalize(wanted * 2 - 1, dim=0)
    return torch.rad2deg(torch.acos((a * b).sum(0).clamp(-1, 1)))


@contextlib.contextmanager
def local_server(root: Path):
    """An HTTP server for ``root`` on 127.0.0.1 (a free port), quiet, in a thread."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium():
    yield from playwright_chromium("the client tests")


def _page_files(engine: str, root: Path) -> str:
    """Link the library into ``root`` and return the page's HTML."""
    preset = engine_preset(engine)
    fmt = CLIENTS[engine]["format"]
    if engine == "threejs":
        for name in ("three.module.js", "three.core.js"):
            (root / name).symlink_to(NODE_MODULES / "three" / "build" / name)
        files = [f"{piece.name}.{fmt}" for piece in preset.pieces]
        return THREE_PAGE % {"size": VIEW, "fov": FOV, "files": files}
    (root / "babylon.js").symlink_to(NODE_MODULES / "babylonjs" / "babylon.js")
    # Babylon's default order of suffixes: +x, +y, +z, -x, -y, -z.
    extensions = [f"_{axis}.{fmt}" for axis in ("px", "py", "pz", "nx", "ny", "nz")]
    return BABYLON_PAGE % {"size": VIEW, "fov": FOV, "extensions": extensions}


@pytest.mark.parametrize("engine", sorted(CLIENTS))
def test_the_library_renders_the_preset_as_the_panorama_in_every_direction(tmp_path, chromium, engine):
    library = NODE_MODULES / ("three" if engine == "threejs" else "babylonjs")
    if not library.is_dir():
        pytest.skip(f"{library} is missing: run npm ci --prefix tests/js (.ci/run does)")
    client = CLIENTS[engine]
    panorama = direction_panorama()
    save_skybox(panorama, tmp_path / "sky", engine_preset(engine), face_size=128, format=client["format"])
    (tmp_path / "index.html").write_text(_page_files(engine, tmp_path))
    outside = []
    with local_server(tmp_path) as url:
        page = chromium.new_page(viewport={"width": VIEW, "height": VIEW})
        page.set_default_timeout(30_000)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url)
                   else (outside.append(route.request.url), route.abort()))  # fmt: skip
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/index.html")
        page.wait_for_function("window.ready === true || window.failed !== undefined", timeout=60_000)
        assert page.evaluate("window.failed") is None and not errors, (page.evaluate("window.failed"), errors)
        worst = []
        for look, up in LOOKS:
            data = page.evaluate("([d, u]) => window.look(d, u)", [list(look), list(up)])
            shot = Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB")
            seen = torch.from_numpy(np.asarray(shot).copy()).permute(2, 0, 1).float() / 255
            angles = angles_degrees(seen, our_render(panorama, client, look, up))
            worst.append((look, round(float(angles.mean()), 2), round(float(angles.quantile(0.99)), 2)))
        page.close()
    assert outside == [], "the page fetched something from outside the local server"
    for look, mean, high in worst:
        assert mean < 1.5 and high < 5, (engine, look, mean, high, worst)
