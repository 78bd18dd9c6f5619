"""A BigGAN-deep architecture, as stored in a checkpoint's ``config.json``, without torch.

:class:`BigGANConfig` and its presets (the published models), reading and checking a
``config.json`` (every problem is one line naming the key and what is allowed),
:func:`identify_model`, and :meth:`BigGANConfig.block_shapes`: the one walk over the
blocks, which the network (:mod:`ganorama.models.biggan`), the checkpoint's expected
shapes and the memory planner all follow. Nothing here imports torch, so the command line can check a
model's architecture before paying for it.
"""
from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Mapping

from ganorama.checks import JSONTooDeep, parse_json
from ganorama.errors import GanoramaError, UsageError

# The files of a checkpoint directory.
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "pytorch_model.bin"
SAFETENSORS_NAME = "model.safetensors"

# The published models (see :meth:`BigGANConfig.preset`), and the one used when none is named.
PUBLISHED_MODELS = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
DEFAULT_MODEL = "biggan-deep-256"

_BIGGAN_DEEP_128_LAYERS = [
    [False, 16, 16], [True, 16, 16], [False, 16, 16], [True, 16, 8], [False, 8, 8],
    [True, 8, 4], [False, 4, 4], [True, 4, 2], [False, 2, 2], [True, 2, 1],
]  # fmt: skip


@dataclass(frozen=True)
class BlockShape:
    """One block of ``generator.layers`` (a GenBlock, or the self-attention block): its
    channels and the side of its square features, in and out."""

    attention: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int

    @property
    def upsample(self) -> bool:
        """Whether the block doubles the side of its features."""
        return self.out_size != self.in_size


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
        raise UsageError(f"unknown model {name!r}; known: {', '.join(PUBLISHED_MODELS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    def block_shapes(self) -> list[BlockShape]:
        """The blocks of ``generator.layers``, in order: each ``layers`` triple is a GenBlock,
        and the self-attention block comes before the one at ``attention_layer_position``."""
        shapes, size, width = [], 4, self.channel_width
        for index, (upsample, in_mult, out_mult) in enumerate(self.layers):
            if index == self.attention_layer_position:
                shapes.append(BlockShape(True, width * in_mult, width * in_mult, size, size))
            out_size = size * 2 if upsample else size
            shapes.append(BlockShape(False, width * in_mult, width * out_mult, size, out_size))
            size = out_size
        return shapes

    def block_resolutions(self) -> list[int]:
        """Output height (= width) of each block in ``generator.layers``, in order."""
        return [block.out_size for block in self.block_shapes()]

    @property
    def num_blocks(self) -> int:
        """Number of hookable blocks in ``generator.layers`` (GenBlocks plus attention)."""
        return len(self.layers) + 1


def identify_model(config: BigGANConfig) -> str | None:
    """The published model (``biggan-deep-128|256|512``) whose architecture ``config``
    describes, else None. ``eps`` and ``n_stats`` are not compared: the presets share them."""
    wanted = _architecture(config)
    return next((name for name in PUBLISHED_MODELS if _architecture(BigGANConfig.preset(name)) == wanted), None)


def _architecture(config: BigGANConfig) -> tuple:
    layers = tuple((bool(up), int(in_mult), int(out_mult)) for up, in_mult, out_mult in config.layers)
    return (config.output_dim, config.z_dim, config.class_embed_dim, config.channel_width, config.num_classes,
            layers, config.attention_layer_position)


# --- config.json ---------------------------------------------------------------------

_POSITIVE_INT_KEYS = ("output_dim", "z_dim", "class_embed_dim", "channel_width", "num_classes")
_LAYER_FORM = "[upsample (true or false), in_mult (integer >= 1), out_mult (integer >= 1)]"


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
        return parse_json(text)
    except JSONTooDeep as error:
        raise UsageError(f"{path} is not valid JSON for a BigGAN config ({error})") from None
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
