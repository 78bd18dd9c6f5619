"""BigGAN-deep: numerical parity with pytorch_pretrained_biggan on legacy-format checkpoints."""
from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from fixture_models import (
    PARITY_TRUNCATIONS,
    legacy_checkpoint,
    load_reference,
    parity_inputs,
    random_reference_model,
    reference_outputs_for,
    save_reference_outputs,
    small_config,
    state_dict_digest,
    write_legacy_checkpoint,
)
from ganorama import BigGAN, BigGANConfig, UsageError
from ganorama.models.biggan import SelfAttention, statistics_for_truncation
from ganorama.models.checkpoint import fold_spectral_norm, state_dict_shapes
from ganorama.models.config import PUBLISHED_MODELS, identify_model

TRUNCATIONS = PARITY_TRUNCATIONS


def _inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Truncated-normal noise and mixed (not one-hot) class vectors."""
    return parity_inputs(batch, seed=seed)


def _assert_parity(ours: BigGAN, reference, batch: int, tolerance: float = 1e-4) -> None:
    z, classes = _inputs(batch)
    for truncation in TRUNCATIONS:
        with torch.no_grad():
            expected = reference(truncation * z, classes, truncation)
            actual = ours(truncation * z, classes, truncation)
        assert actual.shape == expected.shape
        difference = (actual - expected).abs().max().item()
        assert difference <= tolerance, f"truncation {truncation}: max |diff| {difference}"


def test_small_width_model_matches_reference_at_several_truncations(small_checkpoint):
    ours = BigGAN.from_pretrained(small_checkpoint)
    _assert_parity(ours, load_reference(small_checkpoint), batch=4)


@pytest.mark.slow
def test_full_size_128_model_matches_reference_at_several_truncations(full_size_128_checkpoint,
                                                                      full_size_128_reference):
    ours = BigGAN.from_pretrained(full_size_128_checkpoint)
    reference = full_size_128_reference  # the reference package's outputs for these very weights
    assert sorted(reference.outputs) == sorted(TRUNCATIONS)
    pixels = reference.pixels
    for truncation, expected in reference.outputs.items():
        assert torch.isfinite(expected).all()
        with torch.no_grad():
            actual = ours(truncation * reference.z, reference.classes, truncation)
        assert actual.shape == (len(reference.z), 3, 128, 128)
        difference = (actual[:, :, pixels][:, :, :, pixels] - expected).abs().max().item()
        assert difference <= 1e-4, f"truncation {truncation}: max |diff| {difference}"


def test_stored_reference_outputs_are_reused_only_for_the_weights_they_were_computed_from(tiny_checkpoint,
                                                                                          tmp_path, monkeypatch):
    import fixture_models

    computed_for = []

    def computed_now(directory, digest, z, classes, truncations=TRUNCATIONS):  # stands in for minutes of reference
        computed_for.append(digest)
        outputs = {t: torch.full((len(z), 3, 2, 2), t) for t in truncations}
        return fixture_models.ReferenceOutputs(digest, z, classes, torch.tensor([0, 1]), outputs)

    monkeypatch.setattr(fixture_models, "compute_reference_outputs", computed_now)
    store = tmp_path / "reference.safetensors"
    first, reused = reference_outputs_for(tiny_checkpoint, store)
    assert not reused and computed_for == [first.digest]  # nothing stored yet
    save_reference_outputs(first, store)
    again, reused = reference_outputs_for(tiny_checkpoint, store)
    assert reused and len(computed_for) == 1 and again.digest == first.digest
    assert all(torch.equal(again.outputs[t], first.outputs[t]) for t in TRUNCATIONS)
    other = write_legacy_checkpoint(tmp_path / "other", small_config(4, output_dim=32), seed=9)
    recomputed, reused = reference_outputs_for(other, store)
    assert not reused and computed_for[1:] == [recomputed.digest] and recomputed.digest != first.digest
    assert torch.equal(recomputed.z, first.z)  # the stored inputs are kept


def test_fixture_digest_is_the_same_each_time_the_fixture_is_written(tmp_path):
    config = small_config(4, output_dim=32)
    written = [write_legacy_checkpoint(tmp_path / name, config, seed=2) / "pytorch_model.bin" for name in ("a", "b")]
    digests = [state_dict_digest(torch.load(path, weights_only=True)) for path in written]
    assert digests[0] == digests[1]


def test_zero_weight_entry_keeps_output_finite_where_reference_turns_nan(tmp_path):
    config = small_config(4, output_dim=32)
    directory = write_legacy_checkpoint(tmp_path, config, seed=4, zero_entries=5)
    z, classes = _inputs(2)
    with torch.no_grad():
        reference_output = load_reference(directory)(0.5 * z, classes, 0.5)
        ours = BigGAN.from_pretrained(directory)(0.5 * z, classes, 0.5)
    assert torch.isnan(reference_output).all(), "the fixture should reproduce the reference's 0/0 sigma"
    assert torch.isfinite(ours).all()


def test_zero_weight_entry_folds_to_true_spectral_scale():
    reference = random_reference_model(small_config(4, output_dim=32), seed=5)
    legacy = legacy_checkpoint(reference, zero_entries=7, seed=5)
    folded = fold_spectral_norm(legacy.state_dict)
    first = next(iter(legacy.sigmas))  # the layer given the zero entries
    assert (legacy.state_dict[first + "weight_orig"] == 0).sum() >= 7
    # The fixture knows each layer's true sigma (the power-iteration value it divided by);
    # folding, which only sees weight_orig and weight, must recover it in every layer. A
    # relative tolerance only: counting the 7 zeros in a mean over 262144 entries is off by
    # 2.7e-5 relative, which an absolute tolerance on weights of size ~0.02 would not see.
    for prefix, sigma in legacy.sigmas.items():
        torch.testing.assert_close(folded[prefix + "weight"], legacy.state_dict[prefix + "weight_orig"] / sigma,
                                   rtol=2e-6, atol=0, msg=lambda text, prefix=prefix: f"{prefix}: {text}")


def test_modern_state_dict_with_weight_v_folds_like_pytorch_spectral_norm():
    reference = random_reference_model(small_config(4, output_dim=32), seed=6)
    modern = reference.state_dict()  # weight_orig, weight_u, weight_v: PyTorch >= 1.1 layout
    folded = fold_spectral_norm(modern)
    module = reference.generator.gen_z
    hook = next(h for h in module._forward_pre_hooks.values() if hasattr(h, "compute_weight"))
    with torch.no_grad():
        expected = hook.compute_weight(module, do_power_iteration=False)  # PyTorch's own eval weight
    torch.testing.assert_close(folded["generator.gen_z.weight"], expected, rtol=1e-5, atol=1e-7)


def test_blocks_are_indexed_like_the_reference_with_attention_inside():
    config = small_config(4, output_dim=32)
    model = BigGAN(config)
    assert len(model.blocks) == len(config.layers) + 1 == config.num_blocks
    assert isinstance(model.blocks[config.attention_layer_position], SelfAttention)
    reference = random_reference_model(config)
    assert [type(b).__name__ for b in reference.generator.layers].index("SelfAttn") == config.attention_layer_position


ARCHITECTURES = [*PUBLISHED_MODELS, "small-128", "tiny-32", "small-64-width-6"]


def _architecture(name: str) -> BigGANConfig:
    if name in PUBLISHED_MODELS:
        return BigGANConfig.preset(name)
    config = {"small-128": small_config(8), "tiny-32": small_config(4, output_dim=32),
              "small-64-width-6": small_config(6, output_dim=64)}[name]
    if name == "small-64-width-6":
        config.z_dim, config.num_classes, config.n_stats = 16, 10, 5  # odd sizes, so no two keys agree by chance
    config.validate()
    return config


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_the_shapes_a_checkpoint_must_have_are_the_networks_own_in_its_order(name):
    config = _architecture(name)
    with torch.device("meta"):
        model = BigGAN(config)
    expected = [(key, tuple(tensor.shape)) for key, tensor in model.state_dict().items()]
    assert list(state_dict_shapes(config).items()) == expected


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_the_block_walk_is_the_networks_blocks(name):
    config = _architecture(name)
    with torch.device("meta"):
        model = BigGAN(config)
    shapes = config.block_shapes()
    assert len(shapes) == len(model.blocks) == config.num_blocks
    for shape, block in zip(shapes, model.blocks):
        assert isinstance(block, SelfAttention) == shape.attention
        if not shape.attention:
            assert (block.bn_0.running_means.shape[1], block.conv_3.out_channels) == (shape.in_channels,
                                                                                      shape.out_channels)
            assert block.upsample == shape.upsample == (shape.out_size == 2 * shape.in_size)
    assert config.block_resolutions() == [shape.out_size for shape in shapes]
    assert shapes[-1].out_size == config.output_dim


def test_a_load_folds_spectral_norm_and_checks_shapes_once(tiny_checkpoint, monkeypatch):
    from ganorama.models import biggan, checkpoint

    calls = {"fold": 0, "shapes": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper

    fold = counted("fold", checkpoint.fold_spectral_norm)
    monkeypatch.setattr(checkpoint, "fold_spectral_norm", fold)
    monkeypatch.setattr(biggan, "fold_spectral_norm", fold)
    monkeypatch.setattr(checkpoint, "state_dict_shapes", counted("shapes", checkpoint.state_dict_shapes))
    BigGAN.from_pretrained(tiny_checkpoint)
    assert calls == {"fold": 1, "shapes": 1}


@pytest.mark.parametrize("name,size", [("biggan-deep-256", 256), ("biggan-deep-512", 512)])
def test_published_architectures_build_and_generate_their_output_size(name, size):
    config = BigGANConfig.preset(name)
    torch.manual_seed(0)
    model = BigGAN(config).eval()
    z, classes = _inputs(1)
    with torch.no_grad():
        image = model(0.5 * z, classes, 0.5)
    assert image.shape == (1, 3, size, size)
    assert torch.isfinite(image).all() and image.abs().max() <= 1


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_stays_close_to_float32(tiny_checkpoint, dtype):
    full = BigGAN.from_pretrained(tiny_checkpoint, dtype="float32")
    reduced = BigGAN.from_pretrained(tiny_checkpoint, dtype=dtype)
    assert next(reduced.parameters()).dtype == getattr(torch, dtype)
    z, classes = _inputs(2)
    with torch.no_grad():
        expected = full(0.5 * z, classes, 0.5)
        actual = reduced((0.5 * z).to(getattr(torch, dtype)), classes.to(getattr(torch, dtype)), 0.5)
    assert actual.dtype == getattr(torch, dtype)
    assert (actual.float() - expected).abs().max() < 0.05


def test_auto_dtype_is_float32_on_cpu(tiny_checkpoint):
    model = BigGAN.from_pretrained(tiny_checkpoint, device="cpu", dtype="auto")
    assert next(model.parameters()).dtype == torch.float32


def test_unknown_dtype_is_a_usage_error_naming_the_choices(tiny_checkpoint):
    with pytest.raises(UsageError, match="float64.*allowed: auto, float32, float16, bfloat16"):
        BigGAN.from_pretrained(tiny_checkpoint, dtype="float64")


@pytest.mark.parametrize("truncation", [0.0, -0.5, 1.5])
def test_truncation_outside_zero_one_is_rejected(tiny_checkpoint, truncation):
    model = BigGAN.from_pretrained(tiny_checkpoint)
    z, classes = _inputs(1)
    with pytest.raises(UsageError, match="truncation"):
        model(z, classes, truncation)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_checkpoint_with_pickled_code_is_refused_without_running_it(tmp_path, tiny_checkpoint, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_bytes((tiny_checkpoint / "config.json").read_bytes())
    with open(tmp_path / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"generator.gen_z.weight": _Exploit()}, handle)
    with pytest.raises(UsageError, match="pytorch_model.bin was not loaded: it is not plain PyTorch weights"):
        BigGAN.from_pretrained(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_truncation_statistics_reproduce_the_reference_interpolation():
    means = torch.arange(51, dtype=torch.float32)[:, None].repeat(1, 2)
    variances = means + 1
    mean, _ = statistics_for_truncation(means, variances, 0.73)
    # 0.73 / 0.02 = 36.5 -> stats[36] * 0.5 + stats[37] * 0.5; check the swapped weights at 0.405:
    mean_405, _ = statistics_for_truncation(means, variances, 0.405)
    assert mean[0].item() == pytest.approx(36.5, abs=1e-4)
    assert mean_405[0].item() == pytest.approx(20 * 0.25 + 21 * 0.75, abs=1e-4)


@pytest.mark.parametrize("name", PUBLISHED_MODELS)
def test_identify_model_names_the_published_architecture_a_config_json_describes(name):
    config = BigGANConfig.from_dict(json.loads(json.dumps(BigGANConfig.preset(name).to_dict())))
    assert identify_model(config) == name
    config.eps, config.n_stats = 1e-3, 11  # not architecture: the presets all share them
    assert identify_model(config) == name


@pytest.mark.parametrize("change", [
    {"channel_width": 64}, {"num_classes": 10}, {"z_dim": 120}, {"attention_layer_position": 7},
])
def test_identify_model_is_none_for_any_other_architecture(change):
    for name in PUBLISHED_MODELS:
        config = BigGANConfig.preset(name)
        for key, value in change.items():
            setattr(config, key, value)
        assert identify_model(config) is None, (name, change)


def test_identify_model_tells_the_published_sizes_apart_and_knows_no_test_fixture():
    assert [identify_model(BigGANConfig.preset(name)) for name in PUBLISHED_MODELS] == list(PUBLISHED_MODELS)
    assert identify_model(small_config(8)) is None and identify_model(small_config(4, output_dim=32)) is None
