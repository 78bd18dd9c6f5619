"""The progress bar of a generating command: one bar for the whole run, and the list of
files written, printed without breaking it."""
from __future__ import annotations

import contextlib
import sys
import threading

from ganorama.cli.interrupts import raise_if_interrupted


# The share of a result's part of the bar that its saving takes (the rest: its forward
# and composition, in the generator's steps), so that writing the files moves the bar too.
SAVING_SHARE = 0.1
# How often the bar is redrawn while a stage reports nothing of its own (the model's load).
TICK_SECONDS = 0.5


class Progress:
    """One bar for the whole run on stderr, in results (fractions while one is made), shown
    when stderr is a terminal and the run takes over a second; its stages (loading the
    model, generating, saving) name themselves in it. ``write`` prints a line (a file
    written) without breaking the bar."""

    def __init__(self, results: int, quiet: bool = False):
        self.results = results
        self.quiet = quiet
        self._bar = None
        self._done = 0

    def __enter__(self) -> "Progress":
        if not self.quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.results, desc="generating", unit="result", delay=1.0, file=sys.stderr,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} [{elapsed}<{remaining}]")
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if self._bar is not None:
            if kind is not None:  # the one-line error that follows stands alone
                self._bar.leave = False
            self._bar.close()

    @contextlib.contextmanager
    def loading(self, what: str):
        """The model's load as a stage of its own: named in the bar, which keeps its
        elapsed time moving (the load reports no steps)."""
        if self._bar is None:
            yield
            return
        self._stage(f"loading {what}")
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(TICK_SECONDS):
                if self._bar._time() - self._bar.start_t >= self._bar.delay:
                    self._bar.refresh()

        ticker = threading.Thread(target=tick, name="ganorama-progress", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            self._stage("generating")

    @contextlib.contextmanager
    def saving(self):
        """Writing one result's files: a stage of its own, then the result is done."""
        self._stage("saving")
        self._advance_to(self._done + 1 - SAVING_SHARE)
        yield
        self._stage("generating")
        self.result_done()

    def update(self, done: int, total: int, results: int) -> None:
        """``done`` of ``total`` steps (the forward's, then one per result composed) of the
        forward now making ``results`` results."""
        raise_if_interrupted()
        made = results * done / max(total, 1) * (1 - SAVING_SHARE)
        self._advance_to(min(self.results, self._done + made))

    def result_done(self) -> None:
        self._done += 1
        self._advance_to(self._done)

    def _stage(self, name: str) -> None:
        if self._bar is not None:
            self._bar.set_description_str(name, refresh=False)

    def _advance_to(self, position: float) -> None:
        # tqdm's own update() keeps its delay and refresh-rate rules.
        if self._bar is not None and position > self._bar.n:
            self._bar.update(position - self._bar.n)

    def note(self, text: str) -> None:
        """A line for the user on stderr, above the bar when there is one."""
        if self._bar is not None and self._bar._time() - self._bar.start_t >= self._bar.delay:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def write(self, path) -> None:
        try:
            # tqdm.write redraws the bar, so only once the bar is due (after its delay).
            if self._bar is not None and self._bar._time() - self._bar.start_t >= self._bar.delay:
                self._bar.write(str(path), file=sys.stdout)
            else:
                print(path, flush=True)
        except OSError as error:  # stdout is /dev/full or a closed pipe: the files themselves are safe
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # and no second error at exit
            print(f"ganorama: warning: cannot print to standard output ({error.strerror or error}); going on "
                  "without listing the files written", file=sys.stderr)  # fmt: skip


def estimate_text(seconds: float, what: str, device, dtype) -> str:
    """"about 4 min 10 s WHAT on this CPU in bfloat16": a run's estimate as said before it
    starts (``device`` a torch.device, ``dtype`` a torch.dtype)."""
    where = "this CPU" if device.type == "cpu" else f"one {device.type.upper()} device"
    return f"about {duration_text(seconds)} {what} on {where} in {str(dtype).removeprefix('torch.')}"


def duration_text(seconds: float) -> str:
    """``seconds`` as a person reads it: under 0.1 s, 0.4 s, 12 s, 4 min 10 s, 2 h 05 min."""
    if seconds < 0.05:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"
