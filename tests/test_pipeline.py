"""The generation pipeline: latents, seeds, sync hooks and what syncing achieves."""
from __future__ import annotations

import pytest
import torch

from ganorama import BigGAN, UsageError
from ganorama.canvas.sphere import SphereCanvas
from ganorama.latents import seeded_generator, truncated_noise
from ganorama.pipeline import Ganorama, morph_mix, sync_hooks
from ganorama.request import Sampling


def test_truncated_noise_is_bounded_by_two_times_truncation_and_seeded():
    first = truncated_noise(64, 128, 0.5, seeded_generator(7))
    again = truncated_noise(64, 128, 0.5, seeded_generator(7))
    other = truncated_noise(64, 128, 0.5, seeded_generator(8))
    assert first.abs().max() <= 1.0 and first.abs().max() > 0.9
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert 0.85 < (first / 0.5).std() < 0.92  # std of N(0,1) truncated at +-2 is 0.880


def _disagreement(views: torch.Tensor, canvas: SphereCanvas) -> float:
    """mean |x - sync(x)| on the output views, the operator built at the output size."""
    operator = canvas.sync_operator(views.shape[-2], views.shape[-1])
    return (views - operator(views)).abs().mean().item()


@pytest.mark.parametrize("checkpoint,seed", [("small_checkpoint", 0), ("small_checkpoint", 1),
                                             pytest.param("full_size_128_checkpoint", 0, marks=pytest.mark.slow)])
def test_syncing_makes_overlapping_views_agree(request, checkpoint, seed):
    generator = Ganorama(BigGAN.from_pretrained(request.getfixturevalue(checkpoint)))
    canvas = SphereCanvas.from_layout("seed16")
    blocks = generator.model.config.num_blocks
    measured = {}
    for label, (start, end) in {"none": (0, 0), "2..7": (2, 7), "all": (0, blocks)}.items():
        views, _ = generator.generate_views(canvas, None, seed, Sampling(start_layer=start, end_layer=end))
        measured[label] = _disagreement(views, canvas)
    print(f"mean |x - sync(x)|: {measured}")  # shown with pytest -s; the ratios go in the notes
    assert measured["none"] / measured["2..7"] >= 2.5, measured
    assert measured["none"] / measured["all"] >= 6, measured


def test_hooks_are_removed_after_generation(tiny_checkpoint):
    model = BigGAN.from_pretrained(tiny_checkpoint)
    with sync_hooks(model, SphereCanvas.from_layout("full"), 0, model.config.num_blocks):
        assert all(len(block._forward_hooks) == 1 for block in model.blocks)
    assert all(len(block._forward_hooks) == 0 for block in model.blocks)


def test_same_seed_gives_the_same_panorama_and_records_it(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint), model_name="fixture")
    first = generator.panorama(classes="sandbar", seed=3, width=64, height=32)
    second = generator.panorama(classes="sandbar", seed=3, width=64, height=32)
    assert torch.equal(first.image, second.image)
    assert first.image.shape == (3, 32, 64)
    assert first.metadata["seed"] == 3 and first.metadata["view_classes"][0] == {"977": 1.0}
    assert len(first.metadata["views"]) == first.views.shape[0] == 18


def test_shared_z_views_differ_only_through_sync_and_class(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    unsynced = Sampling(start_layer=0, end_layer=0, share_z=True)
    views, metadata = generator.generate_views(SphereCanvas.from_layout("full"), "valley", 5, unsynced)
    # Same z, same class, no sync: every view is the same image.
    assert torch.allclose(views, views[:1].expand_as(views), atol=1e-6)
    separate, _ = generator.generate_views(SphereCanvas.from_layout("full"), "valley", 5,
                                           Sampling(start_layer=0, end_layer=0, share_z=False))  # fmt: skip
    assert not torch.allclose(separate[0], separate[1])


def test_random_classes_are_per_view_unless_shared(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    canvas = SphereCanvas.from_layout("full")
    _, per_view = generator.generate_views(canvas, None, 1, Sampling())
    _, shared = generator.generate_views(canvas, None, 1, Sampling(share_class=True))
    assert len({tuple(mix) for mix in per_view["view_classes"]}) > 1
    assert len({tuple(mix) for mix in shared["view_classes"]}) == 1


@pytest.mark.parametrize("start,end", [(9, 3), (0, 99), (-1, 2)])
def test_bad_layer_range_is_a_usage_error(tiny_checkpoint, start, end):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    with pytest.raises(UsageError, match="start_layer"):
        generator.panorama(seed=0, sampling=Sampling(start_layer=start, end_layer=end), width=8, height=4)


def test_morph_mix_moves_from_first_to_last_class():
    assert morph_mix(["orange", "lemon"], 0.0) == {950: 1.0}
    assert morph_mix(["orange", "lemon"], 1.0) == {951: 1.0}
    middle = morph_mix(["orange", "lemon"], 0.5)
    assert middle == pytest.approx({950: 0.5, 951: 0.5})


def test_bigimg_from_python_names_the_overlap_and_the_block_it_misses(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    with pytest.raises(UsageError, match="overlap 0.3"):
        generator.bigimg(classes="orange", seed=0, cols=3, overlap=0.3)


def test_bigimg_strip_has_the_seeds_width(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    result = generator.bigimg(classes="orange", seed=0, cols=6)
    assert result.image.shape == (3, 32, 16 * 7)
    assert result.metadata["kind"] == "bigimg" and result.metadata["width"] == 112


def test_public_python_api_makes_a_panorama_from_local_weights(tiny_checkpoint, tmp_path):
    import ganorama

    generator = ganorama.Ganorama.from_pretrained("biggan-deep-256", weights=str(tiny_checkpoint))
    result = generator.panorama(classes="sandbar", seed=1, sampling=ganorama.Sampling(truncation=0.4),
                                width=96, height=48)  # fmt: skip
    result.to_pil().save(tmp_path / "beach.png")
    assert result.metadata["weights"] == str(tiny_checkpoint) and result.metadata["request"]["truncation"] == 0.4
    assert (tmp_path / "beach.png").stat().st_size > 0 and result.image.min() >= 0 and result.image.max() <= 1


@pytest.mark.parametrize("call,message", [
    (lambda g: g.panorama(width=64.5, height=32), "width 64.5 is not a whole number"),
    (lambda g: g.panorama(width="64", height=32), "width '64' is not a whole number"),
    (lambda g: g.panorama(classes=977.0, width=64, height=32), "classes 977.0 is not a class name"),
    (lambda g: g.panorama(seed=2**70, width=64, height=32), "seed 1180591620717411303424 is out of range"),
    (lambda g: g.bigimg(cols=0), "cols 0 is out of range"),
    (lambda g: g.texture(size=-3), "size -3 is out of range"),
    (lambda g: g.panorama(sampling={"truncation": 0.3}), "sampling must be a ganorama.Sampling"),
])  # fmt: skip
def test_python_api_refuses_bad_values_in_its_own_words(tiny_checkpoint, call, message):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    with pytest.raises(UsageError, match=message):
        call(generator)


def test_loading_errors_through_the_api_name_the_api_argument(tmp_path, monkeypatch):
    import ganorama

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ganorama.GanoramaError) as caught:
        ganorama.Ganorama.from_pretrained("biggan-deep-256")
    assert 'weights="DIR"' in str(caught.value) and "--weights" not in str(caught.value)


def test_result_save_writes_what_the_cli_writes(tiny_checkpoint, tmp_path):
    generator = Ganorama.from_pretrained(weights=str(tiny_checkpoint))
    result = generator.panorama(classes="sandbar", seed=1, width=64, height=32)
    written = result.save(tmp_path / "beach.jpg")
    assert [path.name for path in written] == ["beach.jpg", "beach.json"]
    assert b"GPano:ProjectionType" in (tmp_path / "beach.jpg").read_bytes()
    import json

    sidecar = json.loads((tmp_path / "beach.json").read_text())
    assert sidecar["request"]["seed"] == 1 and sidecar["weights"] == str(tiny_checkpoint)
    with pytest.raises(UsageError, match="already exists"):
        result.save(tmp_path / "beach.jpg")



def test_bigimg_takes_the_commands_batch_size_as_cols(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    by_flag_name = generator.bigimg(classes="orange", seed=0, batch_size=3)
    assert torch.equal(by_flag_name.image, generator.bigimg(classes="orange", seed=0, cols=3).image)
    assert by_flag_name.request.batch_size == 3 and by_flag_name.image.shape == (3, 32, 16 * 4)
    with pytest.raises(UsageError, match="give cols or batch_size"):
        generator.bigimg(cols=3, batch_size=4)
    with pytest.raises(UsageError, match="batch_size 0 is out of range"):
        generator.bigimg(batch_size=0)


def test_panorama_width_alone_sets_the_height_from_python(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    assert generator.panorama(seed=0, width=64).image.shape == (3, 32, 64)


def test_saving_to_an_existing_file_is_refused_before_computing(tiny_checkpoint, tmp_path, monkeypatch):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    (tmp_path / "beach.png").write_bytes(b"mine")

    def no_forward(*args, **kwargs):
        raise AssertionError("computed before refusing the existing file")

    monkeypatch.setattr(generator, "run_many", no_forward)
    with pytest.raises(UsageError, match="beach.png already exists"):
        generator.panorama(seed=0, width=64, save_to=tmp_path / "beach.png")
    assert (tmp_path / "beach.png").read_bytes() == b"mine"


def test_save_with_overwrite_replaces_every_file_of_the_result_on_purpose(tiny_checkpoint, tmp_path):
    import json

    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    first = generator.panorama(seed=0, width=64, save_to=tmp_path / "beach.png")
    assert json.loads((tmp_path / "beach.json").read_text())["seed"] == 0
    second = generator.panorama(seed=1, width=64)
    second.request = second.request.replace(cubemap=True)
    first.request = first.request.replace(cubemap=True)
    first.save(tmp_path / "beach.png", overwrite=True)  # the cube-map folder is new
    first_face = (tmp_path / "beach_cubemap" / "px.png").read_bytes()
    written = second.save(tmp_path / "beach.png", overwrite=True)  # and now replaced, folder and all
    assert [path.name for path in written] == ["beach.png", "beach_cubemap", "beach.json"]
    assert json.loads((tmp_path / "beach.json").read_text())["seed"] == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["beach.json", "beach.png", "beach_cubemap"]
    assert (tmp_path / "beach_cubemap" / "px.png").read_bytes() != first_face

def test_a_sidecar_reproduces_its_result(tiny_checkpoint):
    from ganorama.request import Request

    generator = Ganorama.from_pretrained(weights=str(tiny_checkpoint))
    first = generator.bigimg(classes="orange", seed=4, cols=3, rows=2, wrap="x", max_views=4)
    again = generator.run(Request.from_sidecar(first.metadata_json()))
    assert torch.equal(first.image, again.image)


def test_a_generator_on_the_cpu_tunes_the_allocator_as_the_cli_does(tiny_checkpoint, monkeypatch):
    """The Python API runs at the CLI's speed without the caller tuning anything."""
    import ganorama.devices
    import ganorama.pipeline

    calls = []
    monkeypatch.setattr(ganorama.pipeline, "tune_cpu_allocator", lambda: calls.append("tuned") or True)
    Ganorama.from_pretrained(weights=str(tiny_checkpoint), device="cpu")
    assert calls == ["tuned"]
    monkeypatch.setenv("GANORAMA_MALLOC_TUNING", "0")
    assert ganorama.devices.tune_cpu_allocator() is False  # the documented way out
