"""Ctrl-C: one line and exit status 130, whenever it lands, and never a half-made result."""
from __future__ import annotations


class InterruptFlag:
    """A SIGINT handler that remembers the interrupt as well as raising KeyboardInterrupt.

    It never raises while a module is being imported: an extension module's import can
    call back into Python from C++ (torch's pybind11 registrations do), and an exception
    unwinding through that C++ aborts the whole process (seen: exit -6 instead of 130 when
    Ctrl-C landed in ``import torch``). Inside an import the interrupt is delivered again
    shortly, until the import is over. Some imports also swallow a KeyboardInterrupt
    outright (seen: numpy's under torch's), so :func:`raise_if_interrupted` at the run's
    checkpoints (every generator block, every save) stops the run anyway."""

    RETRY_SECONDS = 0.05

    def __init__(self):
        self.seen = False

    def __call__(self, signum, frame):
        self.seen = True
        if _inside_import(frame):
            self._deliver_again_later(signum)
            return
        raise KeyboardInterrupt

    def _deliver_again_later(self, signum: int) -> None:
        import _thread
        import threading

        # interrupt_main does nothing once SIGINT is ignored (after the clean exit began).
        retry = threading.Timer(self.RETRY_SECONDS, _thread.interrupt_main, args=(signum,))
        retry.daemon = True
        retry.start()

    @classmethod
    def install(cls) -> None:
        import signal

        # A SIGINT ignored by whoever started us (a background job) stays ignored.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, cls())


def _inside_import(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def raise_if_interrupted() -> None:
    import signal

    handler = signal.getsignal(signal.SIGINT)
    if isinstance(handler, InterruptFlag) and handler.seen:
        raise KeyboardInterrupt
