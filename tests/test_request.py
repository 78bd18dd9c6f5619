"""The Request value: one check per field, the same messages for every client, round trips."""
from __future__ import annotations

import json

import pytest

from ganorama.errors import UsageError
from ganorama.request import MAX_SEED, Request, fields_for, flag_label, numbered_requests


@pytest.mark.parametrize("values,message", [
    ({"panorama_width": 64.5}, "panorama_width 64.5 is not a whole number"),
    ({"panorama_width": "64"}, "panorama_width '64' is not a whole number"),
    ({"panorama_width": 0}, "panorama_width 0 is out of range"),
    ({"classes": 977.0}, "classes 977.0 is not a class name, id or mix"),
    ({"classes": "sandbr"}, "sandbar"),
    ({"classes": {"sandbar": float("nan")}}, "weight"),
    ({"seed": 2**70}, f"seed {2**70} is out of range; allowed: 0 to {MAX_SEED}"),
    ({"seed": -1}, "seed -1 is out of range"),
    ({"seed": True}, "seed True is not a whole number"),
    ({"z_mul": 1e308}, "z_mul 1e+308 is out of range; allowed: -1000 to 1000"),
    ({"class_mul": 1e30}, "class_mul 1e+30 is out of range"),
    ({"z_mul": float("inf")}, "z_mul inf is out of range"),
    ({"truncation": 0}, "truncation 0.0 is out of range; allowed: 0 < truncation <= 1"),
    ({"start_layer": 1.5}, "start_layer 1.5 is not a whole number"),
    ({"start_layer": 5, "end_layer": 2}, "start_layer 5 end_layer 2 is invalid"),
    ({"panorama_width": 1000, "panorama_height": 1000}, "panorama size 1000x1000 is not 2:1"),
    ({"layout": "ring"}, "layout 'ring' is unknown"),
    ({"layout": []}, "layout has no views"),
    ({"layout": [{"azimuth": float("nan"), "elevation": 0}]}, "azimuth nan is not a finite number"),
    ({"layout": [{"azimuth": 0, "elevation": 0, "fov": 200}]}, "fov 200 is out of range"),
    ({"max_views": 0}, "max_views 0 is out of range"),
    ({"memory_budget": "banana"}, "memory_budget 'banana' is not a memory size"),
    ({"max_views": 2, "memory_budget": "6GB"}, "give max_views or memory_budget, not both"),
    ({"format": "gif"}, "format 'gif' is invalid; allowed: png, jpg"),
    ({"quality": 101}, "quality 101 is out of range; allowed: 1 to 100"),
    ({"displace": 3}, "displace 3.0 is out of range"),
    ({"classes": "orange|lemon"}, "names several classes"),
])  # fmt: skip
def test_bad_values_are_one_line_usage_errors_naming_the_value(values, message):
    with pytest.raises(UsageError) as caught:
        Request.from_dict(values)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_spelling_names_flags():
    with pytest.raises(UsageError, match="--panorama_width 0 is out of range"):
        Request.from_dict({"panorama_width": 0}, label=flag_label)


def test_unknown_fields_are_refused_with_the_closest_name():
    with pytest.raises(UsageError, match=r"unknown field truncaton \(did you mean truncation\?\)"):
        Request.from_dict({"truncaton": 0.4})


def test_fields_of_another_kind_are_refused():
    with pytest.raises(UsageError, match="batch_size does not apply to panorama"):
        Request.from_dict({"kind": "panorama", "batch_size": 4})
    assert "size" in fields_for("texture") and "layout" not in fields_for("texture")


def test_morph_needs_two_classes_and_texture_needs_overlap():
    with pytest.raises(UsageError, match="morph needs two or more classes"):
        Request.from_dict({"kind": "bigimg", "morph": True, "classes": "orange"})
    with pytest.raises(UsageError, match="a texture needs overlap > 0"):
        Request.from_dict({"kind": "texture", "overlap": 0})
    assert Request.from_dict({"kind": "bigimg", "morph": True, "classes": "orange|lemon"}).morph_specs == ["orange", "lemon"]


def test_to_dict_round_trips_through_json_and_from_dict():
    request = Request.from_dict({"kind": "bigimg", "classes": {"sandbar": 0.7, "977": 0.3}, "seed": 5,
                                 "batch_size": 4, "rows": 2, "wrap": "x", "max_views": 3})  # fmt: skip
    again = Request.from_dict(json.loads(json.dumps(request.to_dict())))
    assert again == request and "layout" not in request.to_dict()


def test_layout_views_given_inline_are_kept_as_views_and_written_back():
    from ganorama.canvas.layouts import full_sphere_layout

    views = [{"azimuth": v.azimuth, "elevation": v.elevation, "fov": v.fov} for v in full_sphere_layout()]
    request = Request.from_dict({"layout": views})
    assert len(request.layout) == 18
    assert Request.from_dict(json.loads(json.dumps(request.to_dict()))) == request


def test_layout_file_is_read_and_checked(tmp_path):
    from ganorama.canvas.layouts import cube_layout

    path = tmp_path / "six.json"
    path.write_text(json.dumps({"views": [vars(view) for view in cube_layout()]}))
    assert len(Request(layout=str(path)).layout) == 6
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(UsageError, match="empty.json"):
        Request(layout=str(tmp_path / "empty.json"))
    with pytest.raises(UsageError, match="does not exist"):
        Request(layout=str(tmp_path / "missing.json"))


def test_text_values_from_csv_cells_are_read_then_checked():
    request = Request.from_text({"kind": "panorama", "seed": "12", "no_share_z": "true", "truncation": "0.4",
                                 "panorama_width": "auto", "panorama_height": "auto", "classes": "sandbar"})  # fmt: skip
    assert (request.seed, request.no_share_z, request.truncation, request.panorama_width) == (12, True, 0.4, "auto")
    with pytest.raises(UsageError, match="seed 'twelve' is not a whole number"):
        Request.from_text({"seed": "twelve"})


def test_numbered_requests_follow_the_original_n_rule():
    requests = list(numbered_requests({"kind": "panorama"}, 3, "sandbar|valley", base_seed=10))
    assert [(r.classes, r.seed) for r in requests] == [("sandbar", 10), ("valley", 11), ("sandbar", 12)]


def test_seed_plus_k_must_stay_in_range():
    with pytest.raises(UsageError, match="runs past the largest seed"):
        list(numbered_requests({}, 3, base_seed=MAX_SEED - 1))
    assert list(numbered_requests({}, 2, base_seed=MAX_SEED - 1))[-1].seed == MAX_SEED


def test_sidecar_without_a_request_is_refused():
    with pytest.raises(UsageError, match="no 'request' object"):
        Request.from_sidecar({"seed": 1})
    with pytest.raises(UsageError, match="not valid JSON"):
        Request.from_sidecar("{nope")



def test_from_sidecar_reads_a_file_given_by_name_or_path(tmp_path, monkeypatch):
    import json
    from pathlib import Path

    request = Request.from_dict({"kind": "panorama", "classes": "sandbar", "seed": 4, "panorama_width": 512})
    (tmp_path / "beach.json").write_text(json.dumps({"request": request.to_dict()}))
    monkeypatch.chdir(tmp_path)
    assert Request.from_sidecar("beach.json") == request
    assert Request.from_sidecar(Path("beach.json")) == request
    assert Request.from_sidecar(tmp_path / "beach.json") == request


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("[" * 100 + "]" * 100, "not valid JSON for a sidecar"),
    (" " * (5 * 2**20) + "{}", "larger than 4 MiB"),
    ('{"request": {"kind": "panorama", "seed": "four"}}', "seed"),
    ("[1, 2]", "no 'request' object"),
])  # fmt: skip
def test_a_sidecar_file_is_read_as_data_with_the_hostile_file_checks(tmp_path, content, message):
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UsageError, match=message):
        Request.from_sidecar(path)
    with pytest.raises(UsageError, match=message):
        Request.from_sidecar(str(path))


def test_a_panorama_width_alone_sets_the_height_in_the_library_too():
    assert Request.from_dict({"panorama_width": 512}).panorama_height == "auto"  # the planner halves the width
    assert Request.from_dict({}).panorama_width == 2000 and Request.from_dict({}).panorama_height == 1000
    with pytest.raises(UsageError, match=r"4000x2000 \(give panorama_width 4000 alone\) or 2000x1000; powers of two "
                                         r"suit GPU textures and glTF: 4096x2048"):
        Request.from_dict({"panorama_width": 4000, "panorama_height": 1000})

def test_class_mix_with_huge_weights_normalises_without_overflow():
    from ganorama.models.imagenet import class_mix

    assert class_mix({"sandbar": 1e308, "valley": 1e308}) == {977: 0.5, 979: 0.5}


def test_replace_checks_only_the_fields_it_changes_and_the_rules_across_fields(monkeypatch):
    import ganorama.request as request_module

    request = Request(layout=[{"azimuth": azimuth, "elevation": 0, "fov": 100} for azimuth in (0, 90, 180, 270)]
                      + [{"azimuth": 0, "elevation": 90, "fov": 100}, {"azimuth": 0, "elevation": -90, "fov": 100}])
    calls = []
    real_layout_check = request_module.FIELDS["layout"]
    monkeypatch.setitem(request_module.FIELDS, "layout",
                        lambda value, label: calls.append(label) or real_layout_check(value, label))
    changed = request.replace(seed=3, truncation=0.4)
    assert (changed.seed, changed.truncation, changed.layout) == (3, 0.4, request.layout) and calls == []
    with pytest.raises(UsageError, match="seed 'x' is not a whole number"):
        request.replace(seed="x")
    with pytest.raises(UsageError, match="is not 2:1"):  # a rule across fields still holds
        request.replace(panorama_width=1000)
    with pytest.raises(TypeError, match="no field 'colour'"):
        request.replace(colour="red")
