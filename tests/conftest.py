"""Session-wide fixtures: random-weight checkpoints written once per test session."""
from __future__ import annotations

import warnings

import pytest

from fixture_models import (
    FULL_SIZE_128_REFERENCE,
    FULL_SIZE_128_SEED,
    reference_outputs_for,
    small_config,
    write_legacy_checkpoint,
)
from ganorama.models.config import BigGANConfig


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory):
    """A small-width (8) full-depth 128 random-weight *test fixture* in the published format."""
    return write_legacy_checkpoint(tmp_path_factory.mktemp("small128"), small_config(8), seed=1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A width-4, 32x32-output random-weight *test fixture*: the quickest model that still
    has every kind of block (GenBlocks with and without up-sampling, attention)."""
    return write_legacy_checkpoint(tmp_path_factory.mktemp("tiny32"), small_config(4, output_dim=32), seed=2)


@pytest.fixture(scope="session")
def full_size_128_checkpoint(tmp_path_factory):
    """A full-size biggan-deep-128 random-weight *test fixture* in the published format."""
    return write_legacy_checkpoint(tmp_path_factory.mktemp("full128"), BigGANConfig.preset("biggan-deep-128"),
                                   seed=FULL_SIZE_128_SEED)


@pytest.fixture(scope="session")
def full_size_256_checkpoint(tmp_path_factory):
    """A full-size biggan-deep-256 random-weight *test fixture* in the published format."""
    return write_legacy_checkpoint(tmp_path_factory.mktemp("full256"), BigGANConfig.preset("biggan-deep-256"), seed=0)


@pytest.fixture(scope="session")
def full_size_512_checkpoint(tmp_path_factory):
    """A full-size biggan-deep-512 random-weight *test fixture* in the published format."""
    return write_legacy_checkpoint(tmp_path_factory.mktemp("full512"), BigGANConfig.preset("biggan-deep-512"), seed=0)


@pytest.fixture(scope="session")
def full_size_128_reference(full_size_128_checkpoint):
    """pytorch_pretrained_biggan's outputs for the full-size fixture: read from tests/data when
    they were computed from exactly these weights, else computed once per session (minutes)."""
    outputs, reused = reference_outputs_for(full_size_128_checkpoint)
    if not reused:
        warnings.warn(f"computed the full-size reference outputs (slow): this fixture's digest {outputs.digest[:16]} "
                      f"is not the one {FULL_SIZE_128_REFERENCE.name} was made from (float kernels of this CPU, "
                      "or a changed fixture: then run python tests/fixture_models.py)", stacklevel=1)
    return outputs


@pytest.fixture(autouse=True)
def isolated_model_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the real model cache: HF_HOME (and the hub cache under it)
    point at an empty folder of the session, inherited by every command a test starts. A
    test that needs a cache sets these variables itself."""
    home = tmp_path_factory.getbasetemp() / "isolated-hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)


@pytest.fixture(scope="session", autouse=True)
def float32_auto_dtype():
    """``auto`` means float32 on the CPU in every test, whatever this CPU's bfloat16 units
    (inherited by the commands a test starts): results do not depend on the machine that
    runs the suite. Session-wide, so models that fixtures of any scope load see it too;
    tests of the bfloat16 choice set GANORAMA_CPU_BFLOAT16 themselves."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANORAMA_CPU_BFLOAT16", "0")
        yield
