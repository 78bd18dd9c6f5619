"""Bad checkpoints: each way a config.json or a weights file can be wrong is refused with one
line that names the file and what is wrong, as a UsageError (exit status 2 on the command
line), by every path that reads a checkpoint: the model loader, ``BigGANConfig.from_json_file``
(the CLI's early canvas checks), ``convert`` and the generating commands."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import torch

from ganorama import BigGAN, BigGANConfig, UsageError
from ganorama.cli import main
from ganorama.models.checkpoint import read_checkpoint
from ganorama.models.config import CONFIG_NAME, SAFETENSORS_NAME, WEIGHTS_NAME
from ganorama.models.convert import convert_to_safetensors


@dataclass(frozen=True)
class Case:
    """A way to break a copy of the tiny checkpoint, and what the error must say about it."""

    name: str
    damage: Callable[[Path, dict], None]  # (checkpoint directory, the tiny state dict) -> None
    fragments: tuple[str, ...]  # all must appear in the message
    names: tuple[str, ...] = (CONFIG_NAME,)  # the files the message must name

    def __str__(self) -> str:
        return self.name


# --- ways to break a checkpoint ---------------------------------------------------------------


def config_text(text: str):
    def damage(directory: Path, state_dict: dict) -> None:
        (directory / CONFIG_NAME).write_text(text)

    return damage


def config_edit(edit: Callable[[dict], None]):
    def damage(directory: Path, state_dict: dict) -> None:
        values = json.loads((directory / CONFIG_NAME).read_text())
        edit(values)
        (directory / CONFIG_NAME).write_text(json.dumps(values))  # NaN is written as the literal NaN

    return damage


def config_set(**changes):
    return config_edit(lambda values: values.update(changes))


def config_without(key: str):
    return config_edit(lambda values: values.pop(key))


def layer_set(index: int, layer: list):
    return config_edit(lambda values: values["layers"].__setitem__(index, layer))


def weights_bytes(make: Callable[[Path], bytes], name: str = WEIGHTS_NAME):
    """Replace the weights by ``make(directory)`` written as ``name``."""

    def damage(directory: Path, state_dict: dict) -> None:
        data = make(directory)
        (directory / name).write_bytes(data)

    return damage


def truncated(name: str, fraction: float = 0.5, zip_format: bool = False):
    def make(directory: Path) -> bytes:
        if name == SAFETENSORS_NAME:
            convert_to_safetensors(directory)
        elif zip_format:
            torch.save(torch.load(directory / name, weights_only=True), directory / name)
        data = (directory / name).read_bytes()
        return data[: int(len(data) * fraction)]

    return make


def garbage(directory: Path) -> bytes:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (4096,), generator=generator, dtype=torch.uint8).numpy().tobytes()


def saved_weights(edit: Callable[[dict], object]):
    """Save ``edit(copy of the tiny state dict)`` as the weights."""

    def damage(directory: Path, state_dict: dict) -> None:
        torch.save(edit(dict(state_dict)), directory / WEIGHTS_NAME)

    return damage


def without(key: str):
    def edit(state_dict: dict) -> dict:
        del state_dict[key]
        return state_dict

    return edit


def replaced(key: str, make: Callable[[torch.Tensor], torch.Tensor]):
    def edit(state_dict: dict) -> dict:
        state_dict[key] = make(state_dict[key])
        return state_dict

    return edit


def nan_eps(values: dict) -> None:
    values["eps"] = float("nan")


WEIGHTS_FILE = (WEIGHTS_NAME,)
BOTH_FILES = (WEIGHTS_NAME, CONFIG_NAME)

CONFIG_CASES = [
    Case("a list", config_text("[1, 2]"), ("holds [1, 2] (a list), not a JSON object with the keys output_dim",)),
    Case("an empty object", config_text("{}"), ("lacks output_dim, z_dim, class_embed_dim",)),
    Case("a missing key", config_without("layers"), ("lacks layers (a BigGAN config needs",)),
    Case("not JSON", config_text('{"output_dim": 128'), ("is not valid JSON (",)),
    Case("an empty file", config_text(""), ("is empty; a BigGAN config is a JSON object",)),
    Case("a size as a string", config_set(output_dim="128"),
         ('output_dim is "128" (a string); allowed: an integer >= 1',)),
    Case("a size as a boolean", config_set(z_dim=True), ("z_dim is true (a boolean); allowed: an integer >= 1",)),
    Case("a fractional size", config_set(num_classes=1000.5), ("num_classes is 1000.5 (a number); allowed",)),
    Case("a negative size", config_set(z_dim=-128), ("z_dim is -128 (an integer); allowed: an integer >= 1",)),
    Case("a zero width", config_set(channel_width=0), ("channel_width is 0 (an integer); allowed: an integer >= 1",)),
    Case("one truncation statistic", config_set(n_stats=1), ("n_stats is 1 (an integer); allowed: an integer >= 2",)),
    Case("a null eps", config_set(eps=None), ("eps is null; allowed: a number > 0",)),
    Case("a negative eps", config_set(eps=-1e-4), ("eps is -0.0001 (a number); allowed: a number > 0",)),
    Case("a NaN eps", config_edit(nan_eps), ("eps is NaN (a number); allowed: a number > 0",)),
    Case("layers not a list", config_set(layers=5),
         ("layers is 5 (an integer); allowed: a non-empty list of [upsample",)),
    Case("a layer that is not a triple", layer_set(2, [False, 8]),
         ("layers[2] is [false, 8] (a list); allowed: [upsample (true or false), in_mult",)),
    Case("a layer with a number for upsample", layer_set(1, [1, 16, 8]), ("layers[1] is [1, 16, 8] (a list)",)),
    Case("attention past the last layer", config_set(attention_layer_position=6),
         ("attention_layer_position is 6 (an integer); allowed: 0 to 5",)),
    Case("a negative attention position", config_set(attention_layer_position=-1),
         ("attention_layer_position is -1 (an integer); allowed: 0 to 5",)),
    Case("layers whose channels do not chain", layer_set(2, [False, 4, 4]),
         ("layers[2] has in_mult 4 but layers[1] ends with out_mult 8",)),
    Case("an output_dim the layers do not give", config_set(output_dim=64),
         ("output_dim is 64 but the layers up-sample 3 times from 4x4, which gives 32x32 images; allowed: 32",)),
]

WEIGHTS_CASES = [
    Case("an empty bin", weights_bytes(lambda d: b""), (f"{WEIGHTS_NAME} is empty: it holds no weights",),
         WEIGHTS_FILE),
    Case("a truncated legacy bin", weights_bytes(truncated(WEIGHTS_NAME)),
         ("cannot be read as PyTorch weights: it is truncated or corrupted",), WEIGHTS_FILE),
    Case("a truncated zip bin", weights_bytes(truncated(WEIGHTS_NAME, zip_format=True)),
         ("cannot be read as PyTorch weights: it is truncated or corrupted",), WEIGHTS_FILE),
    Case("a bin of random bytes", weights_bytes(garbage), ("corrupted",), WEIGHTS_FILE),
    Case("an empty safetensors", weights_bytes(lambda d: b"", SAFETENSORS_NAME), (f"{SAFETENSORS_NAME} is empty",),
         (SAFETENSORS_NAME,)),
    Case("a truncated safetensors", weights_bytes(truncated(SAFETENSORS_NAME), SAFETENSORS_NAME),
         ("is not a readable safetensors file: it is truncated or corrupted",), (SAFETENSORS_NAME,)),
    Case("a safetensors of random bytes", weights_bytes(garbage, SAFETENSORS_NAME),
         ("is not a readable safetensors file: it is truncated or corrupted",), (SAFETENSORS_NAME,)),
    Case("a list instead of a state dict", saved_weights(lambda state: [1, 2]),
         ("is not a BigGAN state dict: it holds a list, not a mapping of parameter names to tensors",), WEIGHTS_FILE),
    Case("a training checkpoint", saved_weights(lambda state: {"state_dict": state, "epoch": 3}),
         ("entry 'state_dict' is a dict, not a tensor (a training checkpoint?",), WEIGHTS_FILE),
    Case("an integer tensor", saved_weights(replaced("generator.gen_z.bias", lambda t: t.long())),
         ("tensor 'generator.gen_z.bias' has dtype int64; weights are floating point",), WEIGHTS_FILE),
    Case("a spectral-norm layer without its normalised weight", saved_weights(without("generator.gen_z.weight")),
         ("spectral-norm layer generator.gen_z has weight_orig but neither weight nor weight_u and weight_v",),
         WEIGHTS_FILE),
]

SHAPE_CASES = [
    Case("a config twice as wide as the weights", config_set(channel_width=8),
         ("generator.gen_z.weight has shape [1024, 256], the config expects [2048, 256] (and ", " more tensors with "),
         BOTH_FILES),
    Case("one tensor cut short", saved_weights(replaced("generator.conv_to_rgb.bias", lambda t: t[:3])),
         ("generator.conv_to_rgb.bias has shape [3], the config expects [4]",), BOTH_FILES),
    Case("fewer truncation statistics in the config", config_set(n_stats=20),
         ("generator.layers.0.bn_0.running_means has shape [51, 64], the config expects [20, 64]",), BOTH_FILES),
    Case("another class count in the config", config_set(num_classes=10),
         ("embeddings.weight has shape [128, 1000], the config expects [128, 10]",), BOTH_FILES),
    Case("a missing tensor", saved_weights(without("generator.bn.bias")),
         ("missing generator.bn.bias, unexpected none",), BOTH_FILES),
    Case("an unexpected tensor", saved_weights(lambda state: {**state, "generator.extra": torch.zeros(2)}),
         ("missing none, unexpected generator.extra",), BOTH_FILES),
]

ALL_CASES = CONFIG_CASES + WEIGHTS_CASES + SHAPE_CASES


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_state_dict(tiny_checkpoint):
    return torch.load(tiny_checkpoint / WEIGHTS_NAME, map_location="cpu", weights_only=True)


def broken_checkpoint(case: Case, tiny_checkpoint: Path, state_dict: dict, directory: Path) -> Path:
    directory.mkdir()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        shutil.copyfile(tiny_checkpoint / name, directory / name)
    case.damage(directory, state_dict)
    return directory


def assert_names_problem(message: str, case: Case, directory: Path) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    for name in case.names:
        assert str(directory / name) in message, f"{name} not named: {message}"
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"


def refusal(call) -> UsageError:
    with pytest.raises(UsageError) as caught:
        call()
    return caught.value


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganorama", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


# --- the library and the command line refuse every case alike -------------------------------------


@pytest.mark.parametrize("case", CONFIG_CASES, ids=str)
def test_bad_config_is_one_line_naming_the_file_from_every_reader(case, tiny_checkpoint, tiny_state_dict, tmp_path,
                                                                  capsys):
    directory = broken_checkpoint(case, tiny_checkpoint, tiny_state_dict, tmp_path / "ckpt")
    message = str(refusal(lambda: BigGANConfig.from_json_file(directory / CONFIG_NAME)))
    assert_names_problem(message, case, directory)
    _assert_every_reader_refuses_with(message, directory, tmp_path, capsys)
    # bigimg reads config.json to check its canvas before loading any weights.
    assert main(["bigimg", "--weights", str(directory), "-o", str(tmp_path / "out"), "--seed", "0"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"ganorama bigimg: error: {message}"]


@pytest.mark.parametrize("case", WEIGHTS_CASES + SHAPE_CASES, ids=str)
def test_bad_weights_are_one_line_naming_the_file_from_every_reader(case, tiny_checkpoint, tiny_state_dict, tmp_path,
                                                                    capsys):
    directory = broken_checkpoint(case, tiny_checkpoint, tiny_state_dict, tmp_path / "ckpt")
    message = str(refusal(lambda: BigGAN.from_pretrained(directory)))
    assert_names_problem(message, case, directory)
    _assert_every_reader_refuses_with(message, directory, tmp_path, capsys)


def _assert_every_reader_refuses_with(message: str, directory: Path, tmp_path: Path, capsys) -> None:
    """The loader, read_checkpoint, convert and the CLI's panorama and convert all give ``message``."""
    output = tmp_path / "out"
    assert str(refusal(lambda: BigGAN.from_pretrained(directory))) == message
    assert str(refusal(lambda: read_checkpoint(directory))) == message
    assert str(refusal(lambda: convert_to_safetensors(directory, output=output))) == message
    capsys.readouterr()
    for command, args in (("convert", [str(directory), "-o", str(output)]),
                          ("panorama", ["--weights", str(directory), "-o", str(output), "--seed", "0"])):
        assert main([command, *args]) == 2
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [f"ganorama {command}: error: {message}"]
        assert captured.out == ""
    assert not output.exists()


@pytest.mark.parametrize("command", ["convert", "panorama"])
@pytest.mark.parametrize("case", [CONFIG_CASES[5], WEIGHTS_CASES[1], SHAPE_CASES[0]], ids=str)
def test_real_command_line_exits_2_with_one_line_and_writes_nothing(case, command, tiny_checkpoint, tiny_state_dict,
                                                                    tmp_path):
    directory = broken_checkpoint(case, tiny_checkpoint, tiny_state_dict, tmp_path / "ckpt")
    output = tmp_path / "out"
    args = [str(directory), "-o", str(output)] if command == "convert" else [
        "--weights", str(directory), "-o", str(output), "--seed", "0"]
    result = run_cli(command, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"ganorama {command}: error: ")
    assert_names_problem(lines[0], case, directory)
    assert result.stdout == "" and not output.exists()


def test_cases_cover_each_family_with_distinct_checks():
    assert len(ALL_CASES) == len({case.name for case in ALL_CASES})
    assert len(CONFIG_CASES) >= 20 and len(WEIGHTS_CASES) >= 10 and len(SHAPE_CASES) >= 6


# --- checkpoints that hold Python objects -------------------------------------------------------------


class _Exploit:
    """Unpickling this runs ``touch pwned`` in the current directory."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("write,named", [
    (lambda path, tensor: torch.save({"generator.gen_z.weight": _Exploit()}, path), "(posix.system)"),
    (lambda path, tensor: torch.save(torch.nn.Linear(2, 2), path), "(torch.nn.modules.linear.Linear)"),
    (lambda path, tensor: torch.save({"w": tensor, "args": __import__("argparse").Namespace(lr=1)}, path),
     "(argparse.Namespace)"),
], ids=["code in torch.save", "a pickled module", "an object beside tensors"])
def test_checkpoint_holding_python_objects_is_refused_without_running_them_or_suggesting_to(
        write, named, tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    directory = tmp_path / "ckpt"
    directory.mkdir()
    shutil.copyfile(tiny_checkpoint / CONFIG_NAME, directory / CONFIG_NAME)
    write(directory / WEIGHTS_NAME, torch.zeros(2))
    message = str(refusal(lambda: BigGAN.from_pretrained(directory)))
    assert not (tmp_path / "pwned").exists()
    assert "\n" not in message and str(directory / WEIGHTS_NAME) in message
    assert "weights_only" not in message  # torch's advice would run the code
    assert 'README: "Checkpoints that hold Python objects"' in message
    assert f"holds Python objects other than tensors {named}, so it was not loaded" in message
    assert str(refusal(lambda: convert_to_safetensors(directory, output=tmp_path / "out"))) == message
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


def test_command_line_refuses_a_checkpoint_of_objects_with_exit_2_and_one_line(tmp_path, tiny_checkpoint):
    directory = tmp_path / "ckpt"
    directory.mkdir()
    shutil.copyfile(tiny_checkpoint / CONFIG_NAME, directory / CONFIG_NAME)
    torch.save({"generator.gen_z.weight": _Exploit()}, directory / WEIGHTS_NAME)
    result = subprocess.run([sys.executable, "-m", "ganorama", "panorama", "--weights", str(directory),
                             "-o", str(tmp_path / "out"), "--seed", "0"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds Python objects other than tensors" in lines[0], result.stderr
    assert "weights_only" not in result.stderr and not (tmp_path / "pwned").exists()


# --- configs built in Python ------------------------------------------------------------------


def test_config_built_in_python_is_checked_by_validate_and_by_the_loader(tiny_checkpoint, tiny_state_dict):
    config = BigGANConfig.from_json_file(tiny_checkpoint / CONFIG_NAME)
    config.validate()
    config.layers = [tuple(layer) for layer in config.layers]  # tuples are fine in Python
    config.validate()
    config.output_dim = 128
    with pytest.raises(UsageError, match=r"^invalid BigGAN config: output_dim is 128 but the layers up-sample 3 times"):
        config.validate()
    with pytest.raises(UsageError, match=r"^invalid BigGAN config: output_dim is 128"):
        BigGAN.from_state_dict(config, tiny_state_dict)


def test_state_dict_that_does_not_fit_is_refused_by_from_state_dict(tiny_checkpoint, tiny_state_dict):
    config = BigGANConfig.from_json_file(tiny_checkpoint / CONFIG_NAME)
    config.num_classes = 10
    with pytest.raises(UsageError, match=r"^state dict does not match its config: embeddings.weight has shape "
                                         r"\[128, 1000\], the config expects \[128, 10\]$"):
        BigGAN.from_state_dict(config, tiny_state_dict)
    with pytest.raises(UsageError, match=r"^not a BigGAN state dict: entry 'x' is an int, not a tensor$"):
        BigGAN.from_state_dict(BigGANConfig.from_json_file(tiny_checkpoint / CONFIG_NAME), {"x": 1})


@pytest.mark.parametrize("name", ["biggan-deep-128", "biggan-deep-256", "biggan-deep-512"])
def test_published_architectures_pass_the_checks_as_config_json(name, tmp_path):
    path = tmp_path / CONFIG_NAME
    path.write_text(json.dumps(BigGANConfig.preset(name).to_dict()))
    assert BigGANConfig.from_json_file(path) == BigGANConfig.preset(name)
