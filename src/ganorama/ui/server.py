"""The web app's server: its address, its temporary folder and its lifetime.

Everything the server writes (results, gradio's upload and file cache, gradio's hash
seed, libraries' temporary files) goes under one folder made at start and removed at
exit, also when the server is stopped with SIGTERM or Ctrl-C. Gradio reads where its
cache is when it is imported, so :func:`workspace` must be entered before
:func:`import_gradio`.
"""
from __future__ import annotations

import contextlib
import errno
import importlib.abc
import importlib.machinery
import ipaddress
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Iterator

from ganorama.errors import GanoramaError, UsageError, install_hint

INSTALL_HINT = install_hint("ui")

# Gradio's own settings that keep the app local: no usage reports to gradio's servers.
_GRADIO_ENVIRONMENT = {"GRADIO_ANALYTICS_ENABLED": "False"}
# Gradio's writable places that an environment variable moves, each to a folder of the
# workspace (the examples cache defaults to ./.gradio in the working directory).
_GRADIO_FOLDERS = {"GRADIO_TEMP_DIR": "gradio", "GRADIO_EXAMPLES_CACHE": "gradio-examples"}
# Gradio keeps a random hash seed in a file beside its own code (gradio/hash_seed.txt),
# written at the first import: no variable moves it, so the module's path to it is
# pointed into the workspace as the module is imported, before the seed is read.
_HASH_SEED_MODULE, _HASH_SEED_PATH = "gradio.utils", "HASH_SEED_PATH"


def check_port(text: str) -> int:
    """``--port``: a whole number 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise UsageError(f"--port {text!r} is not a whole number; allowed: 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is out of range; allowed: 1 to 65535")
    return port


def check_address(host: str, port: int) -> None:
    """UsageError (one line) unless a server can listen on ``host``:``port`` now: the host
    is an address of this machine and the port is free and allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise UsageError(f"--host {host!r} is not a host name or address this machine knows; "
                         "e.g. 127.0.0.1 (this computer only) or 0.0.0.0 (every network)") from None  # fmt: skip
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the server will: a port left in TIME_WAIT by a stopped server is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise UsageError(_bind_message(host, port, error)) from None


def _bind_message(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"--port {port} is in use on {host} (another server runs there); choose another --port"
    if error.errno == errno.EACCES:
        return f"--port {port} needs administrator rights on this system; choose a port >= 1024"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine; e.g. 127.0.0.1 (this computer only)"
    return f"cannot listen on {host}:{port}: {error.strerror or error}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as written in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    """A new private temporary folder for this server, removed (with everything in it) at
    exit; gradio's cache and Python's ``tempfile`` point into it meanwhile."""
    root = Path(tempfile.mkdtemp(prefix="ganorama-ui-"))
    names = (*_GRADIO_FOLDERS, *_GRADIO_ENVIRONMENT)
    saved_environment = {name: os.environ.get(name) for name in names}
    saved_tempdir = tempfile.tempdir
    try:
        (root / "tmp").mkdir()
        for variable, folder in _GRADIO_FOLDERS.items():
            (root / folder).mkdir()
            os.environ[variable] = str(root / folder)
        os.environ.update(_GRADIO_ENVIRONMENT)
        tempfile.tempdir = str(root / "tmp")
        yield root
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(root, ignore_errors=True)


def import_gradio():
    """gradio, or UsageError with the install line when the ``ui`` extra is missing; its
    hash seed file in the workspace (see _HASH_SEED_MODULE)."""
    if "GRADIO_TEMP_DIR" not in os.environ:
        raise GanoramaError("internal: import gradio inside ganorama.ui.server.workspace()")
    hash_seed = str(Path(os.environ["GRADIO_TEMP_DIR"]) / "hash_seed.txt")
    finder = _SetAfterImport(_HASH_SEED_MODULE, _HASH_SEED_PATH, hash_seed)
    sys.meta_path.insert(0, finder)
    try:
        import gradio
    except ImportError as error:
        raise UsageError(f"the web app needs gradio, which is not installed ({error}); install it with: "
                         f"{INSTALL_HINT}") from None  # fmt: skip
    finally:
        sys.meta_path.remove(finder)
    if not finder.done:  # imported before (in this process): the seed was read already
        setattr(sys.modules[_HASH_SEED_MODULE], _HASH_SEED_PATH, hash_seed)
    for name in _TRACEBACK_PRINTERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "traceback", None) is traceback:
            module.traceback = _OneLineTracebacks()
    return gradio


# gradio's modules that print a whole traceback for every request they refuse (e.g. a
# file reference naming a path outside its cache, which any HTTP client can send): the
# server's log gets one line for each instead. Our own handlers catch what they raise.
_TRACEBACK_PRINTERS = ("gradio.queueing", "gradio.routes", "gradio.utils", "gradio.route_utils")


class _OneLineTracebacks:
    """The ``traceback`` module, except that ``print_exc`` logs one line."""

    @staticmethod
    def print_exc(*args, **kwargs) -> None:
        error = sys.exc_info()[1]
        text = str(error).strip().splitlines()[0][:300] if error is not None and str(error).strip() else ""
        print(f"ganorama ui: refused a request: {type(error).__name__}{': ' + text if text else ''}",
              file=sys.stderr, flush=True)  # fmt: skip

    def __getattr__(self, name: str):
        return getattr(traceback, name)


class _SetAfterImport(importlib.abc.MetaPathFinder):
    """Imports ``module`` as usual, then sets its ``name`` to ``value`` before any other
    module can use it (the module's own import-time code has not read it yet when
    ``name`` is only read by its functions)."""

    def __init__(self, module: str, name: str, value):
        self.module, self.name, self.value = module, name, value
        self.done = False

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _AfterExec(spec.loader, self)
        return spec


class _AfterExec(importlib.abc.Loader):
    def __init__(self, loader, setter: _SetAfterImport):
        self.loader, self.setter = loader, setter

    def __getattr__(self, name):  # get_source, get_resource_reader, ...: the loader's own
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        setattr(module, self.setter.name, self.setter.value)
        self.setter.done = True


def serve(generator, host: str, port: int, root: Path, announce=print) -> None:
    """Serve the app for ``generator`` on ``host``:``port`` until SIGINT or SIGTERM, then
    stop the server (the caller's :func:`workspace` removes the files)."""
    from ganorama.ui.app import build_app, launch_options
    from ganorama.ui.results import ResultStore

    store = ResultStore(root / "results")
    app = build_app(generator, store)
    stop = threading.Event()
    with _stop_on_signals(stop):
        try:
            app.launch(server_name=host, server_port=port, prevent_thread_lock=True, **launch_options(store))
        except OSError as error:  # the port was taken between the check and now
            raise UsageError(f"cannot serve on {host}:{port}: {error}") from None
        except Exception as error:  # e.g. a gradio too old for the app: one line, no traceback
            raise GanoramaError(f"the web server did not start ({type(error).__name__}: {error}); "
                                f"{INSTALL_HINT} installs a gradio it works with") from None
        try:
            announce(f"ganorama ui: open http://{url_host(host)}:{port}/ in a browser; Ctrl-C stops the server")
            if not is_loopback(host):
                announce(f"ganorama ui: note: listening on {host}, so other machines can use this app")
            while not stop.wait(0.5):
                pass
        finally:
            app.close()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` instead of killing the process, so that the
    temporary folder is removed on the way out."""
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in signals}
    for number in signals:
        signal.signal(number, lambda *_: stop.set())
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        sys.stdout.flush()
