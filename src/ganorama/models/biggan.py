"""BigGAN-deep generator, checkpoint-compatible with ``pytorch_pretrained_biggan``.

The module tree (and so every state-dict key) follows the reference package:
``embeddings``, ``generator.gen_z``, ``generator.layers.N`` (GenBlocks with the
self-attention block inserted at ``attention_layer_position``), ``generator.bn`` and
``generator.conv_to_rgb``. ``generator.layers`` is public: panorama and big-image
generation hook its blocks by index, counted the way the reference counts them.

Spectral normalisation is folded into plain weights once, at load time (see
:func:`fold_spectral_norm`), so a forward pass is a plain convolutional network.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import pickle
import re
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganorama.devices import resolve_device, resolve_dtype
from ganorama.errors import GanoramaError, UsageError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "pytorch_model.bin"
SAFETENSORS_NAME = "model.safetensors"

_BIGGAN_DEEP_128_LAYERS = [
    [False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8],
    [True, 8, 4], [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1],
]  # fmt: skip


@dataclass
class BigGANConfig:
    """Architecture of a BigGAN-deep generator, as stored in the checkpoints' ``config.json``.

    ``layers`` holds one ``[upsample, in_mult, out_mult]`` triple per GenBlock; channel
    counts are multiples of ``channel_width``. Defaults are biggan-deep-128.
    """

    output_dim: int = 128
    z_dim: int = 128
    class_embed_dim: int = 128
    channel_width: int = 128
    num_classes: int = 1000
    layers: list = field(default_factory=lambda: [list(layer) for layer in _BIGGAN_DEEP_128_LAYERS])
    attention_layer_position: int = 8
    eps: float = 1e-4
    n_stats: int = 51

    @classmethod
    def from_dict(cls, values: Mapping, *, source: str | os.PathLike | None = None) -> "BigGANConfig":
        """The config in ``values`` (a parsed ``config.json``), checked by :func:`config_problem`.

        Every key is required, as in the published files; unknown keys are ignored. A bad
        value is a :class:`UsageError` naming ``source`` (the file), the key and what is allowed.
        """
        _raise_if_invalid(config_problem(values), source)
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known})
        config.layers = [list(layer) for layer in config.layers]  # a copy: the caller keeps its lists
        return config

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BigGANConfig":
        """Read and check a ``config.json``; any problem is a one-line error naming ``path``."""
        return cls.from_dict(read_config_json(path), source=path)

    def validate(self) -> None:
        """Raise a :class:`UsageError` if this config is not a buildable BigGAN-deep
        architecture (the same checks as :meth:`from_dict`)."""
        _raise_if_invalid(config_problem(self.to_dict()), None)

    @classmethod
    def preset(cls, name: str) -> "BigGANConfig":
        """The architecture of a published model: ``biggan-deep-128``, ``-256`` or ``-512``."""
        layers = [list(layer) for layer in _BIGGAN_DEEP_128_LAYERS]
        # 256 and 512 insert one more pair of blocks at 8x width, and 512 a last pair at 1x.
        extra_at_8 = [[True, 8, 8], [False, 8, 8]]
        if name == "biggan-deep-128":
            return cls(output_dim=128, layers=layers)
        wide = layers[:5] + extra_at_8 + [[True, 8, 4]] + layers[6:]
        if name == "biggan-deep-256":
            return cls(output_dim=256, layers=wide)
        if name == "biggan-deep-512":
            return cls(output_dim=512, layers=wide + [[False, 1, 1], [True, 1, 1]])
        raise UsageError(f"unknown model {name!r}; known: biggan-deep-128, biggan-deep-256, biggan-deep-512")

    def to_dict(self) -> dict:
        return asdict(self)

    def block_resolutions(self) -> list[int]:
        """Output height (= width) of each block in ``generator.layers``, in order."""
        resolutions, size = [], 4
        for index, (upsample, _, _) in enumerate(self.layers):
            if index == self.attention_layer_position:
                resolutions.append(size)
            size *= 2 if upsample else 1
            resolutions.append(size)
        return resolutions

    @property
    def num_blocks(self) -> int:
        """Number of hookable blocks in ``generator.layers`` (GenBlocks plus attention)."""
        return len(self.layers) + 1


class ConditionalBatchNorm(nn.Module):
    """Batch norm with frozen statistics per truncation and a class/noise-conditioned affine.

    ``running_means``/``running_vars`` hold statistics for ``n_stats`` truncation values
    evenly spaced on [0, 1]; :func:`statistics_for_truncation` picks between them.
    """

    def __init__(self, num_features: int, condition_dim: int | None, n_stats: int, eps: float):
        super().__init__()
        self.eps = eps
        self.register_buffer("running_means", torch.zeros(n_stats, num_features))
        self.register_buffer("running_vars", torch.ones(n_stats, num_features))
        self.conditional = condition_dim is not None
        if self.conditional:
            self.scale = nn.Linear(condition_dim, num_features, bias=False)
            self.offset = nn.Linear(condition_dim, num_features, bias=False)
        else:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor, truncation: float, condition: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W); ``condition`` is (B, condition_dim)."""
        mean, var = statistics_for_truncation(self.running_means, self.running_vars, truncation)
        inv_std = torch.rsqrt(var + self.eps)
        if self.conditional:
            gain = (1 + self.scale(condition)) * inv_std  # (B, C)
            shift = self.offset(condition) - mean * gain
        else:
            gain = (self.weight * inv_std).unsqueeze(0)
            shift = (self.bias - mean * self.weight * inv_std).unsqueeze(0)
        # One fused multiply-add instead of subtract, divide, multiply, add.
        return torch.addcmul(shift[:, :, None, None], x, gain[:, :, None, None])


def statistics_for_truncation(
    running_means: torch.Tensor, running_vars: torch.Tensor, truncation: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance (C,) for ``truncation`` from tables of shape (n_stats, C).

    Mirrors the reference exactly, including its quirk: with ``truncation / step = i + f``
    it returns ``stats[i] * f + stats[i + 1] * (1 - f)`` (the weights are swapped with
    respect to linear interpolation). The published models were used this way, so
    matching images requires matching it.
    """
    step = 1.0 / (running_means.shape[0] - 1)
    coef, start = math.modf(truncation / step)
    start = int(start)
    if coef == 0.0:
        return running_means[start], running_vars[start]
    mean = running_means[start] * coef + running_means[start + 1] * (1 - coef)
    var = running_vars[start] * coef + running_vars[start + 1] * (1 - coef)
    return mean, var


class SelfAttention(nn.Module):
    """SAGAN self-attention with 2x2 max-pooled keys/values; (B, C, H, W) -> same shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.snconv1x1_theta = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_phi = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.snconv1x1_g = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.snconv1x1_o_conv = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        query = self.snconv1x1_theta(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        key = F.max_pool2d(self.snconv1x1_phi(x), 2).flatten(2).transpose(1, 2)  # (B, HW/4, C/8)
        value = F.max_pool2d(self.snconv1x1_g(x), 2).flatten(2).transpose(1, 2)  # (B, HW/4, C/2)
        # Unscaled dot-product softmax attention, as in SAGAN (scale=1, not 1/sqrt(d)).
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)  # (B, HW, C/2)
        attended = attended.transpose(1, 2).reshape(batch, -1, height, width)
        return x + self.gamma * self.snconv1x1_o_conv(attended)


class GenBlock(nn.Module):
    """Bottleneck residual block of BigGAN-deep; optionally doubles the resolution.

    (B, C_in, H, W) -> (B, C_out, H', W') with H' = 2H when ``upsample``.
    """

    def __init__(self, in_channels: int, out_channels: int, condition_dim: int, upsample: bool, n_stats: int, eps: float):
        super().__init__()
        middle = in_channels // 4
        self.upsample = upsample
        self.drop_channels = in_channels != out_channels
        self.bn_0 = ConditionalBatchNorm(in_channels, condition_dim, n_stats, eps)
        self.conv_0 = nn.Conv2d(in_channels, middle, 1)
        self.bn_1 = ConditionalBatchNorm(middle, condition_dim, n_stats, eps)
        self.conv_1 = nn.Conv2d(middle, middle, 3, padding=1)
        self.bn_2 = ConditionalBatchNorm(middle, condition_dim, n_stats, eps)
        self.conv_2 = nn.Conv2d(middle, middle, 3, padding=1)
        self.bn_3 = ConditionalBatchNorm(middle, condition_dim, n_stats, eps)
        self.conv_3 = nn.Conv2d(middle, out_channels, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor, truncation: float) -> torch.Tensor:
        shortcut = x
        x = self.conv_0(F.relu(self.bn_0(x, truncation, condition)))
        x = F.relu(self.bn_1(x, truncation, condition))
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv_1(x)
        x = self.conv_2(F.relu(self.bn_2(x, truncation, condition)))
        x = self.conv_3(F.relu(self.bn_3(x, truncation, condition)))

        if self.drop_channels:
            shortcut = shortcut[:, : shortcut.shape[1] // 2]
        if self.upsample:
            shortcut = F.interpolate(shortcut, scale_factor=2, mode="nearest")
        return x + shortcut


class Generator(nn.Module):
    def __init__(self, config: BigGANConfig):
        super().__init__()
        self.config = config
        width = config.channel_width
        condition_dim = config.z_dim * 2
        self.gen_z = nn.Linear(condition_dim, 4 * 4 * 16 * width)

        layers: list[nn.Module] = []
        for index, (upsample, in_mult, out_mult) in enumerate(config.layers):
            if index == config.attention_layer_position:
                layers.append(SelfAttention(width * in_mult))
            layers.append(GenBlock(width * in_mult, width * out_mult, condition_dim, upsample, config.n_stats, config.eps))
        self.layers = nn.ModuleList(layers)

        self.bn = ConditionalBatchNorm(width, None, config.n_stats, config.eps)
        self.conv_to_rgb = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, condition: torch.Tensor, truncation: float) -> torch.Tensor:
        """(B, 2 * z_dim) condition vectors -> (B, 3, S, S) in [-1, 1]."""
        x = self.stem(condition)
        for index in range(len(self.layers)):
            x = self.run_block(index, x, condition, truncation)
        return self.head(x, truncation)

    # The three stages of ``forward``, public so a runner can schedule them itself (e.g. a
    # few images at a time through the high-resolution blocks); ``forward`` is exactly them.

    def stem(self, condition: torch.Tensor) -> torch.Tensor:
        """(B, 2 * z_dim) -> the 4x4 seed features (B, 16 * width, 4, 4)."""
        x = self.gen_z(condition)
        # The weights come from TensorFlow: the 4x4 seed is laid out (B, H, W, C). Viewed as
        # (B, C, H, W) that is channels_last memory, which we keep rather than copy: the
        # convolutions that follow run faster in it (1.40 s -> 1.15 s for 16 images at 128
        # on a 2-core CPU), and the layout carries through every block.
        x = x.view(-1, 4, 4, 16 * self.config.channel_width).permute(0, 3, 1, 2)
        return x.contiguous(memory_format=torch.channels_last)

    def run_block(self, index: int, x: torch.Tensor, condition: torch.Tensor, truncation: float) -> torch.Tensor:
        """Block ``index`` of ``layers`` on (B, C, H, W) features; ``condition`` is (B, 2 * z_dim).
        Called through the module, so forward hooks on the block fire."""
        layer = self.layers[index]
        return layer(x, condition, truncation) if isinstance(layer, GenBlock) else layer(x)

    def head(self, x: torch.Tensor, truncation: float) -> torch.Tensor:
        """Last features (B, width, S, S) -> (B, 3, S, S) in [-1, 1]."""
        x = F.relu(self.bn(x, truncation))
        # Only the first three output channels are RGB; convolve just those.
        rgb = F.conv2d(x, self.conv_to_rgb.weight[:3], self.conv_to_rgb.bias[:3], padding=1)
        return torch.tanh(rgb)


class BigGAN(nn.Module):
    """BigGAN-deep: ``model(z, class_vector, truncation)`` -> (B, 3, S, S) tanh output in [-1, 1].

    ``z`` is (B, z_dim) noise, ``class_vector`` (B, num_classes) one-hot or mixed class
    weights, ``truncation`` a float in (0, 1].
    """

    def __init__(self, config: BigGANConfig):
        super().__init__()
        self.config = config
        self.embeddings = nn.Linear(config.num_classes, config.z_dim, bias=False)
        self.generator = Generator(config)

    @property
    def blocks(self) -> nn.ModuleList:
        """The hookable blocks, in the reference's order (attention counted as a block)."""
        return self.generator.layers

    def forward(self, z: torch.Tensor, class_vector: torch.Tensor, truncation: float) -> torch.Tensor:
        check_truncation(truncation)
        return self.generator(self.condition(z, class_vector), float(truncation))

    def condition(self, z: torch.Tensor, class_vector: torch.Tensor) -> torch.Tensor:
        """(B, z_dim) noise and (B, num_classes) class weights -> (B, 2 * z_dim), the vector
        every block is conditioned on."""
        return torch.cat((z, self.embeddings(class_vector)), dim=1)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
    ) -> "BigGAN":
        """Load a published model by name (``biggan-deep-128|256|512``), a hub repo
        (``hf:OWNER/REPO``) or a local directory / weights file, ready for inference.

        ``dtype`` is float32, float16, bfloat16 or ``"auto"`` (float16 on CUDA, else float32).
        """
        from ganorama.models.weights import resolve_checkpoint_dir

        directory = resolve_checkpoint_dir(str(name_or_path))
        config, state_dict = read_checkpoint(directory)
        device = resolve_device(device)
        return cls.from_state_dict(config, state_dict, device=device, dtype=resolve_dtype(dtype, device))

    @classmethod
    def from_state_dict(
        cls,
        config: BigGANConfig,
        state_dict: Mapping[str, torch.Tensor],
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> "BigGAN":
        """Build a model from a (possibly spectral-norm, possibly legacy) state dict.

        A config that is not a BigGAN-deep architecture, or a state dict whose keys or
        shapes do not fit it, is a one-line :class:`UsageError`.
        """
        config.validate()
        problem = state_dict_problem(state_dict)
        if problem:
            raise UsageError(f"not a BigGAN state dict: {problem}")
        with torch.device("meta"):
            model = cls(config)
        folded = fold_spectral_norm(state_dict)
        problem = _mismatch(_shapes(model.state_dict()), folded)
        if problem:
            raise UsageError(f"state dict does not match its config: {problem}")
        model.load_state_dict(folded, assign=True)
        model.eval().requires_grad_(False)
        return model.to(device=device, dtype=dtype)


def check_truncation(truncation: float) -> None:
    if not (isinstance(truncation, (int, float)) and 0 < truncation <= 1):
        raise UsageError(f"truncation {truncation!r} is out of range; allowed: 0 < truncation <= 1")


# --- checkpoints -------------------------------------------------------------------

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
    with torch.device("meta"):
        model = BigGAN(config)
    return _mismatch(_shapes(model.state_dict()), state_dict)


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


def _shapes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(tensor.shape) for key, tensor in state_dict.items()}


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


# --- configs -------------------------------------------------------------------------

PUBLISHED_MODELS = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")

_POSITIVE_INT_KEYS = ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes")
_LAYER_FORM = "[upsample (true or false), in_mult (integer >= 1), out_mult (integer >= 1)]"


def identify_model(config: BigGANConfig) -> str | None:
    """The published model (``biggan-deep-128|256|512``) whose architecture ``config``
    describes, else None. ``eps`` and ``n_stats`` are not compared: the presets share them."""
    wanted = _architecture(config)
    return next((name for name in PUBLISHED_MODELS if _architecture(BigGANConfig.preset(name)) == wanted), None)


def _architecture(config: BigGANConfig) -> tuple:
    layers = tuple((bool(up), int(in_mult), int(out_mult)) for up, in_mult, out_mult in config.layers)
    return (config.output_dim, config.z_dim, config.class_embed_dim, config.channel_width, config.num_classes,
            layers, config.attention_layer_position)


def read_config_json(path: str | os.PathLike) -> object:
    """The parsed JSON in ``path``: UsageError if it is missing, empty or not JSON,
    GanoramaError if the operating system will not let us read it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; a BigGAN checkpoint directory needs {CONFIG_NAME}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not a valid BigGAN config: it is not UTF-8 JSON text") from None
    except OSError as error:
        raise GanoramaError(f"cannot read {path}: {error.strerror or error}") from None
    if not text.strip():
        raise UsageError(f"{path} is empty; a BigGAN config is a JSON object with the keys {', '.join(_config_keys())}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise UsageError(f"{path} is not valid JSON ({error.msg} at {where})") from None


def config_problem(values: object) -> str | None:
    """What makes ``values`` (a parsed ``config.json``) not a BigGAN-deep architecture, or None.

    Checked from the most basic up, so the one problem reported is the first to fix: the
    JSON's shape, each key's type and range, then whether the keys fit together (block
    channels chain, the output size is what the up-sampling layers give).
    """
    keys = _config_keys()
    if not isinstance(values, Mapping):
        return f"it holds {_describe(values)}, not a JSON object with the keys {', '.join(keys)}"
    missing = [key for key in keys if key not in values]
    if missing:
        return f"it lacks {', '.join(missing)} (a BigGAN config needs {', '.join(keys)})"
    for check in (_value_problem, _layers_problem, _architecture_problem):
        problem = check(values)
        if problem:
            return problem
    return None


def _config_keys() -> list[str]:
    return [f.name for f in fields(BigGANConfig)]


def _raise_if_invalid(problem: str | None, source: str | os.PathLike | None) -> None:
    if problem is not None:
        where = f"{source} is not a valid BigGAN config" if source is not None else "invalid BigGAN config"
        raise UsageError(f"{where}: {problem}")


def _value_problem(values: Mapping) -> str | None:
    for key in _POSITIVE_INT_KEYS:
        if not _is_int(values[key]) or values[key] < 1:
            return _bad_value(key, values[key], "an integer >= 1")
    if not _is_int(values["n_stats"]) or values["n_stats"] < 2:
        return _bad_value("n_stats", values["n_stats"], "an integer >= 2 (statistics for two or more truncations)")
    eps = values["eps"]
    if not (isinstance(eps, numbers.Real) and not isinstance(eps, bool) and math.isfinite(eps) and eps > 0):
        return _bad_value("eps", eps, "a number > 0")
    if not _is_int(values["attention_layer_position"]):
        return _bad_value("attention_layer_position", values["attention_layer_position"], "an integer")
    return None


def _layers_problem(values: Mapping) -> str | None:
    layers = values["layers"]
    if not isinstance(layers, (list, tuple)) or not layers:
        return _bad_value("layers", layers, f"a non-empty list of {_LAYER_FORM} triples")
    for index, layer in enumerate(layers):
        if not (isinstance(layer, (list, tuple)) and len(layer) == 3 and isinstance(layer[0], bool)
                and all(_is_int(mult) and mult >= 1 for mult in layer[1:])):
            return f"layers[{index}] is {_describe(layer)}; allowed: {_LAYER_FORM}"
    return None


def _architecture_problem(values: Mapping) -> str | None:
    """Whether the (well-typed) keys describe a generator that can run: the forward pass
    would otherwise fail later with a shape error, or produce images of another size."""
    layers, width, position = values["layers"], values["channel_width"], values["attention_layer_position"]
    if not 0 <= position < len(layers):
        return _bad_value("attention_layer_position", position,
                          f"0 to {len(layers) - 1} (an index into the {len(layers)} layers)")
    if layers[0][1] != 16:
        return f"layers[0] has in_mult {layers[0][1]}; allowed: 16 (the 4x4 seed has 16 * channel_width channels)"
    for index, (_, in_mult, out_mult) in enumerate(layers):
        if index and in_mult != layers[index - 1][2]:
            return (f"layers[{index}] has in_mult {in_mult} but layers[{index - 1}] ends with out_mult "
                    f"{layers[index - 1][2]}; a block takes the channels of the one before")
        if out_mult not in (in_mult, in_mult / 2):
            return (f"layers[{index}] goes from in_mult {in_mult} to out_mult {out_mult}; "
                    "allowed: out_mult = in_mult or in_mult / 2")
    if layers[-1][2] != 1:
        return f"the last layer has out_mult {layers[-1][2]}; allowed: 1 (the output has channel_width channels)"
    smallest = min(in_mult for _, in_mult, _ in layers)
    if width < 3 or width * smallest < 4 or width * layers[position][1] < 8:
        return (f"channel_width {width} is too small for these layers; allowed: at least 3 (RGB), with "
                "channel_width * in_mult >= 4 in every layer and >= 8 at the attention layer")
    upsampling = sum(1 for upsample, _, _ in layers if upsample)
    expected = 4 * 2**upsampling
    if values["output_dim"] != expected:
        return (f"output_dim is {values['output_dim']} but the layers up-sample {upsampling} times from 4x4, "
                f"which gives {expected}x{expected} images; allowed: {expected}")
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bad_value(key: str, value: object, allowed: str) -> str:
    return f"{key} is {_describe(value)}; allowed: {allowed}"


def _describe(value: object, limit: int = 40) -> str:
    """``value`` as JSON with its JSON type, e.g. ``"128" (a string)``, shortened to one line."""
    kinds = ((bool, "a boolean"), (numbers.Integral, "an integer"), (numbers.Real, "a number"), (str, "a string"),
             ((list, tuple), "a list"), (Mapping, "an object"))
    if value is None:
        return "null"
    kind = next((name for types, name in kinds if isinstance(value, types)), type(value).__name__)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{text} ({kind})"
