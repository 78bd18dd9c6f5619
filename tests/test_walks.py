"""Walk timing and checks (torch-free), and the noise interpolation."""
from __future__ import annotations

import pytest
import torch

from ganorama.errors import UsageError
from ganorama.latents import seeded_generator, slerp, truncated_noise
from ganorama.walks import EASINGS, Keyframe, Walk, ease, frame_count, keyframes_from

TWO = (Keyframe("valley", 3), Keyframe("sandbar", 4))


def test_a_looped_walk_never_repeats_its_first_frame_and_an_open_one_ends_on_its_last_keyframe():
    looped = Walk(TWO, frames=8, loop=True, easing="linear")
    assert [looped.position(k) for k in (0, 4, 7)] == [(0, 1, 0.0), (1, 0, 0.0), (1, 0, 0.75)]
    open_walk = Walk(TWO, frames=5, easing="linear")
    assert open_walk.position(4) == (0, 1, 1.0) and open_walk.position(2) == (0, 1, 0.5)


@pytest.mark.parametrize("easing", EASINGS)
def test_every_easing_keeps_the_ends_and_is_monotonic(easing):
    values = [ease(easing, step / 20) for step in range(21)]
    assert values[0] == 0 and values[-1] == pytest.approx(1)
    assert all(a <= b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("make, named", [
    (lambda: Walk(TWO[:1], frames=8, loop=True), "2 or more keyframes"),
    (lambda: Walk(TWO, frames=8, fps=0), "fps 0"),
    (lambda: Walk(TWO, frames=10**7), "frames 10000000"),
    (lambda: Walk(TWO, frames=8, easing="bounce"), "bounce"),
    (lambda: frame_count(None, None), "frames N or seconds"),
    (lambda: frame_count(None, 10**6, 24), "at most"),
])  # fmt: skip
def test_bad_walks_are_usage_errors_naming_the_value(make, named):
    with pytest.raises(UsageError, match=named):
        make()


def test_seconds_times_fps_gives_the_frame_count():
    assert frame_count(None, 10, 24) == 240 and frame_count(30, None, 24) == 30


def test_command_line_keyframes_take_one_name_each_and_consecutive_seeds():
    assert keyframes_from("a|b", 3) == (Keyframe("a", 3), Keyframe("b", 4))
    assert keyframes_from("a|b", 3, 3)[2] == Keyframe("a", 5)
    assert keyframes_from(None, 7, 2) == (Keyframe(None, 7), Keyframe(None, 8))


def test_slerp_keeps_the_noise_norm_where_a_straight_blend_shrinks_it():
    a, b = truncated_noise(2, 128, 1.0, seeded_generator(0)).split(1)
    curved = slerp(a, b, 0.5).norm()
    straight = (0.5 * a + 0.5 * b).norm()
    ends = 0.5 * (a.norm() + b.norm())
    assert abs(curved - ends) < 0.05 * ends and straight < 0.8 * ends
    assert torch.allclose(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-6)
    assert torch.allclose(slerp(a, a, 0.3), a)


def test_frame_ranges_cover_exactly_the_frames_asked_in_runs_no_longer_than_asked():
    from ganorama.walks import frame_ranges

    assert frame_ranges(range(10), 4) == [range(0, 4), range(4, 8), range(8, 10)]
    assert frame_ranges([1, 2, 3, 7, 9, 10], 2) == [range(1, 3), range(3, 4), range(7, 8), range(9, 11)]
    assert frame_ranges([], 5) == []
    assert frame_ranges([5], 1) == [range(5, 6)]


def test_by_default_each_worker_gets_several_ranges_of_a_video_none_too_long():
    from ganorama.walks import MAX_DEFAULT_FRAMES_PER_TASK, RANGES_PER_WORKER, default_frames_per_task

    assert default_frames_per_task(240, 2) == 30  # 8 ranges: 4 a worker
    assert default_frames_per_task(3, 8) == 1
    assert default_frames_per_task(36000, 1) == MAX_DEFAULT_FRAMES_PER_TASK
    assert 240 / default_frames_per_task(240, 3) >= 3 * RANGES_PER_WORKER - 1
