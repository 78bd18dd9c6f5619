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
import os
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
    def from_dict(cls, values: Mapping) -> "BigGANConfig":
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known})
        config.layers = [[bool(up), int(i), int(o)] for up, i, o in config.layers]
        return config

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BigGANConfig":
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

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
        """Build a model from a (possibly spectral-norm, possibly legacy) state dict."""
        with torch.device("meta"):
            model = cls(config)
        folded = fold_spectral_norm(state_dict)
        missing, unexpected = _key_mismatch(model, folded)
        if missing or unexpected:
            raise GanoramaError(
                "checkpoint does not match its config.json: "
                f"missing {_summarise(missing)}, unexpected {_summarise(unexpected)}"
            )
        model.load_state_dict(folded, assign=True)
        model.eval().requires_grad_(False)
        return model.to(device=device, dtype=dtype)


def check_truncation(truncation: float) -> None:
    if not (isinstance(truncation, (int, float)) and 0 < truncation <= 1):
        raise UsageError(f"truncation {truncation!r} is out of range; allowed: 0 < truncation <= 1")


# --- checkpoints -------------------------------------------------------------------


def read_checkpoint(directory: str | os.PathLike) -> tuple[BigGANConfig, dict[str, torch.Tensor]]:
    """Read ``config.json`` and the weights (``model.safetensors`` preferred, else
    ``pytorch_model.bin``) from ``directory``; returns the config and a state dict with
    spectral norm folded into plain weights. Never unpickles code."""
    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise GanoramaError(f"no {CONFIG_NAME} in {directory}; a BigGAN checkpoint directory needs "
                            f"{CONFIG_NAME} and {WEIGHTS_NAME} (or {SAFETENSORS_NAME})")
    try:
        config = BigGANConfig.from_json_file(config_path)
    except (ValueError, TypeError) as error:
        raise GanoramaError(f"{config_path} is not a valid BigGAN config: {error}") from None

    if (directory / SAFETENSORS_NAME).is_file():
        from safetensors.torch import load_file

        state_dict = load_file(str(directory / SAFETENSORS_NAME))
    elif (directory / WEIGHTS_NAME).is_file():
        try:
            state_dict = torch.load(directory / WEIGHTS_NAME, map_location="cpu", weights_only=True)
        except Exception as error:  # unpickling errors come in many types
            raise GanoramaError(f"cannot read {directory / WEIGHTS_NAME}: {str(error).splitlines()[0]}") from None
    else:
        raise GanoramaError(f"no {SAFETENSORS_NAME} or {WEIGHTS_NAME} in {directory}")
    return config, fold_spectral_norm(state_dict)


def fold_spectral_norm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every spectrally normalised ``X.weight_orig``/``X.weight_u``[/``X.weight_v``]
    /[``X.weight``] group by one plain ``X.weight = weight_orig / sigma``.

    sigma is what current PyTorch uses for inference when it loads such a state dict:
    - legacy (PyTorch 1.0) files store the normalised ``weight`` and no ``weight_v``;
      PyTorch then takes sigma = mean(weight_orig / weight). That mean is NaN as soon as
      one entry is exactly 0 (0/0), so we average the ratio over the non-zero entries
      only, which is the same number whenever the reference's is finite.
    - newer files store ``weight_v``: sigma = u . (W v), W = weight_orig as a matrix.
    Tensors that are not part of a spectral-norm group pass through unchanged.
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
    original = weight_orig.float()
    if prefix + "weight" in state_dict:
        normalised = state_dict[prefix + "weight"].float()
        nonzero = normalised != 0
        count = int(nonzero.sum())
        ratios = torch.where(nonzero, original / torch.where(nonzero, normalised, 1.0), 0.0)
        sigma = ratios.sum(dtype=torch.float64) / count if count else torch.tensor(1.0, dtype=torch.float64)
    elif prefix + "weight_v" in state_dict:
        u = state_dict[prefix + "weight_u"].double()
        v = state_dict[prefix + "weight_v"].double()
        sigma = torch.dot(u, original.double().reshape(original.shape[0], -1) @ v)
    else:
        raise GanoramaError(f"spectral-norm layer {prefix.rstrip('.')} has neither weight nor weight_v")
    if not torch.isfinite(sigma) or sigma == 0:
        raise GanoramaError(f"spectral-norm layer {prefix.rstrip('.')} has an invalid scale ({float(sigma)})")
    return (original / float(sigma)).to(weight_orig.dtype)


def _key_mismatch(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    expected = set(model.state_dict().keys())
    given = set(state_dict.keys())
    return sorted(expected - given), sorted(given - expected)


def _summarise(keys: list[str], limit: int = 3) -> str:
    if not keys:
        return "none"
    shown = ", ".join(keys[:limit])
    return f"{shown} (+{len(keys) - limit} more)" if len(keys) > limit else shown


def identify_model(config: BigGANConfig) -> str | None:
    """The published model (``biggan-deep-128|256|512``) whose architecture ``config``
    has, or None for any other architecture."""
    for name in ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512"):
        preset = BigGANConfig.preset(name)
        if all(getattr(config, key) == getattr(preset, key) for key in
               ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes", "layers",
                "attention_layer_position")):  # fmt: skip
            return name
    return None
