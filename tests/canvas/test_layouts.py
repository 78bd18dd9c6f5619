"""Dense layouts: views, rings and the widths they reach (the vocabulary, no model)."""
from __future__ import annotations

import pytest

from ganorama.canvas.layouts import (MAX_DENSE_VIEWS, check_layout_value, dense_layout, dense_native_width,
                                     dense_views_for, full_sphere_layout)
from ganorama.canvas.sphere import SphereCanvas, auto_panorama_width, check_covers_sphere
from ganorama.errors import UsageError


@pytest.mark.parametrize("equator_views", [8, 9, 12, 16, 23, 32, pytest.param(64, marks=pytest.mark.slow)])
def test_dense_layouts_cover_the_sphere_with_poles(equator_views):
    """Checked here for the whole range rather than before every run (the planner trusts
    a dense layout as it trusts the named ones: 10 s saved before loading at 334 views)."""
    views = dense_layout(equator_views)
    check_covers_sphere(views, "layout")
    assert {view.elevation for view in views} >= {90.0, -90.0}
    assert sum(view.elevation == 0 for view in views) == equator_views


def test_dense_views_overlap_like_full():
    """full: 8 equator views of 90 degrees, 45 apart; dense:N: fov twice the spacing too."""
    assert {view.fov for view in full_sphere_layout() if view.elevation == 0} == {90.0}
    for equator_views in (16, 32):
        assert {view.fov for view in dense_layout(equator_views)} == {720.0 / equator_views}


def test_dense_32_at_128_reaches_2048_natively_from_more_views_than_full():
    views = dense_layout(dense_views_for("dense", 128, "auto"))
    assert auto_panorama_width(128, views) == dense_native_width(128, 32) == 2048
    assert len(views) > len(full_sphere_layout())


def test_dense_follows_the_width_asked_for():
    # 8192 at 512: 22.5-degree views, 32 around the equator (the example).
    assert dense_views_for("dense", 512, 8192) == 32
    assert dense_views_for("dense:16", 128, 1024) == 16
    assert auto_panorama_width(128, dense_layout(dense_views_for("dense", 128, 3000))) >= 3000


def test_dense_sphere_canvas_composes_every_pixel():
    plan = SphereCanvas(dense_layout(8)).composition_plan(32, 64, 16)
    assert plan.interior_coverage == 1.0


@pytest.mark.parametrize("value", ["dense:0", "dense:100000", "dense:7", f"dense:{MAX_DENSE_VIEWS + 1}", "dense:x",
                                   "dense:", "dense:-8"])
def test_bad_dense_values_are_one_line_naming_the_range(value):
    with pytest.raises(UsageError, match=r"'dense:.*' is invalid; allowed: dense or dense:N .* 8 to 64"):
        check_layout_value(value)


def test_dense_values_are_kept_as_names():
    assert check_layout_value("dense") == "dense" and check_layout_value("dense:016") == "dense:16"


@pytest.mark.parametrize("layout,width,expected", [("dense:8", 4096, "reaches width 512 natively"),
                                                   ("dense", 100000, "cannot reach width 100000")])
def test_unreachable_widths_are_refused(layout, width, expected):
    with pytest.raises(UsageError, match=expected):
        dense_views_for(layout, 128, width)


def test_a_dense_name_alone_gives_its_native_views():
    from ganorama.canvas.layouts import layout_views

    assert len(layout_views("dense:8")) == len(dense_layout(8)) and len(layout_views("dense")) == len(dense_layout(32))


def test_a_layout_of_too_many_views_is_refused_at_once_naming_the_limit(tmp_path):
    """100,000 views were refused only after the coverage check tried to allocate 157 GB."""
    import json

    from ganorama.canvas.layouts import MAX_LAYOUT_VIEWS

    layout = tmp_path / "many.json"
    layout.write_text(json.dumps([{"azimuth": index % 360, "elevation": 0} for index in range(100_000)]))
    with pytest.raises(UsageError, match=f"has 100,000 views; at most {MAX_LAYOUT_VIEWS:,} are allowed"):
        check_layout_value(str(layout), "--layout")
