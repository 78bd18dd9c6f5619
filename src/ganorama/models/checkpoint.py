"""Reading a BigGAN checkpoint directory: ``config.json`` and its weights, checked.

:func:`read_checkpoint` is the one reader every load goes through (the model, ``convert``):
it refuses, as a one-line :class:`~ganorama.errors.UsageError` naming the file, a bad
config, an empty, truncated, corrupted or unsafe weights file (a pickle is only ever read
by torch's weights-only unpickler), and weights whose keys or shapes do not fit the config.
Spectral normalisation is folded into plain weights here, once (:func:`fold_spectral_norm`).
The shapes a checkpoint must have come from the config alone (:func:`state_dict_shapes`),
so nothing here needs the network's module.
"""
from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Mapping

import torch

from ganorama.errors import GanoramaError, UsageError
from ganorama.models.config import CONFIG_NAME, SAFETENSORS_NAME, WEIGHTS_NAME, BigGANConfig

# The README section that shows how to re-save a trusted checkpoint that holds Python objects.
OBJECTS_README_SECTION = "Checkpoints that hold Python objects"


def read_checkpoint(directory: str | os.PathLike) -> tuple[BigGANConfig, dict[str, torch.Tensor]]:
    """Read ``config.json`` and the weights (``model.safetensors`` preferred, else
    ``pytorch_model.bin``) from ``directory``; returns the config and a state dict with
    spectral norm folded into plain weights. Never unpickles code.

    Everything a model load would refuse is refused here, as a one-line
    :class:`UsageError` naming the file: a bad config, an empty, truncated, corrupted or
    unsafe weights file, and weights whose keys or shapes do not fit the config.
    """
    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise UsageError(f"no {CONFIG_NAME} in {directory}; a BigGAN checkpoint directory needs "
                         f"{CONFIG_NAME} and {WEIGHTS_NAME} (or {SAFETENSORS_NAME})")
    config = BigGANConfig.from_json_file(config_path)
    weights_path = weights_file(directory)
    state_dict = read_state_dict(weights_path)
    try:
        folded = fold_spectral_norm(state_dict)
    except UsageError as error:
        raise UsageError(f"{weights_path}: {error}") from None
    problem = state_dict_mismatch(config, folded)
    if problem:
        raise UsageError(f"{weights_path} does not match {config_path}: {problem}")
    return config, folded


def weights_file(directory: str | os.PathLike) -> Path:
    """The weights file a load reads in ``directory``: ``model.safetensors`` if there is one."""
    directory = Path(directory)
    for name in (SAFETENSORS_NAME, WEIGHTS_NAME):
        if (directory / name).is_file():
            return directory / name
    raise UsageError(f"no {SAFETENSORS_NAME} or {WEIGHTS_NAME} in {directory}")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors in a weights file: safetensors, or a PyTorch pickle read by the
    weights-only unpickler, so nothing in the file runs.

    A file that is empty, truncated, corrupted, holds Python objects or is not a mapping
    of names to floating-point tensors is a :class:`UsageError` naming it; a file the
    operating system will not let us read is a :class:`GanoramaError`.
    """
    path = Path(path)
    if _readable_size(path) == 0:
        raise UsageError(f"{path} is empty: it holds no weights; download or copy it again")
    values = _load_safetensors(path) if path.suffix == ".safetensors" else _load_torch_pickle(path)
    problem = state_dict_problem(values)
    if problem:
        raise UsageError(f"{path} is not a BigGAN state dict: {problem}")
    return dict(values)


def state_dict_problem(values: object) -> str | None:
    """What makes ``values`` not a state dict of floating-point tensors, or None."""
    if not isinstance(values, Mapping):
        return f"it holds {_a_type(values)}, not a mapping of parameter names to tensors"
    if not values:
        return "it holds no tensors"
    for key, value in values.items():
        if not isinstance(key, str):
            return f"it has a key {key!r} that is not a parameter name"
        if not isinstance(value, torch.Tensor):
            hint = " (a training checkpoint? save the model's state_dict alone)" if isinstance(value, Mapping) else ""
            return f"entry {key!r} is {_a_type(value)}, not a tensor{hint}"
        if not value.is_floating_point():
            return f"tensor {key!r} has dtype {str(value.dtype).replace('torch.', '')}; weights are floating point"
    return None


def _a_type(value: object) -> str:
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def state_dict_mismatch(config: BigGANConfig, state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """How a folded ``state_dict`` differs from the model ``config`` builds, or None.

    Missing or unexpected keys come first; when the keys agree, the first tensor (in
    the model's order) whose shape differs, with its expected and actual shape.
    """
    return _mismatch(state_dict_shapes(config), state_dict)


def state_dict_shapes(config: BigGANConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in the state dict of the model ``config``
    describes (spectral norm folded), in the order of ``BigGAN(config).state_dict()``.

    Worked out from the config's blocks without building a model; a test holds it to
    the network's own state dict for every published architecture.
    """
    width, condition, n_stats = config.channel_width, 2 * config.z_dim, config.n_stats
    shapes = {
        "embeddings.weight": (config.z_dim, config.num_classes),
        "generator.gen_z.weight": (4 * 4 * 16 * width, condition),
        "generator.gen_z.bias": (4 * 4 * 16 * width,),
    }
    for index, block in enumerate(config.block_shapes()):
        prefix = f"generator.layers.{index}."
        channels = block.in_channels
        if block.attention:  # SelfAttention: gamma, then four bias-free 1x1 convolutions
            shapes[prefix + "gamma"] = (1,)
            for name, out, into in (("theta", channels // 8, channels), ("phi", channels // 8, channels),
                                    ("g", channels // 2, channels), ("o_conv", channels, channels // 2)):
                shapes[f"{prefix}snconv1x1_{name}.weight"] = (out, into, 1, 1)
            continue
        middle = channels // 4  # GenBlock: bn_i then conv_i, for i = 0..3
        convolutions = ((channels, middle, 1), (middle, middle, 3), (middle, middle, 3),
                        (middle, block.out_channels, 1))  # (in, out, kernel size)
        for i, (into, out, kernel) in enumerate(convolutions):
            shapes.update(_batch_norm_shapes(f"{prefix}bn_{i}.", into, n_stats, condition))
            shapes[f"{prefix}conv_{i}.weight"] = (out, into, kernel, kernel)
            shapes[f"{prefix}conv_{i}.bias"] = (out,)
    shapes.update(_batch_norm_shapes("generator.bn.", width, n_stats, None))
    shapes["generator.conv_to_rgb.weight"] = (width, width, 3, 3)
    shapes["generator.conv_to_rgb.bias"] = (width,)
    return shapes


def _batch_norm_shapes(prefix: str, channels: int, n_stats: int, condition: int | None) -> dict[str, tuple[int, ...]]:
    """A ConditionalBatchNorm's tensors: its own parameters (when not conditioned), its
    statistics, then its conditioning layers (when conditioned)."""
    statistics = {prefix + "running_means": (n_stats, channels), prefix + "running_vars": (n_stats, channels)}
    if condition is None:
        return {prefix + "weight": (channels,), prefix + "bias": (channels,), **statistics}
    conditioning = {prefix + "scale.weight": (channels, condition), prefix + "offset.weight": (channels, condition)}
    return {**statistics, **conditioning}


def _mismatch(expected: Mapping[str, tuple[int, ...]], state_dict: Mapping[str, torch.Tensor]) -> str | None:
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        return f"missing {_summarise(missing)}, unexpected {_summarise(unexpected)}"
    wrong = [key for key, shape in expected.items() if tuple(state_dict[key].shape) != shape]
    if not wrong:
        return None
    first = wrong[0]
    more = f" (and {len(wrong) - 1} more tensors with other shapes)" if len(wrong) > 1 else ""
    return (f"{first} has shape {list(state_dict[first].shape)}, the config expects "
            f"{list(expected[first])}{more}")


def _readable_size(path: Path) -> int:
    """The size of ``path``; GanoramaError if the operating system will not let us read it."""
    try:
        with open(path, "rb") as handle:
            return os.fstat(handle.fileno()).st_size
    except OSError as error:
        raise GanoramaError(f"cannot read {path}: {error.strerror or error}") from None


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, ValueError, TypeError, RuntimeError) as error:
        raise UsageError(f"{path} is not a readable safetensors file: it is truncated or corrupted "
                         f"({_error_summary(error)}); convert or download it again") from None


def _load_torch_pickle(path: Path) -> object:
    try:
        with warnings.catch_warnings():
            # torch warns on stderr about pickle protocols it may not read; the outcome is reported below.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:  # the weights-only unpickler refused something
        raise UsageError(_refused_pickle_message(path, str(error))) from None
    except Exception as error:  # truncation surfaces as EOFError, RuntimeError or OSError, by format
        raise UsageError(f"{path} cannot be read as PyTorch weights: it is truncated or corrupted "
                         f"({_error_summary(error)}); download or copy it again") from None


def _refused_pickle_message(path: Path, torch_message: str) -> str:
    """One line for a file the weights-only unpickler refused; never torch's own advice,
    which is to load it again with ``weights_only=False`` (running whatever it holds)."""
    how = (f"if you trust it, re-save its tensors as {SAFETENSORS_NAME} in your own Python session "
           f"(README: \"{OBJECTS_README_SECTION}\")")
    # torch names the refused class or function as "GLOBAL module.name" (in several phrasings).
    found = re.search(r"\bGLOBAL ([\w.]+)", torch_message)
    if found:
        return (f"{path} holds Python objects other than tensors ({found.group(1)}), so it was not loaded: "
                f"unpickling them could run code; {how}")
    operand = re.search(r"Unsupported operand (\d+)", torch_message)
    reason = f"pickle opcode {operand.group(1)}" if operand else "content the weights-only reader refuses"
    return (f"{path} was not loaded: it is not plain PyTorch weights ({reason}); it is corrupted, "
            f"or a pickle that may hold code; {how}")


def _error_summary(error: BaseException, limit: int = 160) -> str:
    """``Type: first line`` of ``error``, shortened to one line of at most ``limit`` characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fold_spectral_norm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every spectrally normalised ``X.weight_orig``/``X.weight_u``[/``X.weight_v``]
    /[``X.weight``] group by one plain ``X.weight = weight_orig / sigma``.

    sigma is what current PyTorch uses for inference when it loads such a state dict:
    - legacy (PyTorch 1.0) files store the normalised ``weight`` and no ``weight_v``;
      PyTorch then takes sigma = mean(weight_orig / weight). That mean is NaN as soon as
      one entry is exactly 0 (0/0), so we average the ratio over the non-zero entries
      only, which is the same number whenever the reference's is finite.
    - newer files store ``weight_v``: sigma = u . (W v), W = weight_orig as a matrix.
    Tensors that are not part of a spectral-norm group pass through unchanged. A group
    that cannot be folded (parts missing or of the wrong shape, sigma 0 or not finite)
    is a :class:`UsageError` naming the layer.
    """
    folded: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.endswith(("weight_u", "weight_v")):
            continue
        if key.endswith("weight_orig"):
            prefix = key[: -len("weight_orig")]
            folded[prefix + "weight"] = _fold_one(prefix, value, state_dict)
        elif key.endswith("weight") and (key + "_orig") in state_dict:
            continue  # the legacy normalised copy; folded from weight_orig instead
        else:
            folded[key] = value
    return folded


def _fold_one(prefix: str, weight_orig: torch.Tensor, state_dict: Mapping[str, torch.Tensor]) -> torch.Tensor:
    layer = prefix.rstrip(".")
    if weight_orig.dim() == 0:
        raise UsageError(f"spectral-norm layer {layer} has a scalar weight_orig; expected a matrix or kernel")
    original = weight_orig.float()
    rows, columns = original.shape[0], original[0].numel()
    if prefix + "weight" in state_dict:
        normalised = state_dict[prefix + "weight"].float()
        if normalised.shape != original.shape:
            raise UsageError(f"spectral-norm layer {layer} has weight of shape {list(normalised.shape)} "
                             f"but weight_orig of shape {list(original.shape)}; they must agree")
        nonzero = normalised != 0
        count = int(nonzero.sum())
        ratios = torch.where(nonzero, original / torch.where(nonzero, normalised, 1.0), 0.0)
        sigma = ratios.sum(dtype=torch.float64) / count if count else torch.tensor(1.0, dtype=torch.float64)
    elif prefix + "weight_v" in state_dict and prefix + "weight_u" in state_dict:
        u = state_dict[prefix + "weight_u"].double()
        v = state_dict[prefix + "weight_v"].double()
        if tuple(u.shape) != (rows,) or tuple(v.shape) != (columns,):
            raise UsageError(f"spectral-norm layer {layer} has weight_u of shape {list(u.shape)} and weight_v of "
                             f"shape {list(v.shape)}; weight_orig {list(original.shape)} needs [{rows}] and "
                             f"[{columns}]")
        sigma = torch.dot(u, original.double().reshape(rows, -1) @ v)
    else:
        raise UsageError(f"spectral-norm layer {layer} has weight_orig but neither weight nor weight_u and weight_v")
    if not torch.isfinite(sigma) or sigma == 0:
        raise UsageError(f"spectral-norm layer {layer} has an invalid scale ({float(sigma)}); the file is corrupted")
    return (original / float(sigma)).to(weight_orig.dtype)


def _summarise(keys: list[str], limit: int = 3) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown
