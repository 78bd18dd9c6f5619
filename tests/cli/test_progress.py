"""Progress and reporting: a bar on a terminal for runs over a second, every file written
listed on stdout, and --quiet silencing both."""
from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

import pytest


def _run_with_terminal_stderr(*args: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run the CLI with stderr on a pseudo-terminal (so it is a TTY); return the result and
    what was written to the terminal. The terminal is read while the command runs: a
    pseudo-terminal holds only a few kilobytes, and a full one would block or drop writes."""
    leader, follower = pty.openpty()
    # A terminal of 30 x 100 characters: with no size (0 x 0) tqdm draws nothing.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO once the command has exited and the terminal is drained
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        result = subprocess.run([sys.executable, "-m", "ganorama", *args], stdout=subprocess.PIPE, stderr=follower,
                                text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    finally:
        os.close(follower)
        reader.join(timeout=30)
        os.close(leader)
    return result, b"".join(chunks).decode(errors="replace")


# Several seconds of generating on any machine, so the bar is due (it waits one second).
SLOW_RUN = ("panorama", "-n", "6", "--seed", "3", "--panorama_width", "512", "--panorama_height", "256")


def test_a_run_over_a_second_shows_a_bar_on_a_terminal_and_lists_every_file(tmp_path, small_checkpoint):
    result, terminal = _run_with_terminal_stderr(*SLOW_RUN, "--weights", str(small_checkpoint), "-o", str(tmp_path))
    assert result.returncode == 0, terminal
    assert "generating:" in terminal and "%|" in terminal and "6.0/6" in terminal
    assert result.stdout.split() == [str(tmp_path / f"{index}.{suffix}") for index in range(6) for suffix in ("png", "json")]


def test_quiet_prints_nothing_at_all(tmp_path, small_checkpoint):
    result, terminal = _run_with_terminal_stderr(*SLOW_RUN, "--weights", str(small_checkpoint), "-o", str(tmp_path),
                                                 "--quiet")  # fmt: skip
    assert result.returncode == 0, terminal
    assert terminal.strip() == "" and result.stdout == ""
    assert {f"{index}.png" for index in range(6)} <= {path.name for path in tmp_path.iterdir()}


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path, tiny_checkpoint):
    result = subprocess.run([sys.executable, "-m", "ganorama", "panorama", "--weights", str(tiny_checkpoint), "-o",
                             str(tmp_path), "--seed", "1", "--panorama_width", "64", "--panorama_height", "32"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so that the bar draws into it."""

    def isatty(self) -> bool:
        return True


def test_the_model_load_and_the_saving_are_stages_of_their_own_in_the_bar(monkeypatch):
    import time

    from ganorama.cli.progress import SAVING_SHARE, Progress

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with Progress(1) as progress:
        with progress.loading("biggan-deep-128"):
            time.sleep(1.6)  # past the bar's one-second delay: the load alone shows it
        assert "loading biggan-deep-128" in terminal.getvalue()
        progress.update(10, 10, 1)  # generated and composed, not yet saved
        assert abs(progress._bar.n - (1 - SAVING_SHARE)) < 1e-9
        with progress.saving():
            progress._bar.refresh()
            assert "saving" in terminal.getvalue().rsplit("\r", 1)[-1]
        assert progress._bar.n == 1


def test_the_generator_reports_composing_as_steps_up_to_the_last(tiny_checkpoint):
    from ganorama import BigGAN
    from ganorama.pipeline import Ganorama

    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    events = []
    generator.panorama(seed=0, width=64, on_progress=lambda done, total, results: events.append((done, total)))
    total = events[-1][1]
    assert events[-1] == (total, total), "the bar reaches its end once the result is composed"
    assert (total - 1, total) in events  # the forward's last step: composing is the last step


@pytest.mark.parametrize("seconds, text", [(0.01, "under 0.1 s"), (0.44, "0.4 s"), (12.4, "12 s"), (250, "4 min 10 s"),
                                           (7530, "2 h 06 min")])  # fmt: skip
def test_durations_read_as_a_person_says_them(seconds, text):
    from ganorama.cli.progress import duration_text

    assert duration_text(seconds) == text
