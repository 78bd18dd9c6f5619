"""The web form as data (no gradio, no browser): widget values <-> Request, the class
list and search, the mix editor, and sidecar uploads."""
from __future__ import annotations

import json

import pytest

from ganorama.canvas.layouts import cube_layout
from ganorama.request import MAX_SIDECAR_BYTES
from ganorama.errors import UsageError
from ganorama.models import imagenet
from ganorama.request import KINDS, Request
from ganorama.ui import form


@pytest.mark.parametrize("kind", KINDS)
def test_the_untouched_form_is_the_cli_default_request(kind):
    assert form.request_from_form(kind, form.default_values(kind)) == Request(kind=kind)


@pytest.mark.parametrize(
    "request_",
    [
        Request(kind="panorama", classes="0.7*sandbar+0.3*valley", seed=2**63 - 1, truncation=0.3, no_share_z=True,
                panorama_width="auto", panorama_height="auto", layout="cube", cubemap=True, mesh=True, displace=0.1),
        Request(kind="panorama", classes="977", seed=0, layout=[vars(view) for view in cube_layout()],
                panorama_width=64, panorama_height=32, max_views=3, format="jpg", quality=80),
        Request(kind="bigimg", classes="orange|lemon", morph=True, batch_size=3, rows=2, overlap=0.25, wrap="x",
                memory_budget="6GB", save_views=True),
        Request(kind="texture", classes=None, seed=9, size=100, overlap=0.75, share_class=True, start_layer=1,
                end_layer=5),
    ],
    ids=["panorama-mix-auto", "panorama-layout-list", "bigimg-morph", "texture"],
)  # fmt: skip
def test_a_request_fills_the_form_and_the_form_gives_it_back(request_):
    """What "Reproduce" relies on: every field of every kind survives the page."""
    values = form.widget_values(request_)
    assert set(values) == set(form.widgets_for(request_.kind))
    assert form.request_from_form(request_.kind, values) == request_


def test_a_mapping_of_classes_becomes_mix_text_with_the_same_weights():
    mapping = {"sandbar": 0.1, 978: 1 / 3}
    text = form.classes_text(mapping)
    assert imagenet.class_mix(text) == imagenet.class_mix(mapping)  # exactly, not approximately


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"truncation": 5.0}, "--truncation 5.0 is out of range; allowed: 0 < truncation <= 1"),
        ({"truncation": None}, "--truncation is empty; give a number"),
        ({"seed": "abc"}, "--seed 'abc' is not a whole number"),
        ({"seed": "-1"}, "--seed -1 is out of range"),
        ({"start_layer": 2.5}, "--start_layer 2.5 is not a whole number"),
        ({"panorama_width": "63"}, "panorama size 63x1000 is not 2:1"),
        ({"classes": "notaclass"}, "unknown ImageNet class 'notaclass'"),
        ({"classes": "orange|lemon"}, "names several classes"),
        ({"exports": ["cubemap", "rm -rf"]}, "exports ['rm -rf'] are unknown"),
    ],
)
def test_a_bad_value_gives_the_clis_one_line_message(changes, message):
    values = {**form.default_values("panorama"), **changes}
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("[", r"\[")) as caught:
        form.request_from_form("panorama", values)
    assert "\n" not in str(caught.value)


def test_the_form_makes_the_same_request_as_the_cli_flags(tiny_checkpoint):
    """The CLI's own parser and template for the same options give the same Request."""
    from ganorama.cli import build_parser
    from ganorama.cli.generate import request_template

    args = build_parser().parse_args(["panorama", "--weights", str(tiny_checkpoint), "--seed", "5", "--class_names",
                                      "sandbar", "--panorama_width", "64", "--panorama_height", "32", "--z_mul", "2",
                                      "--no_share_z", "--cubemap"])  # fmt: skip
    cli = Request.from_dict({**request_template(args, "panorama"), "classes": "sandbar", "seed": 5, "format": "png"})
    page = form.request_from_form("panorama", {**form.default_values("panorama"), "classes": "sandbar", "seed": "5",
                                               "panorama_width": "64", "panorama_height": "32", "z_mul": 2.0,
                                               "share_z": False, "exports": ["cubemap"]})  # fmt: skip
    assert page == cli


@pytest.mark.parametrize("layout", ["/etc/passwd.json", "layout.json", "~/views.json", "sphere"])
def test_a_layout_that_names_a_file_is_refused_so_the_server_reads_none(layout):
    with pytest.raises(UsageError, match="reads no files on the server"):
        form.layout_value(layout)


def test_a_layout_pasted_as_json_is_read():
    views = [vars(view) for view in cube_layout()]
    assert form.layout_value(json.dumps(views)) == views
    with pytest.raises(UsageError, match="not valid JSON"):
        form.layout_value("[{")


def test_every_class_is_offered_and_each_choice_names_its_class():
    choices = form.class_choices()
    assert len(choices) == imagenet.NUM_CLASSES
    for class_id, (label, value) in enumerate(choices):
        assert imagenet.lookup(value) == class_id
        assert all(name in label for name in imagenet.class_names(class_id)) and f"({class_id})" in label
    assert choices[134][1] == "134"  # "crane" is a bird and a machine: the id says which


def test_search_finds_classes_by_scene_words_best_first():
    values = [value for _, value in form.search_classes("beach")]
    assert values[:2] == ["seashore", "sandbar"]
    assert form.search_classes("  ") == []


def test_the_mix_editor_writes_a_mix_the_library_reads():
    assert form.compose_mix([("sandbar", 0.7), ("valley", 0.3), (None, 1.0)]) == "0.7*sandbar+0.3*valley"
    with pytest.raises(UsageError, match="weight 0"):
        form.compose_mix([("sandbar", 0.0)])
    with pytest.raises(UsageError, match="empty"):
        form.compose_mix([(None, 1.0), ("", 2.0)])
    with pytest.raises(UsageError, match="unknown ImageNet class 'sandbarr'"):
        form.compose_mix([("sandbarr", 1.0)])


def sidecar_for(request: Request) -> dict:
    return {"seed": request.seed, "request": request.to_dict()}


def test_an_uploaded_sidecar_gives_back_its_request(tmp_path):
    request = Request(kind="texture", classes="valley", seed=4, size=96)
    path = tmp_path / "3.json"
    path.write_text(json.dumps(sidecar_for(request)))
    assert form.request_from_sidecar_file(path) == request


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe not json", "not valid JSON"),
        (b"[1, 2]", "no 'request' object"),
        (json.dumps({"request": {"kind": "panorama", "layout": "/etc/passwd.json"}}).encode(), "reads no files"),
        (json.dumps({"request": {"kind": "panorama", "truncation": 7}}).encode(), "truncation 7.0 is out of range"),
        (b" " * (MAX_SIDECAR_BYTES + 1), "larger than 4 MiB"),
    ],
    ids=["binary", "not-an-object", "layout-file", "bad-value", "too-large"],
)
def test_an_uploaded_file_that_is_no_good_sidecar_is_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "upload.json"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as caught:
        form.request_from_sidecar_file(path)
    assert "\n" not in str(caught.value)


def test_a_dense_layout_is_taken_by_name():
    assert form.layout_value("dense") == "dense" and form.layout_value(" dense:16 ") == "dense:16"


def panorama_values(**changes) -> dict:
    return {**form.default_values("panorama"), "panorama_width": "64", "panorama_height": "32", **changes}


def test_count_makes_the_clis_numbered_requests_seed_after_seed_and_class_after_class():
    from ganorama.request import numbered_requests

    requests = form.requests_from_form("panorama", panorama_values(classes="sandbar|valley", seed="40"), 3)
    template = {"kind": "panorama", "panorama_width": 64, "panorama_height": 32}
    assert requests == list(numbered_requests(template, 3, "sandbar|valley", 40))
    assert [(request.classes, request.seed) for request in requests] == [("sandbar", 40), ("valley", 41),
                                                                         ("sandbar", 42)]  # fmt: skip
    assert form.requests_from_form("panorama", panorama_values(classes="sandbar", seed="7"), 1.0) == [
        form.request_from_form("panorama", panorama_values(classes="sandbar", seed="7"))]


@pytest.mark.parametrize("count, message", [(0, "count \\(-n\\) 0 is out of range"), (25, "25 is out of range"),
                                            (2.5, "not a whole number")])  # fmt: skip
def test_a_count_outside_what_the_history_keeps_is_refused_in_one_line(count, message):
    with pytest.raises(UsageError, match=message):
        form.requests_from_form("panorama", panorama_values(), count)


def animate_values(**changes) -> dict:
    names = form.ANIMATE_WIDGETS
    values = {**form.default_values("panorama"), **form.ANIMATE_DEFAULTS, "classes": "valley|sandbar", "seed": "3"}
    return {**{name: values[name] for name in names}, **changes}


def test_the_animate_tab_gives_the_walk_and_frame_request_of_the_same_cli_command(tiny_checkpoint):
    """The form's (request, walk) equal what ``ganorama animate`` builds for the same flags."""
    from ganorama.cli import build_parser
    from ganorama.cli.animate import _request_fields
    from ganorama.walks import Walk, keyframes_from

    args = build_parser().parse_args(["animate", "--weights", str(tiny_checkpoint), "--class_names", "valley|sandbar",
                                      "--seed", "3", "--frames", "8", "--fps", "8", "--loop", "--panorama_width",
                                      "64", "--panorama_height", "32", "-o", "v.mp4"])  # fmt: skip
    walk = Walk(keyframes_from(args.class_names, args.seed), 8, 8.0, True, "smooth")
    request, page_walk = form.animation_from_form(animate_values(frames=8, fps=8, panorama_width="64",
                                                                 panorama_height="32"))  # fmt: skip
    assert page_walk == walk
    assert request == Request.from_dict(_request_fields(args, walk))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"classes": "valley", "loop": True}, "2 or more keyframes"),
        ({"frames": 1}, "--frames 1 is out of range"),
        ({"fps": 0}, "fps"),
        ({"classes": "valley|notaclass"}, "unknown ImageNet class 'notaclass'"),
        ({"panorama_width": "63"}, "not 2:1"),
        ({"keyframes": "two"}, "--keyframes 'two' is not a whole number"),
        ({"keyframes": "0"}, "--keyframes 0 is out of range"),
    ],
    ids=["one-keyframe-loop", "one-frame", "fps-0", "bad-second-keyframe", "not-2-to-1", "keyframes-text",
         "keyframes-0"],
)
def test_a_bad_animation_is_refused_in_one_line_before_any_frame(changes, message):
    with pytest.raises(UsageError, match=message) as caught:
        form.animation_from_form(animate_values(**changes))
    assert "\n" not in str(caught.value)


def test_keyframes_given_cycle_through_the_classes():
    _, walk = form.animation_from_form(animate_values(classes="valley|sandbar", keyframes=" 3 "))
    assert [(keyframe.classes, keyframe.seed) for keyframe in walk.keyframes] == [("valley", 3), ("sandbar", 4),
                                                                                  ("valley", 5)]  # fmt: skip


def test_share_z_unchecked_is_the_clis_no_share_z():
    assert form.request_from_form("panorama", panorama_values(share_z=False)).no_share_z is True
    assert form.request_from_form("panorama", panorama_values(share_z=True)).no_share_z is False
