"""The chunked runner: the same images as one big batch (within float rounding), bounded
schedules, several canvases per forward, and non-finite output caught at its block."""
from __future__ import annotations

import pytest
import torch

from ganorama import BigGAN
from ganorama.canvas.plane import PlaneCanvas
from ganorama.canvas.sphere import SphereCanvas
from ganorama.pipeline import Ganorama, sync_hooks
from ganorama.request import Sampling
from ganorama.request import Request
from ganorama.runner import NonFiniteOutputError, Schedule, run_views

# A different batch size rounds differently in the last bits (measured: up to 8.6e-6 for
# 18 views vs 1 or 5 at a time); these bounds leave room for other CPUs' kernels.
FLOAT_TOLERANCE = 1e-4
MAX_SHARE_OF_MOVED_PIXELS = 0.001


def _inputs(model, views: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    z = 0.5 * torch.randn(views, model.config.z_dim, generator=generator)
    classes = torch.zeros(views, model.config.num_classes)
    classes[torch.arange(views), torch.randint(0, 1000, (views,), generator=generator)] = 1
    return z, classes


def assert_same_image(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Floats within FLOAT_TOLERANCE; as 8-bit images at most one level apart, in at most
    MAX_SHARE_OF_MOVED_PIXELS of the values."""
    torch.testing.assert_close(actual, expected, atol=FLOAT_TOLERANCE, rtol=0)
    actual_8bit = (actual.clamp(0, 1) * 255).round()
    expected_8bit = (expected.clamp(0, 1) * 255).round()
    moved = actual_8bit != expected_8bit
    assert (actual_8bit - expected_8bit).abs().max() <= 1
    assert moved.float().mean().item() <= MAX_SHARE_OF_MOVED_PIXELS, moved.float().mean().item()


@pytest.fixture(scope="module")
def tiny_model(tiny_checkpoint):
    return BigGAN.from_pretrained(tiny_checkpoint)


@pytest.fixture(scope="module")
def small_model(small_checkpoint):
    return BigGAN.from_pretrained(small_checkpoint)


def test_one_chunk_is_exactly_the_models_forward_with_sync_hooks(tiny_model):
    canvas = SphereCanvas.from_layout("full")
    z, classes = _inputs(tiny_model, canvas.num_views)
    with torch.inference_mode(), sync_hooks(tiny_model, canvas, 2, 5):
        hooked = (tiny_model(z, classes, 0.5).float() + 1) / 2
    with torch.inference_mode():
        ran = run_views(tiny_model, canvas.sync_operator, z, classes, 0.5, Schedule(2, 5, canvas.num_views))
    assert torch.equal(ran, hooked)  # same operations on the same tensors


@pytest.mark.parametrize("max_views", [1, 5, 7])
def test_chunked_sphere_views_equal_one_batch_at_128(small_model, max_views):
    canvas = SphereCanvas.from_layout("full")
    z, classes = _inputs(small_model, canvas.num_views, seed=max_views)
    with torch.inference_mode():
        whole = run_views(small_model, canvas.sync_operator, z, classes, 0.5, Schedule(2, 7, canvas.num_views))
        chunked = run_views(small_model, canvas.sync_operator, z, classes, 0.5, Schedule(2, 7, max_views))
    assert_same_image(chunked, whole)


@pytest.mark.parametrize("wrap,max_views", [("none", 2), ("xy", 3), ("x", 1)])
def test_chunked_plane_views_equal_one_batch(tiny_model, wrap, max_views):
    canvas = PlaneCanvas(rows=3, cols=3, tile_size=32, overlap=0.5, wrap=wrap)
    z, classes = _inputs(tiny_model, canvas.num_views, seed=3)
    with torch.inference_mode():
        whole = run_views(tiny_model, canvas.sync_operator, z, classes, 0.5, Schedule(1, 6, canvas.num_views))
        chunked = run_views(tiny_model, canvas.sync_operator, z, classes, 0.5, Schedule(1, 6, max_views))
    assert_same_image(canvas.compose(chunked), canvas.compose(whole))


def test_syncing_every_block_in_chunks_equals_one_batch(tiny_model):
    """Chunks are gathered after every synced block, the last one included."""
    canvas = SphereCanvas.from_layout("cube")
    blocks = tiny_model.config.num_blocks
    z, classes = _inputs(tiny_model, canvas.num_views, seed=4)
    with torch.inference_mode():
        whole = run_views(tiny_model, canvas.sync_operator, z, classes, 0.5, Schedule(0, blocks, 6))
        chunked = run_views(tiny_model, canvas.sync_operator, z, classes, 0.5, Schedule(0, blocks, 4))
    assert_same_image(chunked, whole)


def test_low_resolution_blocks_run_on_the_whole_batch_and_the_result_is_the_same(small_model):
    """The schedule the pipeline uses: the cheap first blocks for all views at once, the rest
    a chunk at a time; images as from one batch."""
    from ganorama.memory import block_view_bytes

    canvas = SphereCanvas.from_layout("full")
    sizes = block_view_bytes(small_model.config, torch.float32)[:-1]
    schedule = Schedule.for_batch(sizes, canvas.num_views, 2, 7, max_views=2)
    assert 0 in schedule.whole_blocks and len(sizes) - 1 not in schedule.whole_blocks
    assert sorted(schedule.whole_blocks) == list(range(len(schedule.whole_blocks)))  # a prefix
    z, classes = _inputs(small_model, canvas.num_views, seed=11)
    with torch.inference_mode():
        whole = run_views(small_model, canvas.sync_operator, z, classes, 0.5, Schedule(2, 7, canvas.num_views))
        scheduled = run_views(small_model, canvas.sync_operator, z, classes, 0.5, schedule)
    assert_same_image(scheduled, whole)


def test_schedule_splits_the_batch_and_counts_steps():
    schedule = Schedule(2, 7, max_views=5)
    assert schedule.chunks(18) == [slice(0, 5), slice(5, 10), slice(10, 15), slice(15, 18)]
    assert schedule.steps(18, 11) == 44
    assert schedule.last_synced == 6 and Schedule(3, 3, 1).last_synced == -1
    with_whole = Schedule(2, 7, max_views=5, whole_blocks=frozenset({0, 1, 2}))
    assert with_whole.steps(18, 11) == 3 + 8 * 4 and with_whole.depth_first_from == 7


def test_progress_reports_every_block_of_every_chunk(tiny_model):
    canvas = SphereCanvas.from_layout("cube")
    z, classes = _inputs(tiny_model, canvas.num_views)
    seen = []
    with torch.inference_mode():
        run_views(tiny_model, canvas.sync_operator, z, classes, 0.5, Schedule(2, 5, 4), lambda d, t: seen.append((d, t)))
    total = tiny_model.config.num_blocks * 2
    assert seen == [(step, total) for step in range(1, total + 1)]


def test_same_request_and_chunking_give_the_same_bytes(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    request = Request(classes="valley", seed=9, panorama_width=64, panorama_height=32, max_views=4)
    first, second = generator.run(request), generator.run(request)
    assert torch.equal(first.image, second.image)
    assert first.metadata["max_views"] == 4 and first.metadata["request"]["max_views"] == 4


@pytest.mark.parametrize("kind,fields", [("panorama", dict(panorama_width=64, panorama_height=32)),
                                         ("texture", dict(size=64)),
                                         ("bigimg", dict(batch_size=4, rows=2, wrap="x"))])  # fmt: skip
def test_several_canvases_per_forward_equal_separate_runs(tiny_checkpoint, kind, fields):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    requests = [Request(kind=kind, seed=seed, classes=name, max_views=64, **fields)
                for seed, name in ((1, "valley"), (2, "sandbar"), (3, "coral reef"))]  # fmt: skip
    separate = [generator.run(request) for request in requests]
    together = list(generator.run_many(requests, batch=3))
    assert [result.metadata["canvases_per_forward"] for result in together] == [3, 3, 3]
    for alone, batched in zip(separate, together):
        assert batched.metadata["seed"] == alone.metadata["seed"]
        assert batched.metadata["view_classes"] == alone.metadata["view_classes"]
        assert_same_image(batched.image, alone.image)


def test_requests_with_different_canvases_run_in_separate_forwards(tiny_checkpoint):
    generator = Ganorama(BigGAN.from_pretrained(tiny_checkpoint))
    requests = [Request(seed=1, panorama_width=64, panorama_height=32),
                Request(seed=2, panorama_width=128, panorama_height=64),
                Request(seed=3, panorama_width=128, panorama_height=64)]  # fmt: skip
    results = list(generator.run_many(requests, batch=8))
    assert [r.metadata["canvases_per_forward"] for r in results] == [1, 2, 2]
    assert [tuple(r.image.shape) for r in results] == [(3, 32, 64), (3, 64, 128), (3, 64, 128)]


def test_non_finite_activations_name_the_first_block_and_dtype(tiny_model):
    canvas = SphereCanvas.from_layout("cube")
    z, classes = _inputs(tiny_model, canvas.num_views)
    broken = BigGAN.from_state_dict(tiny_model.config, {k: v.clone() for k, v in tiny_model.state_dict().items()})
    broken.generator.layers[3].bn_0.running_vars.fill_(-1.0)  # rsqrt of a negative variance: NaN
    with torch.inference_mode(), pytest.raises(NonFiniteOutputError, match=r"first at block 3 \(GenBlock\), in float32"):
        run_views(broken, canvas.sync_operator, z, classes, 0.5, Schedule(2, 5, 3))


def test_sampling_is_checked_when_made():
    from ganorama.errors import UsageError

    with pytest.raises(UsageError, match="start_layer 1.5 is not a whole number"):
        Sampling(start_layer=1.5)
    with pytest.raises(UsageError, match="z_mul inf is out of range"):
        Sampling(z_mul=float("inf"))
