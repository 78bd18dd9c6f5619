"""Converting a checkpoint to ``model.safetensors``, so that loading it never unpickles anything."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from ganorama.errors import UsageError
from ganorama.files import prepare_directory, remove_created_directories, write_bytes_atomic, write_with
from ganorama.models.checkpoint import read_checkpoint
from ganorama.models.config import CONFIG_NAME, SAFETENSORS_NAME
from ganorama.models.weights import local_checkpoint_dir
from ganorama.resources import check_disk


def convert_to_safetensors(directory: Union[str, os.PathLike], output: Union[str, os.PathLike, None] = None) -> Path:
    """Write the checkpoint in ``directory`` as ``model.safetensors``, spectral norm folded.

    The file goes beside ``config.json``, or into ``output`` with a copy of
    ``config.json``; it is written atomically and never replaces an existing file.
    Loading a directory with ``model.safetensors`` then never unpickles anything.
    Returns the path of the new file.
    """
    source_dir = local_checkpoint_dir(directory)
    target_dir = source_dir if output is None else Path(output).expanduser()
    if target_dir.exists() and not target_dir.is_dir():
        raise UsageError(f"output directory {target_dir} is a file, not a directory; choose a directory")
    target = target_dir / SAFETENSORS_NAME
    if target.exists():
        raise UsageError(f"{target} already exists; delete it or choose another output directory")
    config_bytes = (source_dir / CONFIG_NAME).read_bytes()
    config_target = target_dir / CONFIG_NAME
    copy_config = not (target_dir.exists() and target_dir.resolve() == source_dir.resolve())
    if copy_config and config_target.exists() and config_target.read_bytes() != config_bytes:
        raise UsageError(f"{config_target} already exists and differs from {source_dir / CONFIG_NAME}; "
                         "choose an empty output directory")

    _, state_dict = read_checkpoint(source_dir)
    # safetensors wants contiguous tensors that share no memory.
    tensors = {key: tensor.detach().contiguous().clone() for key, tensor in state_dict.items()}
    metadata = {"format": "pt", "converted_by": "ganorama", "spectral_norm": "folded"}
    needed = sum(tensor.numel() * tensor.element_size() for tensor in tensors.values()) + len(config_bytes)
    created = prepare_directory(target_dir)

    def save(temp: Path) -> None:
        from safetensors.torch import save_file

        save_file(tensors, str(temp), metadata=metadata)

    try:
        check_disk(needed, target_dir, "the converted checkpoint")
        write_with(target, save)
        if copy_config and not config_target.exists():
            write_bytes_atomic(config_target, config_bytes)
    except BaseException:
        if target.exists() and not config_target.exists():
            target.unlink()  # a checkpoint without its config loads nowhere: all or nothing
        remove_created_directories(created)
        raise
    return target
