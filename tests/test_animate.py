"""Ganorama.animate: latent walks through the same request and runner as a panorama."""
from __future__ import annotations

import json
import random
import re

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


def test_keyframes_with_their_own_z_mul_and_truncation_are_those_panoramas(generator):
    """A keyframe's own z_mul and truncation: its frame is the panorama made with them;
    a frame between two truncations runs at the blend of the two."""
    walk = Walk((Keyframe("valley", 3, truncation=0.3), Keyframe("sandbar", 4, z_mul=1.5, truncation=0.9)),
                frames=5, easing="linear")  # fmt: skip
    frames = walk_frames(generator, walk)
    for index, keyframe in ((0, walk.keyframes[0]), (4, walk.keyframes[1])):
        fields = {"truncation": keyframe.truncation, **({"z_mul": keyframe.z_mul} if keyframe.z_mul else {})}
        single = generator.run(Request.from_dict({**TEMPLATE, "classes": keyframe.classes, "seed": keyframe.seed,
                                                  **fields}))  # fmt: skip
        assert torch.allclose(frames[index], single.image, atol=1e-5)
    assert [walk.truncation_at(index, 0.5) for index in range(5)] == [0.3, 0.45, 0.6, 0.75, 0.9]
    plain = walk_frames(generator, Walk((Keyframe("valley", 3), Keyframe("sandbar", 4)), frames=5, easing="linear"))
    assert difference(frames[0], plain[0]) > 1e-3  # the keyframe's truncation was used, not the request's


def test_a_keyframes_file_is_read_with_every_field_checked(tmp_path):
    from ganorama.errors import UsageError
    from ganorama.walks import read_keyframes

    good = tmp_path / "keys.json"
    good.write_text(json.dumps({"keyframes": [{"classes": "valley", "seed": 3, "truncation": 0.4},
                                              {"classes": "0.7*sandbar+0.3*valley", "z_mul": 2}]}))  # fmt: skip
    assert read_keyframes(str(good), seed=10) == (Keyframe("valley", 3, truncation=0.4),
                                                  Keyframe("0.7*sandbar+0.3*valley", 11, z_mul=2.0))  # fmt: skip
    for text, expected in [("[]", "must be a list of keyframes"),
                           ('[{"seed": 1, "speed": 2}]', "unknown field 'speed'"),
                           ('[{"seed": -1}]', "seed -1 is out of range"),
                           ('[{"seed": 1, "z_mul": "big"}]', "z_mul 'big' is not a number"),
                           ('[{"seed": 1, "classes": [1, 2]}]', "classes [1, 2] must be a class name"),
                           ("[" * 100_000, "is not valid JSON")]:  # fmt: skip
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(UsageError, match=re.escape(expected)):
            read_keyframes(str(bad), seed=0)


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
