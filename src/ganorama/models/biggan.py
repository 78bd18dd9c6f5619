"""BigGAN-deep generator, checkpoint-compatible with ``pytorch_pretrained_biggan``.

The module tree (and so every state-dict key) follows the reference package:
``embeddings``, ``generator.gen_z``, ``generator.layers.N`` (GenBlocks with the
self-attention block inserted at ``attention_layer_position``), ``generator.bn`` and
``generator.conv_to_rgb``. ``generator.layers`` is public: panorama and big-image
generation hook its blocks by index, counted the way the reference counts them.

The architecture is a :class:`~ganorama.models.config.BigGANConfig`. Where the weights
come from is :mod:`~ganorama.models.weights`; reading and checking them is
:mod:`~ganorama.models.checkpoint`, which folds spectral normalisation into plain
weights once, at load time, so a forward pass is a plain convolutional network.
"""
from __future__ import annotations

import math
import os
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganorama.checks import check_truncation
from ganorama.devices import resolve_device, resolve_dtype
from ganorama.errors import UsageError
from ganorama.models.checkpoint import fold_spectral_norm, read_checkpoint, state_dict_mismatch, state_dict_problem
from ganorama.models.config import BigGANConfig
from ganorama.models.weights import resolve_checkpoint_dir


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
        if x.device.type == "cuda":
            attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)  # (B, HW, C/2)
        else:
            attended = unfused_attention(query, key, value)
        attended = attended.transpose(1, 2).reshape(batch, -1, height, width)
        return x + self.gamma * self.snconv1x1_o_conv(attended)


# Attention scores held at once off CUDA: a few views' worth (4 at 64x64), so that the
# scores and their softmax exist for those views only, not for a whole batch.
ATTENTION_CHUNK_SCORES = 2**24


def unfused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """softmax(query @ key^T) @ value, unscaled, a few views at a time: (B, L, d), (B, S, d),
    (B, S, e) -> (B, L, e).

    Off CUDA, PyTorch has no fused attention for values wider than the queries (C/2
    against C/8), and its fallback computes bfloat16 in float32: the two matmuls and the
    softmax written out are 3x faster in bfloat16 and 1.2x in float32 (18 views at 128
    on a 2-core CPU: 0.50 s -> 0.16 s in bfloat16)."""
    batch, length, _ = query.shape
    views = max(1, ATTENTION_CHUNK_SCORES // (length * key.shape[1]))
    attended = query.new_empty(batch, length, value.shape[-1])
    for start in range(0, batch, views):
        part = slice(start, start + views)
        scores = torch.bmm(query[part], key[part].transpose(1, 2))  # (b, L, S)
        torch.bmm(torch.softmax(scores, dim=-1), value[part], out=attended[part])
    return attended


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
        for block in config.block_shapes():  # the GenBlocks, self-attention among them
            if block.attention:
                layers.append(SelfAttention(block.in_channels))
            else:
                layers.append(GenBlock(block.in_channels, block.out_channels, condition_dim, block.upsample,
                                       config.n_stats, config.eps))
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

        ``dtype`` is float32, float16, bfloat16 or ``"auto"`` (float16 on CUDA,
        bfloat16 on a CPU with bfloat16 units, else float32: see :func:`ganorama.devices.resolve_dtype`).
        """
        # read_checkpoint has checked the config and weights and folded spectral norm.
        config, folded = read_checkpoint(resolve_checkpoint_dir(str(name_or_path)))
        device = resolve_device(device)
        return cls._assemble(config, folded, device=device, dtype=resolve_dtype(dtype, device))

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
        folded = fold_spectral_norm(state_dict)
        problem = state_dict_mismatch(config, folded)
        if problem:
            raise UsageError(f"state dict does not match its config: {problem}")
        return cls._assemble(config, folded, device=device, dtype=dtype)

    @classmethod
    def _assemble(
        cls,
        config: BigGANConfig,
        folded: Mapping[str, torch.Tensor],
        device: str | torch.device | None,
        dtype: torch.dtype | None,
    ) -> "BigGAN":
        """The model for a valid ``config`` and a folded state dict already checked to fit
        it (by :meth:`from_state_dict` or :func:`read_checkpoint`), ready for inference."""
        with torch.device("meta"):
            model = cls(config)
        model.load_state_dict(folded, assign=True)
        model.eval().requires_grad_(False)
        return model.to(device=device, dtype=dtype)
