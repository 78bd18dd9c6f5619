"""Ganorama.animate: latent walks through the same request and runner as a panorama."""
from __future__ import annotations

import json
import random

import pytest
import torch

from ganorama import BigGAN
from ganorama.pipeline import Ganorama, blend_mixes
from ganorama.request import Request
from ganorama.walks import Keyframe, Walk

TEMPLATE = dict(kind="panorama", panorama_width=128, panorama_height=64, max_views=18)


@pytest.fixture(scope="module")
def generator(tiny_checkpoint):
    return Ganorama(BigGAN.from_pretrained(tiny_checkpoint), model_name="fixture")


def walk_frames(generator: Ganorama, walk: Walk, frames=None) -> dict[int, torch.Tensor]:
    request = Request.from_dict({**TEMPLATE, "classes": walk.keyframes[0].classes, "seed": walk.keyframes[0].seed})
    return {index: result.image for index, result in generator.animate(request, walk, frames)}


def difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().mean())


def test_a_frame_on_a_keyframe_is_that_keyframes_panorama(generator):
    walk = Walk((Keyframe("valley", 3), Keyframe("sandbar", 4), Keyframe(None, 9)), frames=6, loop=True)
    frames = walk_frames(generator, walk, [0, 2, 4])
    for index, keyframe in zip((0, 2, 4), walk.keyframes):
        single = generator.run(Request.from_dict({**TEMPLATE, "classes": keyframe.classes, "seed": keyframe.seed}))
        assert torch.allclose(frames[index], single.image, atol=1e-5)


def test_a_frame_between_keyframes_is_the_panorama_of_the_interpolated_latent(generator):
    from ganorama.latents import slerp
    from ganorama.runner import run_views

    walk = Walk((Keyframe("valley", 3), Keyframe("sandbar", 4)), frames=5, easing="linear")
    (frame,) = walk_frames(generator, walk, [1]).values()
    plan = generator.planner.plan(Request.from_dict({**TEMPLATE, "classes": "valley", "seed": 3}))
    a, b = (generator._draw(k.seed, k.classes, plan.request.sampling, plan.canvas) for k in walk.keyframes)
    z, classes = slerp(a.z, b.z, 0.25), 0.75 * a.class_vectors + 0.25 * b.class_vectors
    schedule = generator._schedule(plan.request.start_layer, plan.request.end_layer, plan.max_views, z.shape[0])
    with torch.inference_mode():
        views = run_views(generator.model, plan.canvas.sync_operator, z, classes, plan.request.truncation, schedule)
    expected = plan.canvas.compose(views, plan.height, plan.width).clamp(0, 1)
    assert torch.allclose(frame, expected, atol=1e-5)


def test_consecutive_frames_differ_far_less_than_random_pairs(generator):
    walk = Walk(tuple(Keyframe(name, seed) for name, seed in (("valley", 3), ("sandbar", 4), ("coral reef", 5))),
                frames=24, loop=True)  # fmt: skip
    frames = walk_frames(generator, walk)
    consecutive = [difference(frames[i], frames[(i + 1) % 24]) for i in range(24)]
    chooser = random.Random(0)
    pairs = [tuple(chooser.sample(range(24), 2)) for _ in range(40)]
    unrelated = [difference(frames[i], frames[j]) for i, j in pairs if min(abs(i - j), 24 - abs(i - j)) >= 4]
    mean_consecutive = sum(consecutive) / len(consecutive)
    mean_unrelated = sum(unrelated) / len(unrelated)
    assert mean_consecutive < 0.5 * mean_unrelated, (mean_consecutive, mean_unrelated)
    # The loop's seam (frame 23 -> 0) is one more consecutive step, not a jump.
    assert consecutive[-1] <= 1.5 * max(consecutive[:-1])


def test_a_walks_dict_round_trips_and_its_sidecar_makes_the_same_frames_again(generator):
    walk = Walk((Keyframe("valley", 3), Keyframe({"sandbar": 0.5, "valley": 0.5}, 8)), frames=4, fps=12, loop=True)
    again = Walk.from_dict(json.loads(json.dumps(walk.to_dict())))
    assert again.to_dict() == walk.to_dict()
    first, second = walk_frames(generator, walk, [1]), walk_frames(generator, again, [1])
    assert torch.equal(first[1], second[1])


def test_blended_class_mixes_sum_to_one():
    mix = blend_mixes({1: 1.0}, {2: 0.5, 1: 0.5}, 0.5)
    assert mix == pytest.approx({1: 0.75, 2: 0.25})
