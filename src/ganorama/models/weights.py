"""Where BigGAN weights come from: local files, the Hugging Face Hub or plain URLs.

:func:`resolve_checkpoint_dir` turns what the user typed into a local directory holding
``config.json`` and ``pytorch_model.bin`` (or ``model.safetensors``):

- a known model name, ``biggan-deep-128|256|512`` (known names win over a local
  directory of the same name; write ``./biggan-deep-128`` for the directory);
- ``hf:OWNER/REPO`` or ``hf:OWNER/REPO@REVISION``, any model repo on the Hub;
- a local checkpoint directory, or a weights file whose directory holds ``config.json``.

``biggan-deep-128`` lives on the Hub and is fetched with ``huggingface_hub`` into its
usual cache (``$HF_HOME/hub``). The 256 and 512 models have no known Hub copy: they come
from the reference package's S3 URLs and are cached under ``$HF_HOME/ganorama/NAME/``,
with resumable downloads and a sha256 recorded beside each file and checked on every
later use. ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` are read when
a model is resolved, not when a module is imported. Before asking the Hub for anything, one
quick TCP connection to it (or to the proxy the environment sets) tells whether it can be
reached at all; when it cannot, only the cache is used, at once, instead of huggingface_hub
retrying for half a minute. Every failure reaches the caller as one-line
:class:`~ganorama.errors.GanoramaError` (or :class:`~ganorama.errors.UsageError` for a
bad value); no network exception escapes this module.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Optional, Tuple, Union

from ganorama.errors import GanoramaError, UsageError
from ganorama.files import write_bytes_atomic
from ganorama.models.config import CONFIG_NAME, PUBLISHED_MODELS, SAFETENSORS_NAME, WEIGHTS_NAME


@dataclass(frozen=True)
class HubSource:
    """A checkpoint in a Hugging Face Hub model repo.

    ``weights_names`` are tried in order; the first one the repo has is used.
    """

    repo_id: str
    revision: Optional[str] = None
    weights_names: Tuple[str, ...] = (SAFETENSORS_NAME, WEIGHTS_NAME)


@dataclass(frozen=True)
class UrlSource:
    """A checkpoint published as two plain HTTP(S) files (config and weights)."""

    name: str
    config_url: str
    weights_url: str


Source = Union[HubSource, UrlSource]

# Copied from pytorch_pretrained_biggan.model.PRETRAINED_{CONFIG,MODEL}_ARCHIVE_MAP: the
# reference package's copy of NAME is NAME-config.json and NAME-pytorch_model.bin there.
_REFERENCE_BASE_URL = "https://s3.amazonaws.com/models.huggingface.co/biggan/"
# The published models with a known Hub copy; the others come from the reference's URLs.
_HUB_COPIES = {"biggan-deep-128": HubSource("osanseviero/BigGAN-deep-128", weights_names=(WEIGHTS_NAME,))}

# The sha256 a source publishes for a file, by (Hub repo, file name): the Hub's Git LFS
# pointer of osanseviero/BigGAN-deep-128's pytorch_model.bin (its "Git LFS Details", 211 MB).
# A file with another digest is refused, not trusted. The reference package's S3 files
# (256, 512) have no published sha256: theirs is recorded at the first download.
PUBLISHED_SHA256: Mapping[Tuple[str, str], str] = MappingProxyType({
    ("osanseviero/BigGAN-deep-128", WEIGHTS_NAME): "b86146a8cfcde4cda135adba4b2806f78b3abe2dac9d0fd090cc3ab318604ad9",
})  # fmt: skip

KNOWN_MODELS: Mapping[str, Source] = MappingProxyType({
    name: _HUB_COPIES.get(name) or UrlSource(name, f"{_REFERENCE_BASE_URL}{name}-config.json",
                                             f"{_REFERENCE_BASE_URL}{name}-pytorch_model.bin")
    for name in PUBLISHED_MODELS
})  # fmt: skip

ALLOWED_FORMS = (
    f"{', '.join(PUBLISHED_MODELS)}, hf:OWNER/REPO[@REVISION], "
    "or a local directory (or weights file) with config.json and pytorch_model.bin or model.safetensors"
)

_HF_SPEC = re.compile(r"^hf:(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)(?:@(?P<revision>[^\s@]+))?$")
_TRUE_VALUES = frozenset({"1", "ON", "YES", "TRUE"})
_CHUNK_SIZE = 1 << 20
_SIDECAR_SUFFIX = ".sha256"
_PARTIAL_SUFFIX = ".incomplete"
_DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
# How long the reachability check waits for a name lookup and for a TCP connection.
_REACHABILITY_TIMEOUT_S = 5.0


# --- entry points --------------------------------------------------------------------


def resolve_checkpoint_dir(name_or_path: Union[str, os.PathLike]) -> Path:
    """The local directory holding the checkpoint named by ``name_or_path``.

    Known names and ``hf:`` specs are downloaded (or found in the cache, see
    :func:`download`); anything else must be an existing local directory or weights file.
    """
    text = str(name_or_path).strip()
    if not text:  # Path("") is the current directory: never load whatever happens to be there
        raise UsageError(f"--weights is empty; allowed: {ALLOWED_FORMS}")
    if text in KNOWN_MODELS or text.startswith("hf:"):
        return download(text)
    path = Path(text).expanduser()
    if path.exists():
        return local_checkpoint_dir(path)
    raise UsageError(f"no model or path {text!r}; allowed: {ALLOWED_FORMS}")


def download(name_or_spec: str, *, offline: Optional[bool] = None, progress: bool = True) -> Path:
    """Fetch a known model or ``hf:OWNER/REPO[@REVISION]`` into the cache; return its directory.

    Already cached files are reused (and, for URL downloads, checked against their recorded
    sha256). ``offline`` defaults to ``HF_HUB_OFFLINE``; offline, only the cache is used.
    ``progress`` shows a progress bar for URL downloads.
    """
    spec = str(name_or_spec).strip()
    source = parse_model_spec(spec)
    if spec in KNOWN_MODELS:
        imported = cached_copy(url_cache_dir(spec), spec)
        if imported is not None:  # put there by 'ganorama download NAME --from DIR' (or a download)
            return imported
    offline = offline_mode() if offline is None else offline
    if isinstance(source, HubSource):
        return download_from_hub(source, offline=offline, label=spec)
    return download_from_urls(source, url_cache_dir(source.name), offline=offline, progress=progress, label=spec)


def parse_model_spec(spec: str) -> Source:
    """The source of a known model name or of ``hf:OWNER/REPO[@REVISION]``; UsageError otherwise."""
    spec = spec.strip()
    if spec in KNOWN_MODELS:
        return KNOWN_MODELS[spec]
    match = _HF_SPEC.match(spec)
    if match:
        return HubSource(match.group("repo"), revision=match.group("revision"))
    raise UsageError(f"unknown model {spec!r}; allowed: {', '.join(PUBLISHED_MODELS)} or hf:OWNER/REPO[@REVISION]")


def local_checkpoint_dir(path: Union[str, os.PathLike]) -> Path:
    """``path`` (a checkpoint directory, or a file inside one) checked to hold a checkpoint."""
    path = Path(path).expanduser()
    if path.is_file():
        if path.name not in (CONFIG_NAME, WEIGHTS_NAME, SAFETENSORS_NAME):
            raise UsageError(f"{path}: a weights file must be named {WEIGHTS_NAME} or {SAFETENSORS_NAME} "
                             f"and sit beside its {CONFIG_NAME}; rename it or pass its directory")
        directory = path.parent
    elif path.is_dir():
        directory = path
    else:
        raise UsageError(f"no such file or directory: {path}; allowed: {ALLOWED_FORMS}")
    if not (directory / CONFIG_NAME).is_file():
        raise UsageError(f"{directory} holds no {CONFIG_NAME}; a checkpoint directory needs {CONFIG_NAME} "
                         f"and {WEIGHTS_NAME} or {SAFETENSORS_NAME}")
    if not any((directory / name).is_file() for name in (SAFETENSORS_NAME, WEIGHTS_NAME)):
        raise UsageError(f"{directory} holds no {WEIGHTS_NAME} or {SAFETENSORS_NAME}")
    return directory


# --- environment ---------------------------------------------------------------------


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set now.

    huggingface_hub reads these once, at import; the environment wins when it says
    anything, so a value set after that import still counts.
    """
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        value = os.environ.get(variable)
        if value:
            return value.strip().upper() in _TRUE_VALUES
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hf_home() -> Path:
    """``$HF_HOME`` as it is now, else huggingface_hub's default (``~/.cache/huggingface``)."""
    value = os.environ.get("HF_HOME")
    if value:
        return _expand(value)
    from huggingface_hub import constants

    return Path(constants.HF_HOME)


def hub_cache_dir() -> Path:
    """The Hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else huggingface_hub's default."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        value = os.environ.get(variable)
        if value:
            return _expand(value)
    if os.environ.get("HF_HOME"):
        return hf_home() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def url_cache_dir(name: str) -> Path:
    """Where a model downloaded from plain URLs, or imported from a local checkpoint
    (``ganorama download NAME --from DIR``), is cached: ``$HF_HOME/ganorama/NAME``."""
    return hf_home() / "ganorama" / name


def cached_copy(directory: Path, label: str) -> Optional[Path]:
    """``directory`` when it holds a whole checkpoint (config and a weights file), each
    file checked against the sha256 recorded beside it; None when it does not."""
    weights = next((directory / name for name in (SAFETENSORS_NAME, WEIGHTS_NAME) if (directory / name).is_file()),
                   None)  # fmt: skip
    if weights is None or not (directory / CONFIG_NAME).is_file():
        return None
    for path in (directory / CONFIG_NAME, weights):
        verify_recorded_sha256(path, label)
    return directory


def _expand(value: str) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(value)))


def _offline_reason() -> str:
    value = os.environ.get("HF_HUB_OFFLINE")
    return f"offline: HF_HUB_OFFLINE={value}" if value else "offline mode"


def _fallback_hint(label: str, where: str) -> str:
    return (f"pass --weights DIR holding {CONFIG_NAME} and {WEIGHTS_NAME}, "
            f"or run 'ganorama download {label}' where {where} is reachable")


def _first_line(error: BaseException, limit: int = 200) -> str:
    """A short one-line description of ``error``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- the Hub -------------------------------------------------------------------------


def download_from_hub(source: HubSource, *, offline: bool, label: Optional[str] = None) -> Path:
    """The snapshot directory holding ``config.json`` and the first available weights file.

    Only those files are fetched, into the Hub cache (``hub_cache_dir()``); offline, only
    the cache is read and nothing is sent anywhere.
    """
    label = label or f"hf:{source.repo_id}"
    cache = hub_cache_dir()
    endpoint = hub_endpoint()
    # Without a route to the hub, huggingface_hub retries for about 25 s before giving up;
    # one quick connection check tells us at once, and the cache is then all there is.
    unreachable = None if offline else unreachable_reason(endpoint)
    local_only = offline or unreachable is not None
    why_local = _offline_reason() if offline else f"the Hugging Face Hub is unreachable: {unreachable}"

    def fetch(filename: str, revision: Optional[str]) -> Optional[Path]:
        return _hub_file(source, filename, revision, cache=cache, offline=local_only, label=label, endpoint=endpoint)

    config_path = fetch(CONFIG_NAME, source.revision)
    if config_path is None:
        raise _hub_missing_error(source, CONFIG_NAME, cache=cache, offline=local_only, label=label, why=why_local)
    # Pin the weights to the snapshot (commit) the config came from.
    snapshot = config_path.parent
    revision = snapshot.name if re.fullmatch(r"[0-9a-f]{40}", snapshot.name) else source.revision
    for name in source.weights_names:
        found = fetch(name, revision)
        if found is not None:
            check_published_sha256(source.repo_id, name, found, label)
            return snapshot
    raise _hub_missing_error(source, " or ".join(source.weights_names), cache=cache, offline=local_only, label=label,
                             why=why_local)


def hub_endpoint() -> str:
    """The Hub's base URL: ``$HF_ENDPOINT`` as it is now, else huggingface_hub's default."""
    value = os.environ.get("HF_ENDPOINT")
    if value:
        return value.strip().rstrip("/")
    from huggingface_hub import constants

    return (constants.ENDPOINT or _DEFAULT_HUB_ENDPOINT).rstrip("/")


def unreachable_reason(url: str, timeout: float = _REACHABILITY_TIMEOUT_S) -> Optional[str]:
    """Why a TCP connection to ``url``'s host (or to the proxy configured for it) cannot be
    opened within ``timeout`` seconds, or None when it can. Sends no request."""
    target = urllib.parse.urlsplit(url)
    proxy = _proxy_for(target)
    where = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy) if proxy else target
    host = where.hostname
    if not host:
        return f"{url} names no host"
    try:
        port = where.port or (443 if where.scheme in ("https", "wss") else 80)
    except ValueError:
        return f"{url} has an invalid port"
    via = f"proxy {host}:{port}" if proxy else f"{host}:{port}"
    try:
        addresses = _resolve_with_timeout(host, port, timeout)
    except (OSError, TimeoutError) as error:
        return f"cannot resolve {host} ({_first_line(error)})"
    reason = "no address"
    deadline = time.monotonic() + timeout  # for all addresses together: a host has several
    for family, kind, protocol, _, address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            with socket.socket(family, kind, protocol) as connection:
                connection.settimeout(remaining)
                connection.connect(address)
            return None
        except OSError as error:
            reason = error.strerror or _first_line(error)
    return f"cannot connect to {via} ({reason})"


def _proxy_for(target: urllib.parse.SplitResult) -> Optional[str]:
    """The proxy URL the environment sets for ``target`` (as httpx and urllib read it), if any."""
    if target.hostname and urllib.request.proxy_bypass(target.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(target.scheme) or proxies.get("all") or None


def _resolve_with_timeout(host: str, port: int, timeout: float) -> list:
    """``socket.getaddrinfo`` for a TCP connection, bounded by ``timeout`` (a resolver
    with no route can otherwise block for many seconds). The lookup runs in a daemon
    thread so that an abandoned one never delays the exit of the process."""
    outcome: dict = {}

    def lookup() -> None:
        try:
            outcome["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            outcome["error"] = error

    thread = threading.Thread(target=lookup, name="ganorama-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" in outcome:
        raise outcome["error"]
    if "addresses" not in outcome:
        raise TimeoutError(f"no answer within {timeout:g} s")
    return outcome["addresses"]


@contextlib.contextmanager
def _quiet_hub_logging():
    """Silence huggingface_hub's warnings (one block per retry) while it downloads: a
    failure reaches the user as our one line, and its progress bars are not logs."""
    logger = logging.getLogger("huggingface_hub")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _hub_file(source: HubSource, filename: str, revision: Optional[str], *, cache: Path, offline: bool,
              label: str, endpoint: Optional[str] = None) -> Optional[Path]:
    """One file of ``source`` from the Hub (or its cache); None when the repo (or, offline,
    the cache) lacks it. Every other failure becomes a one-line GanoramaError/UsageError.

    huggingface_hub raises from several HTTP stacks depending on its version, so anything
    it raises is caught here and described in one line.
    """
    if offline:
        return _cached_hub_file(source, filename, revision, cache=cache)
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    try:
        with _quiet_hub_logging():
            return Path(hf_hub_download(source.repo_id, filename, revision=revision, cache_dir=str(cache),
                                        endpoint=endpoint))
    except hub_errors.LocalEntryNotFoundError as error:
        cause = error.__cause__ or error
        raise GanoramaError(f"cannot download {label} (the Hugging Face Hub is unreachable: {_first_line(cause)}); "
                            + _fallback_hint(label, "the hub")) from None
    except hub_errors.EntryNotFoundError:
        return None  # the repo exists but has no such file
    except hub_errors.GatedRepoError:
        raise GanoramaError(f"cannot download {label}: hub repo {source.repo_id} is gated; accept its terms on "
                            "huggingface.co and log in (set HF_TOKEN)") from None
    except hub_errors.RepositoryNotFoundError:
        raise UsageError(f"hub repo {source.repo_id!r} not found (if it is private, set HF_TOKEN); "
                         f"allowed: {ALLOWED_FORMS}") from None
    except hub_errors.RevisionNotFoundError:
        raise UsageError(f"hub repo {source.repo_id} has no revision {revision!r}") from None
    except hub_errors.HFValidationError as error:
        raise UsageError(f"invalid hub repo {source.repo_id!r}: {_first_line(error)}") from None
    except Exception as error:  # network and HTTP errors of whichever client the hub uses
        raise GanoramaError(f"cannot download {label} from the Hugging Face Hub ({type(error).__name__}: "
                            f"{_first_line(error)}); " + _fallback_hint(label, "the hub")) from None


def check_published_sha256(repo_id: str, filename: str, path: Path, label: str) -> None:
    """GanoramaError if ``path`` (a Hub file, or its cached copy) is not the file whose
    sha256 the Hub publishes (:data:`PUBLISHED_SHA256`); nothing to check for others.

    The Hub cache names an LFS file's blob by its sha256, so that name is compared
    (no 200 MB read per run); a cache of plain copies is hashed."""
    published = PUBLISHED_SHA256.get((repo_id, filename))
    if published is None:
        return
    blob = Path(os.path.realpath(path)).name
    actual = blob if re.fullmatch(r"[0-9a-f]{64}", blob) else sha256_file(path)
    if actual != published:
        raise GanoramaError(f"{label}: {filename} from hub repo {repo_id} has sha256 {actual[:16]}..., not the "
                            f"{published[:16]}... the Hub publishes for it; the file changed or was replaced. "
                            f"Delete {path} and run 'ganorama download {label}' again")


def _cached_hub_file(source: HubSource, filename: str, revision: Optional[str], *, cache: Path) -> Optional[Path]:
    """``filename`` of ``source`` from the Hub cache only (the ``local_files_only`` lookup).

    Not ``hf_hub_download(local_files_only=True)``: that still builds request headers,
    and huggingface_hub 2.x then fetches an agent registry from the Hub unless
    HF_HUB_OFFLINE was already set when it was imported. This reads files and nothing else.
    """
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(source.repo_id, filename, cache_dir=str(cache), revision=revision)
    except ValueError as error:  # includes HFValidationError
        raise UsageError(f"invalid hub repo {source.repo_id!r}: {_first_line(error)}") from None
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def _hub_missing_error(source: HubSource, what: str, *, cache: Path, offline: bool, label: str,
                       why: Optional[str] = None) -> GanoramaError:
    """The error for a file that neither the cache (offline: ``why``) nor the repo (online) has."""
    if offline:
        where = cache / ("models--" + source.repo_id.replace("/", "--"))
        return GanoramaError(f"cannot download {label} ({why or _offline_reason()}, and it is not in the cache at "
                             f"{where}); " + _fallback_hint(label, "the hub"))
    return UsageError(f"hub repo {source.repo_id} has no {what}; it is not a BigGAN checkpoint "
                      f"(needs {CONFIG_NAME} and {WEIGHTS_NAME} or {SAFETENSORS_NAME})")


# --- plain URLs ----------------------------------------------------------------------


def download_from_urls(source: UrlSource, directory: Union[str, os.PathLike], *, offline: bool,
                       progress: bool = True, timeout: float = 30.0, label: Optional[str] = None) -> Path:
    """``directory`` holding ``source``'s config and weights, downloading what is missing.

    A file already there is checked against its recorded sha256 (recorded now if it has
    none, e.g. when placed by hand); offline, a missing file is an error, not a download.
    """
    directory = Path(directory)
    label = label or source.name
    for filename, url in ((CONFIG_NAME, source.config_url), (WEIGHTS_NAME, source.weights_url)):
        target = directory / filename
        if target.is_file():
            verify_recorded_sha256(target, label)
        elif offline:
            raise GanoramaError(f"cannot download {label} ({_offline_reason()} and it is not in the cache at "
                                f"{directory}); " + _fallback_hint(label, "the network"))
        else:
            fetch_url(url, target, progress=progress, timeout=timeout, label=label)
    return directory


def fetch_url(url: str, destination: Union[str, os.PathLike], *, progress: bool = True, timeout: float = 30.0,
              label: Optional[str] = None) -> Path:
    """Download ``url`` to ``destination`` (which must not exist), resumably.

    Bytes go to ``DESTINATION.incomplete``; a run that finds one asks the server for the
    rest with an HTTP Range request. The finished file is checked against the announced
    size, its sha256 written to ``DESTINATION.sha256``, and only then renamed into place.
    A short download keeps its partial file, so running again resumes it.
    """
    destination = Path(destination)
    label = label or destination.name
    if destination.exists():
        raise UsageError(f"{destination} already exists; delete it to download it again")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + _PARTIAL_SUFFIX)
    try:
        total = _transfer(url, partial, progress=progress, timeout=timeout)
    except urllib.error.HTTPError as error:
        raise GanoramaError(f"cannot download {label} from {url} (HTTP {error.code} {error.reason}); "
                            + _fallback_hint(label, "the network")) from None
    except (OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise GanoramaError(f"cannot download {label} from {url} ({_first_line(reason)}); "
                            + _fallback_hint(label, "the network")) from None
    size = partial.stat().st_size
    if total is not None and size != total:
        if size > total:
            partial.unlink()
        raise GanoramaError(f"download of {url} is truncated ({size} of {total} bytes, kept in {partial}); "
                            f"run 'ganorama download {label}' again to resume it")
    record_sha256(destination, sha256_file(partial))
    os.replace(partial, destination)
    return destination


def _transfer(url: str, partial: Path, *, progress: bool, timeout: float, retry_on_416: bool = True) -> Optional[int]:
    """Append the rest of ``url`` to ``partial``; return the full size the server announced."""
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"User-Agent": "ganorama"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not offset or not retry_on_416:
            raise
        # Range not satisfiable: the partial file is already complete, or is not a prefix.
        _, total = _parse_content_range(error.headers.get("Content-Range", ""))
        error.close()
        if total == offset:
            return total
        partial.unlink()
        return _transfer(url, partial, progress=progress, timeout=timeout, retry_on_416=False)

    with response:
        if offset and response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                raise GanoramaError(f"server for {url} resumed at byte {start}, not {offset}; "
                                    f"delete {partial} and run again")
            mode = "ab"
        else:  # a whole file, perhaps because the server ignores Range
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        _copy_with_progress(response, partial, mode=mode, total=total, initial=offset, progress=progress)
    return total


def _copy_with_progress(response, path: Path, *, mode: str, total: Optional[int], initial: int,
                        progress: bool) -> None:
    """Stream ``response`` into ``path`` in chunks, with a tqdm bar on stderr."""
    from tqdm import tqdm

    name = path.name[: -len(_PARTIAL_SUFFIX)] if path.name.endswith(_PARTIAL_SUFFIX) else path.name
    with open(path, mode) as handle, tqdm(total=total, initial=initial, unit="B", unit_scale=True,
                                          unit_divisor=1024, desc=name, disable=not progress) as bar:
        while True:
            chunk = response.read(_CHUNK_SIZE)
            if not chunk:
                break
            handle.write(chunk)
            bar.update(len(chunk))


def _parse_content_range(value: str) -> Tuple[Optional[int], Optional[int]]:
    """``bytes START-END/TOTAL`` (or ``bytes */TOTAL``) -> (START, TOTAL); None where unknown."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


# --- integrity -----------------------------------------------------------------------


def sha256_file(path: Union[str, os.PathLike]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + _SIDECAR_SUFFIX)


def record_sha256(path: Path, digest: str) -> None:
    """Record ``digest`` for ``path`` in ``PATH.sha256`` (the format ``sha256sum -c`` reads)."""
    write_bytes_atomic(_sidecar(path), f"{digest}  {path.name}\n".encode(), overwrite=True)


def verify_recorded_sha256(path: Union[str, os.PathLike], label: str) -> None:
    """Check ``path`` against the sha256 recorded beside it; record one if there is none."""
    path = Path(path)
    sidecar = _sidecar(path)
    actual = sha256_file(path)
    if not sidecar.is_file():
        try:
            record_sha256(path, actual)
        except OSError:
            pass  # a read-only cache still works, just unguarded
        return
    fields = sidecar.read_text(encoding="utf-8", errors="replace").split()
    recorded = fields[0].lower() if fields else ""
    if actual != recorded:
        raise GanoramaError(f"cached file {path} is corrupted (its sha256 differs from the one recorded in {sidecar}); "
                            f"delete {path} and run 'ganorama download {label}' again")
