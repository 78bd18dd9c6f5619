"""Planning before loading: canvases shared by shape, custom layouts checked for holes,
groups planned by arithmetic only, one key for what may share a forward."""
from __future__ import annotations

import pytest

from ganorama.errors import UsageError
from ganorama.models.config import BigGANConfig
from ganorama.planning import Planner
from ganorama.request import Request, flag_label


@pytest.fixture
def planner():
    return Planner(BigGANConfig.preset("biggan-deep-128"))


def test_a_layout_that_leaves_a_hole_is_refused_when_planned_naming_the_share(planner):
    request = Request(layout=[{"azimuth": 0, "elevation": 0}])  # a value the request itself accepts
    with pytest.raises(UsageError, match=r"^--layout leaves 88.4% of directions outside every view"):
        planner.plan(request, flag_label)


def test_equal_canvases_are_made_once_and_shared_by_every_plan(planner):
    first = planner.plan(Request(seed=1, classes="sandbar"))
    second = planner.plan(Request(seed=2, classes="valley", truncation=0.4))
    wrapped = planner.plan(Request(kind="bigimg", batch_size=4, wrap="x"))
    assert first.canvas is second.canvas and first.canvas is not wrapped.canvas
    assert first.key() != second.key()  # the truncation differs: not one forward
    assert first.key() == planner.plan(Request(seed=9)).key()


def test_a_group_plan_changes_only_the_memory_and_keeps_the_canvas(planner):
    plan = planner.plan(Request(panorama_width=512, panorama_height=256))
    group = planner.for_group(plan, 3)
    assert group.canvas is plan.canvas and group.canvases == 3
    assert group.memory.peak_bytes > plan.memory.peak_bytes
    assert planner.for_group(plan, 1) is plan


def test_a_group_that_cannot_fit_is_refused_before_anything_runs(planner):
    request = Request(kind="texture", size=128 * 400, max_views=1)
    with pytest.raises(UsageError, match="needs about .* of memory"):
        planner.preflight(request, label=flag_label)


def test_memory_plan_counts_the_sync_operators_of_a_dense_layout(planner):
    """A dense layout's many views make large sync operators: the plan says so, and its
    estimate grows with the views while full's stays small."""
    full = planner.plan(Request(panorama_width=2048, panorama_height=1024)).memory.parts
    dense = planner.plan(Request(layout="dense", panorama_width=2048, panorama_height=1024)).memory.parts
    assert 0 < full["sync operators"] < dense["sync operators"]
    assert dense["sync operators"] > 10 * full["sync operators"]  # 334 views against 18


def test_the_time_estimate_scales_with_results_and_views(planner):
    panorama = planner.plan(Request(kind="panorama", classes="sandbar", seed=1, panorama_width=256, panorama_height=128))
    one, three = planner.seconds_estimate(panorama, 1), planner.seconds_estimate(panorama, 3)
    assert one > 0 and abs(three - 3 * one) < 1e-9 * three  # one measured rate per planner
    texture = planner.plan(Request(kind="texture", classes="sandbar", seed=1, size=64))
    ratio = planner.seconds_estimate(panorama) / planner.seconds_estimate(texture)
    assert abs(ratio - panorama.canvas.num_views / texture.canvas.num_views) < 1e-9 * ratio
