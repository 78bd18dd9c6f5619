"""``ganorama ui``'s command line: what it refuses, in one line with exit status 2, before
loading any model, and without leaving a temporary folder behind."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

GRADIO_MISSING_SHIM = """\
# Stands in for an environment without the ui extra: importing gradio fails as it would.
raise ModuleNotFoundError("No module named 'gradio'", name="gradio")
"""


def run_ui(*args: str, tmp_path: Path, pythonpath_first: Path | None = None) -> subprocess.CompletedProcess:
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "HF_HUB_OFFLINE": "1"}
    if pythonpath_first is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath_first), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "ganorama", "ui", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, timeout=120)  # fmt: skip


def assert_one_line_usage_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("ganorama ui: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_without_gradio_it_says_how_to_install_the_ui_extra(tmp_path, tiny_checkpoint, unused_port):
    shim = tmp_path / "shim"
    (shim / "gradio").mkdir(parents=True)
    (shim / "gradio" / "__init__.py").write_text(GRADIO_MISSING_SHIM)
    done = run_ui("--weights", str(tiny_checkpoint), "--port", str(unused_port), tmp_path=tmp_path,
                  pythonpath_first=shim)  # fmt: skip
    assert_one_line_usage_error(done, 'pip install "ganorama[ui]"')
    assert list((tmp_path / "tmp").iterdir()) == []  # its temporary folder is removed again


def test_a_port_in_use_is_refused_before_loading(tmp_path, tiny_checkpoint):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_ui("--weights", str(tiny_checkpoint), "--port", str(port), tmp_path=tmp_path)
    assert_one_line_usage_error(done, f"--port {port} is in use")
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_port_out_of_range_is_refused(tmp_path, tiny_checkpoint):
    done = run_ui("--weights", str(tiny_checkpoint), "--port", "70000", tmp_path=tmp_path)
    assert_one_line_usage_error(done, "70000", "1 to 65535")


def test_a_host_that_is_not_this_machine_is_refused(tmp_path, tiny_checkpoint, unused_port):
    # 203.0.113.0/24 is reserved for documentation: never an address of this machine.
    done = run_ui("--weights", str(tiny_checkpoint), "--host", "203.0.113.7", "--port", str(unused_port),
                  tmp_path=tmp_path)  # fmt: skip
    assert_one_line_usage_error(done, "--host 203.0.113.7 is not an address of this machine")


def test_weights_that_are_no_checkpoint_are_refused_before_loading(tmp_path, unused_port):
    done = run_ui("--weights", str(tmp_path / "missing"), "--port", str(unused_port), tmp_path=tmp_path)
    assert_one_line_usage_error(done, "missing")
    assert list((tmp_path / "tmp").iterdir()) == []
