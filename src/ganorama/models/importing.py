"""Putting a local checkpoint into the model cache under a published name
(``ganorama download biggan-deep-128 --from DIR``), so that ``-m NAME`` finds it later
with no ``--weights`` and no network.

The checkpoint is checked first, exactly as a load checks it (its ``config.json`` must
be that name's architecture, its weights must read and fit the config), then copied into
``$HF_HOME/ganorama/NAME`` file by file, each under a temporary name and linked into
place with its sha256 recorded beside it, the config last: a killed import leaves no
copy that a later run would take for a whole one.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Union

from ganorama.errors import UsageError
from ganorama.files import write_with
from ganorama.models.checkpoint import read_checkpoint, weights_file
from ganorama.models.config import CONFIG_NAME, PUBLISHED_MODELS, BigGANConfig, identify_model
from ganorama.models.weights import cached_copy, local_checkpoint_dir, record_sha256, sha256_file, url_cache_dir

_CHUNK_SIZE = 1 << 20


def import_checkpoint(name: str, source: Union[str, os.PathLike]) -> Path:
    """Copy the checkpoint at ``source`` (a directory, or a file beside its config.json)
    into the cache as the published model ``name``; return the cached directory.

    UsageError when ``name`` is not a published model, when ``source`` holds another
    architecture or weights that do not fit it, or when the cache already holds other
    weights under ``name``. Importing the same weights again only checks them."""
    if name not in PUBLISHED_MODELS:
        raise UsageError(f"--from imports a published model; {name!r} is not one (allowed: {', '.join(PUBLISHED_MODELS)})")
    directory = local_checkpoint_dir(source)
    found = identify_model(BigGANConfig.from_json_file(directory / CONFIG_NAME))
    if found != name:
        advice = f"import it as {found}" if found else "use it with --weights DIR instead"
        raise UsageError(f"{directory} holds {found or 'a custom architecture'}, not {name} (by its {CONFIG_NAME}); "
                         + advice)
    weights = weights_file(directory)
    target = url_cache_dir(name)
    existing = cached_copy(target, name)
    if existing is not None:
        if sha256_file(weights_file(existing)) == sha256_file(weights):
            return existing
        raise UsageError(f"the cache already holds other weights for {name} in {existing}; delete that folder "
                         "to import these instead")
    read_checkpoint(directory)  # the weights read and fit the config: refused now, not at the first run
    _remove_incomplete_copy(target)
    _copy_recorded(weights, target / weights.name)
    _copy_recorded(directory / CONFIG_NAME, target / CONFIG_NAME)  # last: now the copy is whole
    return target


def _remove_incomplete_copy(target: Path) -> None:
    """What a killed import or download left in ``target`` (files without a config beside
    them are no checkpoint, and would refuse the new copies' names)."""
    if not target.is_dir():
        return
    for path in target.iterdir():
        if path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _copy_recorded(source: Path, destination: Path) -> Path:
    """Copy ``source`` to ``destination`` atomically, its sha256 recorded beside it
    before it is linked into place (so no cached file is ever without its record)."""
    digest = hashlib.sha256()

    def copy(temp: Path) -> None:
        with open(source, "rb") as reader, open(temp, "wb") as writer:
            for chunk in iter(lambda: reader.read(_CHUNK_SIZE), b""):
                digest.update(chunk)
                writer.write(chunk)
        record_sha256(destination, digest.hexdigest())

    destination.parent.mkdir(parents=True, exist_ok=True)
    return write_with(destination, copy)

