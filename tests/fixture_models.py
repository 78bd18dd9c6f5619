"""Random-weight BigGAN-deep *test fixtures*, written the way the published checkpoints are.

These are not models anyone should look at: their images are noise-like. They exist so that
the real loading code (legacy spectral-norm keys, pre-1.6 serialization) and the reference
package can be exercised without downloading anything.
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ganorama.models.config import BigGANConfig


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
                # The norm is a sum whose rounding depends on the CPU's kernels: in float64, then
                # rounded, the vector is the same on every machine.
                tensor.copy_(F.normalize(torch.randn(tensor.shape, generator=generator).double(), dim=0))
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


@dataclass
class LegacyCheckpoint:
    """A state dict in the PyTorch 1.0 layout, and the spectral scale each layer was divided by."""

    state_dict: "OrderedDict[str, torch.Tensor]"
    sigmas: dict[str, torch.Tensor]  # layer prefix ("generator.gen_z.") -> the float32 sigma


def legacy_checkpoint(reference_model, zero_entries: int = 0, seed: int = 0) -> LegacyCheckpoint:
    """The model's weights in the PyTorch 1.0 layout: ``weight_orig``, ``weight_u`` and the
    normalised ``weight = weight_orig / sigma`` for every spectrally normalised layer, no
    ``weight_v``, no metadata; with the true sigma of each layer, for tests to compare with.

    ``zero_entries`` sets that many entries of the first such layer exactly to zero, the case
    where the reference loader's sigma = mean(weight_orig / weight) becomes 0/0 = NaN.

    The power iteration runs in float64 and is rounded to float32: summation order differs
    between CPUs' float kernels, and rounding hides those last bits, so the same seed gives
    the same checkpoint (and digest, see :func:`state_dict_digest`) on every machine.
    """
    modern = reference_model.state_dict()
    legacy: OrderedDict[str, torch.Tensor] = OrderedDict()
    sigmas: dict[str, torch.Tensor] = {}
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
            u, sigma = power_iteration(weight_orig, modern[prefix + "weight_u"])
            legacy[prefix + "weight_orig"] = weight_orig
            legacy[prefix + "weight_u"] = u
            legacy[prefix + "weight"] = weight_orig / sigma  # float32 division: exactly rounded everywhere
            sigmas[prefix] = sigma
        elif key.endswith("weight") and key + "_orig" in modern:
            continue
        else:
            legacy[key] = tensor.clone()
    return LegacyCheckpoint(legacy, sigmas)


def legacy_state_dict(reference_model, zero_entries: int = 0, seed: int = 0) -> "OrderedDict[str, torch.Tensor]":
    """:func:`legacy_checkpoint`'s state dict alone."""
    return legacy_checkpoint(reference_model, zero_entries=zero_entries, seed=seed).state_dict


def power_iteration(weight: torch.Tensor, u: torch.Tensor, steps: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, sigma) after ``steps`` power-iteration steps from ``u``, one per training iteration
    as PyTorch's spectral norm does, computed in float64 and returned as float32."""
    matrix = weight.double().reshape(weight.shape[0], -1)
    u = u.double()
    for _ in range(steps):
        v = F.normalize(matrix.t() @ u, dim=0, eps=1e-12)
        u = F.normalize(matrix @ v, dim=0, eps=1e-12)
    return u.float(), torch.dot(u, matrix @ v).float()


def state_dict_digest(state_dict) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in key order."""
    digest = hashlib.sha256()
    for key, tensor in state_dict.items():
        tensor = tensor.detach().contiguous().cpu()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


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


# --- reference outputs of the full-size fixture ---------------------------------------------------
#
# Loading the full-size fixture through the reference package takes minutes (its legacy
# spectral-norm load hook solves a pseudo-inverse per layer). Its outputs depend only on the
# fixture's weights and the inputs, so they are computed once, stored in tests/data keyed by
# the digest of the fixture's state dict, and recomputed only when that digest differs (a
# change to the fixture, or a CPU whose float kernels round the fixture differently).

FULL_SIZE_128_SEED = 3
FULL_SIZE_128_REFERENCE = Path(__file__).parent / "data" / "full_size_128_reference.safetensors"
PARITY_TRUNCATIONS = (0.4, 0.5, 0.73, 1.0)


@dataclass
class ReferenceOutputs:
    """The reference package's outputs for inputs ``z`` (B, z_dim) and ``classes``
    (B, num_classes) at each truncation, at output rows and columns ``pixels``."""

    digest: str  # of the fixture's state dict (state_dict_digest)
    z: torch.Tensor
    classes: torch.Tensor
    pixels: torch.Tensor
    outputs: dict[float, torch.Tensor]  # truncation -> (B, 3, len(pixels), len(pixels))


def parity_inputs(batch: int, z_dim: int = 128, num_classes: int = 1000, seed: int = 0):
    """Truncated-normal noise and mixed (not one-hot) class vectors, with one plain one-hot row."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, z_dim, generator=generator).clamp(-2, 2)
    classes = torch.softmax(3 * torch.randn(batch, num_classes, generator=generator), dim=1)
    classes[0] = 0
    classes[0, 977 % num_classes] = 1.0
    return z, classes


def parity_pixels(size: int) -> torch.Tensor:
    """Every 4th output row/column and the last one: the borders, where padding acts, are in,
    and the stored outputs are a 16th of the images."""
    return torch.cat([torch.arange(0, size - 1, 4), torch.tensor([size - 1])])


def compute_reference_outputs(directory: str | Path, digest: str, z: torch.Tensor, classes: torch.Tensor,
                              truncations=PARITY_TRUNCATIONS) -> ReferenceOutputs:
    """Load ``directory`` with the reference package (slow) and run it on the inputs."""
    reference = load_reference(directory)
    outputs = {}
    with torch.no_grad():
        for truncation in truncations:
            image = reference(truncation * z, classes, truncation)
            pixels = parity_pixels(image.shape[-1])
            outputs[truncation] = image[:, :, pixels][:, :, :, pixels].contiguous()
    return ReferenceOutputs(digest, z, classes, parity_pixels(image.shape[-1]), outputs)


def save_reference_outputs(outputs: ReferenceOutputs, path: str | Path) -> None:
    from safetensors.torch import save_file

    tensors = {"z": outputs.z, "classes": outputs.classes, "pixels": outputs.pixels}
    tensors.update({f"output@{truncation!r}": image for truncation, image in outputs.outputs.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in tensors.items()}, str(path),
              metadata={"fixture_digest": outputs.digest,
                        "made_by": "python tests/fixture_models.py (pytorch_pretrained_biggan's forward)"})


def read_reference_outputs(path: str | Path) -> ReferenceOutputs | None:
    """The outputs stored at ``path``, or None when there is no such file."""
    from safetensors import safe_open

    if not Path(path).is_file():
        return None
    with safe_open(str(path), framework="pt") as handle:
        digest = handle.metadata()["fixture_digest"]
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    outputs = {float(key.split("@", 1)[1]): value for key, value in tensors.items() if key.startswith("output@")}
    return ReferenceOutputs(digest, tensors["z"], tensors["classes"], tensors["pixels"], dict(sorted(outputs.items())))


def reference_outputs_for(directory: str | Path, store: str | Path = FULL_SIZE_128_REFERENCE):
    """The reference outputs for the full-size fixture in ``directory``: the stored ones when
    they were computed from exactly these weights, else computed now (minutes).

    Returns (outputs, reused) so that a caller can say when the slow path ran.
    """
    digest = state_dict_digest(torch.load(Path(directory) / "pytorch_model.bin", map_location="cpu",
                                          weights_only=True))
    stored = read_reference_outputs(store)
    if stored is not None and stored.digest == digest:
        return stored, True
    z, classes = (stored.z, stored.classes) if stored is not None else parity_inputs(3)
    return compute_reference_outputs(directory, digest, z, classes), False


if __name__ == "__main__":
    # Rewrite tests/data/full_size_128_reference.safetensors (after changing the fixture).
    import tempfile

    with tempfile.TemporaryDirectory() as temporary:
        fixture = write_legacy_checkpoint(Path(temporary) / "full128", BigGANConfig.preset("biggan-deep-128"),
                                          seed=FULL_SIZE_128_SEED)
        computed, reused = reference_outputs_for(fixture)
        if not reused:
            save_reference_outputs(computed, FULL_SIZE_128_REFERENCE)
        print(("kept " if reused else "wrote ") + f"{FULL_SIZE_128_REFERENCE} (fixture digest {computed.digest})")
