"""Job files, row names, resume decisions and one worker's work, without Ray."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganorama.batch import Row, RowStatus, numbered_rows, parse_jobs, plan_rows, process_rows, read_jobs, request_differences
from ganorama.destinations import Destination
from ganorama.errors import UsageError
from ganorama.request import Request

SMALL = {"panorama_width": 64, "panorama_height": 32}


def jsonl(*rows) -> str:
    return "\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n"


def test_jsonl_rows_get_their_line_numbers_and_stable_names():
    text = jsonl({"classes": "sandbar", "seed": 1}, "", {"id": "beach", "classes": 977, "seed": 2},
                 {"kind": "texture", "seed": 3, "size": 64})  # fmt: skip
    rows = parse_jobs(text, "jobs.jsonl")
    assert [(row.index, row.where, row.name) for row in rows] == [
        (0, "jobs.jsonl line 1", "row-000000"), (1, "jobs.jsonl line 3", "beach"),
        (2, "jobs.jsonl line 4", "row-000002")]  # fmt: skip
    assert rows[1].request.classes == 977 and rows[2].request.kind == "texture"


def test_defaults_fill_only_fields_a_row_leaves_out_and_its_kind_takes():
    text = jsonl({"seed": 1, "truncation": 0.3}, {"kind": "texture", "seed": 2})
    rows = parse_jobs(text, "jobs.jsonl", defaults={"truncation": 0.8, "panorama_width": 64, "panorama_height": 32})
    assert rows[0].request.truncation == 0.3 and rows[0].request.panorama_width == 64
    assert rows[1].request.truncation == 0.8 and rows[1].request.kind == "texture"


def test_csv_rows_read_cells_like_the_command_line_and_skip_empty_cells(tmp_path):
    jobs = tmp_path / "jobs.csv"
    jobs.write_text('id,kind,classes,seed,truncation,viewer\nbeach,panorama,"0.7*sandbar+0.3*valley",1,0.4,yes\n'
                    ",texture,lakeside,2,,\n")  # fmt: skip
    first, second = read_jobs(jobs)
    assert (first.name, first.where, first.request.seed, first.request.truncation, first.request.viewer) == (
        "beach", "jobs.csv line 2", 1, 0.4, True)
    assert (second.name, second.request.kind, second.request.truncation) == ("row-000001", "texture", 0.5)


@pytest.mark.parametrize("text,expected", [
    (jsonl({"seed": 1}, '{"seed": 2,}'), "jobs.jsonl line 2: not valid JSON"),
    (jsonl({"seed": 1}, {"classes": "sandbr", "seed": 2}), "jobs.jsonl line 2: unknown ImageNet class 'sandbr'; did you mean: sandbar (977)?"),
    (jsonl({"seeed": 1}), "jobs.jsonl line 1: unknown field seeed (did you mean seed?)"),
    (jsonl({"seed": -1}), "jobs.jsonl line 1: seed -1 is out of range; allowed: 0 to"),
    (jsonl({"truncation": 0}), "jobs.jsonl line 1: truncation 0.0 is out of range; allowed: 0 < truncation <= 1"),
    (jsonl([1, 2]), "jobs.jsonl line 1: a row must be a JSON object"),
    (jsonl({"id": "../x"}), "jobs.jsonl line 1: id '../x' is invalid"),
    (jsonl({"kind": "texture", "panorama_width": 64}), "jobs.jsonl line 1: panorama_width does not apply to texture"),
])  # fmt: skip
def test_a_bad_row_is_named_by_its_line(text, expected):
    with pytest.raises(UsageError) as error:
        parse_jobs(text, "jobs.jsonl")
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_every_row_is_checked_and_the_other_bad_rows_are_counted():
    text = jsonl({"seed": -1}, {"seed": 1}, {"truncation": 2}, {"z_mul": "x"})
    with pytest.raises(UsageError, match=r"^jobs.jsonl line 1: .* \(2 more bad rows: lines 3, 4\)$"):
        parse_jobs(text, "jobs.jsonl")


def test_csv_header_typo_is_reported_on_line_1():
    with pytest.raises(UsageError, match="jobs.csv line 1: unknown column 'clases' \\(did you mean classes\\?\\)"):
        parse_jobs("clases,seed\nsandbar,1\n", "jobs.csv", "csv")


@pytest.mark.parametrize("rows,expected", [
    ([{"id": "a"}, {"id": "a"}], "output a.png is also written by jobs.jsonl line 1"),
    ([{"id": "a", "save_views": True}, {"id": "a_views"}], "output a_views.png is also written"),
    ([{"id": "row-000001"}, {"seed": 1}], "output row-000001.png is also written"),
    ([{"id": "summary"}], "id 'summary' is reserved"),
])  # fmt: skip
def test_rows_never_share_an_output_file(rows, expected):
    with pytest.raises(UsageError, match=expected):
        parse_jobs(jsonl(*rows), "jobs.jsonl")


def test_an_empty_job_file_is_refused():
    with pytest.raises(UsageError, match="has no rows"):
        parse_jobs("\n\n", "jobs.jsonl")


def test_numbered_rows_follow_the_seed_plus_k_rule():
    rows = numbered_rows({"kind": "panorama", **SMALL}, 3, "sandbar|valley", 10)
    assert [(row.name, row.request.seed, row.request.classes) for row in rows] == [
        ("row-000000", 10, "sandbar"), ("row-000001", 11, "valley"), ("row-000002", 12, "sandbar")]


def test_row_records_round_trip_for_the_workers():
    row = parse_jobs(jsonl({"id": "x", "classes": {"sandbar": 0.5, "977": 0.5}, "seed": 3, "viewer": True}), "j")[0]
    assert Row.from_record(json.loads(json.dumps(row.to_record()))) == row


# --- what counts as done ---------------------------------------------------------------------


def recorded(**fields) -> Request:
    return Request.from_dict({"seed": 7, "max_views": 18, **SMALL, **fields})


def test_a_recorded_request_matches_a_row_that_left_seed_chunking_and_size_to_the_run():
    wanted = Request.from_dict({"panorama_width": "auto", "panorama_height": "auto"})
    assert request_differences(wanted, recorded()) == []
    assert request_differences(Request.from_dict({"seed": 7, **SMALL}), recorded()) == []


def test_a_changed_row_differs_from_its_old_result():
    assert request_differences(Request.from_dict({"seed": 8, **SMALL}), recorded()) == ["seed"]
    assert request_differences(Request.from_dict({"seed": 7, "truncation": 0.4, **SMALL}), recorded()) == ["truncation"]


def write_sidecar(directory: Path, name: str, request: Request) -> None:
    directory.mkdir(exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps({"request": request.to_dict()}))


def test_plan_rows_skips_complete_results_and_refuses_a_changed_job(tmp_path):
    rows = numbered_rows({"kind": "panorama", **SMALL}, 3, None, 7)
    write_sidecar(tmp_path, "row-000000", recorded())
    plan = plan_rows(rows, Destination(str(tmp_path)))
    assert [row.name for row in plan.done] == ["row-000000"] and [row.name for row in plan.todo] == ["row-000001", "row-000002"]

    write_sidecar(tmp_path, "row-000001", recorded(seed=99))
    with pytest.raises(UsageError, match="row 1: .*row-000001.json holds another request \\(seed 99 not 8\\)"):
        plan_rows(rows, Destination(str(tmp_path)))
    (tmp_path / "row-000001.json").write_text("{not json")
    with pytest.raises(UsageError, match="row-000001.json exists but is not a complete ganorama sidecar"):
        plan_rows(rows, Destination(str(tmp_path)))


def test_plan_rows_on_a_missing_output_makes_everything_and_creates_nothing(tmp_path):
    rows = numbered_rows({"kind": "panorama", **SMALL}, 2, None, 0)
    assert len(plan_rows(rows, Destination(str(tmp_path / "new"))).todo) == 2
    assert not (tmp_path / "new").exists()


# --- one worker's work, in this process --------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_generator(tiny_checkpoint):
    from ganorama.pipeline import Ganorama

    return Ganorama.from_pretrained(weights=str(tiny_checkpoint), device="cpu")


def test_process_rows_writes_each_result_under_its_row_name_and_equals_a_single_run(tmp_path, tiny_generator):
    rows = numbered_rows({"kind": "panorama", **SMALL}, 3, "sandbar|valley", 4)
    statuses = process_rows(tiny_generator, Destination(str(tmp_path)), rows, batch=1)
    assert [(s.name, s.status) for s in statuses] == [(f"row-00000{k}", "done") for k in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"row-00000{k}.{e}" for k in range(3) for e in ("png", "json"))
    single = tiny_generator.run(rows[1].request)
    single.save(tmp_path / "single.png")
    assert (tmp_path / "single.png").read_bytes() == (tmp_path / "row-000001.png").read_bytes()


def test_process_rows_with_scores_reports_each_panoramas_scores_as_ganorama_score_does(tmp_path, tiny_generator):
    from ganorama.batch.run import BatchSummary
    from ganorama.export.io import load_panorama
    from ganorama.scores import score_panorama

    rows = numbered_rows({"kind": "panorama", **SMALL}, 2, None, 0)
    statuses = process_rows(tiny_generator, Destination(str(tmp_path)), rows, scores=True)
    summary = BatchSummary(total=2)
    for status in statuses:
        summary.add(RowStatus.from_record(status.to_record()))  # as a Ray worker hands it back
    for entry in summary.to_dict()["done"]:
        from_file = score_panorama(load_panorama(tmp_path / f"{entry['name']}.png")).to_dict()
        # The saved PNG is the image rounded to 8 bits: the scores agree to that rounding.
        for name, value in entry["scores"].items():
            assert abs(value - from_file[name]) <= 0.02 * max(1.0, abs(value)), name
    assert process_rows(tiny_generator, Destination(str(tmp_path / "plain")), rows[:1])[0].scores == {}


def test_process_rows_skips_complete_results_and_replaces_an_unfinished_one(tmp_path, tiny_generator):
    rows = numbered_rows({"kind": "panorama", **SMALL}, 2, None, 0)
    destination = Destination(str(tmp_path))
    process_rows(tiny_generator, destination, rows[:1])
    before = (tmp_path / "row-000000.png").read_bytes()
    (tmp_path / "row-000001.png").write_bytes(b"half a png: its writer was killed before the sidecar")
    statuses = process_rows(tiny_generator, destination, rows)
    assert [s.status for s in statuses] == ["skipped", "done"]
    assert (tmp_path / "row-000000.png").read_bytes() == before
    assert (tmp_path / "row-000001.png").read_bytes().startswith(b"\x89PNG")


def test_a_failing_row_is_reported_and_the_others_are_made(tmp_path, tiny_generator):
    rows = numbered_rows({"kind": "panorama", **SMALL}, 3, None, 0)
    # Too small a budget for one view: a fault only the model's plan finds.
    rows[1] = Row(1, "row 1", "row-000001", rows[1].request.replace(memory_budget="1KB"))
    statuses = process_rows(tiny_generator, Destination(str(tmp_path)), rows, batch=2)
    assert [s.status for s in statuses] == ["done", "failed", "done"]
    assert "memory_budget 1000 B is too small for even one view" in statuses[1].error
    assert not (tmp_path / "row-000001.png").exists() and (tmp_path / "row-000002.json").exists()


# --- the command's own checks, in this process (they answer before Ray starts) ----------------


def test_a_flag_that_no_row_takes_is_refused(tmp_path, capsys):
    pytest.importorskip("ray")
    from ganorama.cli import main

    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(jsonl({"seed": 1}))
    assert main(["batch", str(jobs), str(tmp_path / "out"), "--size", "256"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"ganorama batch: error: --size applies to texture rows; {jobs} has only panorama rows"
    assert not (tmp_path / "out").exists()


def test_count_rows_refuse_a_flag_their_kind_does_not_take(tmp_path, capsys):
    pytest.importorskip("ray")
    from ganorama.cli import main

    assert main(["batch", "--count", "2", str(tmp_path / "out"), "--rows", "2"]) == 2
    assert "--rows does not apply to panorama" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_progress_shows_rows_done_of_all_and_the_rate(monkeypatch):
    import io
    import sys

    from ganorama.batch.worker import RowStatus
    from ganorama.cli.batch import BatchProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with BatchProgress(5) as progress:
        progress.start(to_make=3, already_done=2)
        for index in range(2, 5):
            progress.row_finished(RowStatus(index, f"row-{index}", f"row {index}", "done"))
    assert "5/5 rows" in terminal.getvalue() and "result/s" in terminal.getvalue()

    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    with BatchProgress(5, quiet=True) as progress:
        progress.start(to_make=5, already_done=0)
        progress.row_finished(RowStatus(0, "row-0", "row 0", "done", files=["out/row-0.png"]))
    assert quiet.getvalue() == ""


def test_the_help_examples_are_valid_job_files():
    from ganorama.cli.batch import DESCRIPTION

    text = DESCRIPTION.split("  jobs.jsonl:\n")[1]
    jsonl_part, csv_part = text.split("  jobs.csv:\n")
    csv_part = csv_part.split("\n\n")[0]
    rows = parse_jobs("\n".join(line.strip() for line in jsonl_part.splitlines()), "jobs.jsonl")
    assert [row.request.kind for row in rows] == ["panorama", "panorama", "bigimg", "texture"]
    assert rows[2].name == "wall" and rows[1].request.viewer is True
    csv_rows = parse_jobs("\n".join(line.strip() for line in csv_part.splitlines()), "jobs.csv", "csv")
    assert [(row.name, row.request.kind) for row in csv_rows] == [("beach", "panorama"), ("row-000001", "texture")]


def test_an_unreachable_cluster_is_one_line_and_writes_nothing(tmp_path, tiny_checkpoint, capsys):
    pytest.importorskip("ray")
    import socket

    from ganorama.cli import main

    with socket.socket() as probe:  # a loopback port that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status = main(["batch", "--count", "1", str(tmp_path / "out"), "--weights", str(tiny_checkpoint),
                   "--address", f"127.0.0.1:{port}", "--panorama_width", "64", "--panorama_height", "32"])  # fmt: skip
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert errors == [f"ganorama batch: error: cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused; "
                      "start one with `ray start --head` or leave out --address to run here"]
    assert not (tmp_path / "out").exists()


def test_job_rows_take_dense_layouts():
    assert Request.from_dict({"kind": "panorama", "layout": "dense:16"}).layout == "dense:16"
    with pytest.raises(UsageError, match="'dense:0' is invalid"):
        Request.from_dict({"kind": "panorama", "layout": "dense:0"})
