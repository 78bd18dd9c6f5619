"""Random-weight BigGAN-deep *test fixtures*, written the way the published checkpoints are.

These are not models anyone should look at: their images are noise-like. They exist so that
the real loading code (legacy spectral-norm keys, pre-1.6 serialization) and the reference
package can be exercised without downloading anything.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F

from ganorama.models.biggan import BigGANConfig


def small_config(width: int = 8, output_dim: int = 128) -> BigGANConfig:
    """The biggan-deep architecture at a small channel width (fast on a CPU).

    ``output_dim`` 128 keeps the full depth of biggan-deep-128; 64 and 32 use fewer
    up-sampling pairs, still halving channels 16 -> 1 and still with an attention block.
    """
    config = BigGANConfig.preset("biggan-deep-128")
    config.channel_width = width
    if output_dim == 64:
        config.layers = [[False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
                         [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1]]  # fmt: skip
        config.attention_layer_position = 6
    elif output_dim == 32:
        config.layers = [[False, 16, 16], [True, 16, 8], [False, 8, 8], [True, 8, 4],
                         [False, 4, 2], [True, 2, 1]]  # fmt: skip
        config.attention_layer_position = 4
    elif output_dim != 128:
        raise ValueError(f"small_config supports output_dim 128, 64 or 32, not {output_dim}")
    config.output_dim = output_dim
    return config


def random_reference_model(config: BigGANConfig, seed: int = 0):
    """A ``pytorch_pretrained_biggan.BigGAN`` with random weights and statistics."""
    from pytorch_pretrained_biggan import BigGAN as ReferenceBigGAN
    from pytorch_pretrained_biggan import BigGANConfig as ReferenceConfig

    generator = torch.Generator().manual_seed(seed)
    model = ReferenceBigGAN(ReferenceConfig.from_dict(config.to_dict()))
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_means"):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
            elif name.endswith("running_vars"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif name.endswith("gamma"):
                tensor.fill_(0.5)
            elif name.endswith(("weight_u", "weight_v")):
                tensor.copy_(F.normalize(torch.randn(tensor.shape, generator=generator), dim=0))
            elif name == "generator.bn.weight":
                tensor.copy_(1 + 0.1 * torch.randn(tensor.shape, generator=generator))
            elif name.endswith("bias") or name == "generator.bn.bias":
                tensor.copy_(0.05 * torch.randn(tensor.shape, generator=generator))
            else:
                weights = torch.randn(tensor.shape, generator=generator) / tensor[0].numel() ** 0.5
                # randn gives an exact 0 about once in 10^7 draws, and a full-size model has
                # 10^8 weights: keep zeros out unless a test asks for them (legacy_state_dict).
                weights[weights == 0] = 1e-4
                tensor.copy_(weights)
    return model.eval()


def legacy_state_dict(reference_model, zero_entries: int = 0, seed: int = 0) -> "OrderedDict[str, torch.Tensor]":
    """The model's weights in the PyTorch 1.0 layout: ``weight_orig``, ``weight_u`` and the
    normalised ``weight`` for every spectrally normalised layer, no ``weight_v``, no metadata.

    ``zero_entries`` sets that many entries of the first such layer exactly to zero, the case
    where the reference loader's sigma = mean(weight_orig / weight) becomes 0/0 = NaN.
    """
    modern = reference_model.state_dict()
    legacy: OrderedDict[str, torch.Tensor] = OrderedDict()
    zeroed = False
    generator = torch.Generator().manual_seed(seed)
    for key, tensor in modern.items():
        if key.endswith("weight_v"):
            continue
        if key.endswith("weight_orig"):
            prefix = key[: -len("weight_orig")]
            weight_orig = tensor.clone()
            if zero_entries and not zeroed:
                flat = weight_orig.view(-1)
                flat[torch.randperm(flat.numel(), generator=generator)[:zero_entries]] = 0.0
                zeroed = True
            matrix = weight_orig.reshape(weight_orig.shape[0], -1)
            u = modern[prefix + "weight_u"].clone()
            for _ in range(3):  # one power step per training iteration, as saved after training
                v = F.normalize(matrix.t() @ u, dim=0, eps=1e-12)
                u = F.normalize(matrix @ v, dim=0, eps=1e-12)
            sigma = torch.dot(u, matrix @ v)
            legacy[prefix + "weight_orig"] = weight_orig
            legacy[prefix + "weight_u"] = u
            legacy[prefix + "weight"] = weight_orig / sigma
        elif key.endswith("weight") and key + "_orig" in modern:
            continue
        else:
            legacy[key] = tensor.clone()
    return legacy


def write_legacy_checkpoint(directory: str | Path, config: BigGANConfig, seed: int = 0, zero_entries: int = 0) -> Path:
    """Write ``config.json`` + ``pytorch_model.bin`` (pre-1.6 serialization) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    reference = random_reference_model(config, seed=seed)
    state_dict = legacy_state_dict(reference, zero_entries=zero_entries, seed=seed)
    (directory / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    torch.save(state_dict, directory / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    return directory


def load_reference(directory: str | Path):
    """The reference package's own loader (slow: a pseudo-inverse per layer)."""
    from pytorch_pretrained_biggan import BigGAN as ReferenceBigGAN

    return ReferenceBigGAN.from_pretrained(str(directory)).eval()
