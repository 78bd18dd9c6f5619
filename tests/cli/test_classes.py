"""``ganorama classes``: listing, search output, exit status and one-line errors."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ganorama.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"


def _classes(capsys, *args: str) -> tuple[int, list[str], str]:
    status = main(["classes", *args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "ganorama", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_classes_without_query_lists_all_1000_as_id_and_names_lines(capsys):
    status, lines, err = _classes(capsys)
    assert status == 0 and err == ""
    assert len(lines) == 1000
    assert [int(line.split()[0]) for line in lines] == list(range(1000))
    assert lines[977] == "  977  sandbar, sand bar"
    assert lines[0] == "    0  tench, Tinca tinca"


def test_classes_limit_caps_the_listing(capsys):
    status, lines, _ = _classes(capsys, "--limit", "3")
    assert status == 0 and len(lines) == 3 and lines[2].split()[0] == "2"


def test_classes_exact_name_prints_id_names_and_definition_first(capsys):
    status, lines, err = _classes(capsys, "sandbar")
    assert status == 0 and err == ""
    assert lines[0] == "  977  sandbar, sand bar"
    assert lines[1].strip() == "a bar of sand"
    assert "n09421951" in lines[2]


def test_classes_id_query_prints_that_class_only(capsys):
    status, lines, _ = _classes(capsys, "979")
    assert status == 0
    assert lines[0] == "  979  valley, vale" and "depression" in lines[1]
    assert "other matches:" not in lines


def test_classes_exact_match_is_followed_by_other_matches(capsys):
    status, lines, _ = _classes(capsys, "tank")
    assert status == 0 and lines[0].startswith("  847  tank, army tank")
    others = lines[lines.index("other matches:") + 1:]
    assert "  639  maillot, tank suit" in others
    assert not any(line.startswith("  847  ") for line in others)


def test_classes_shared_name_prints_every_class_having_it(capsys):
    status, lines, _ = _classes(capsys, "crane")
    assert status == 0
    assert "  134  crane" in lines and "  517  crane" in lines
    assert any("wading bird" in line for line in lines) and any("heavy objects" in line for line in lines)


def test_classes_word_query_without_exact_match_lists_matches_without_details(capsys):
    status, lines, _ = _classes(capsys, "shore", "--limit", "3")
    assert status == 0 and len(lines) == 3
    assert "  978  seashore, coast, seacoast, sea-coast" in lines
    assert "other matches:" not in lines


def test_classes_unknown_query_exits_2_with_one_line_of_suggestions(capsys):
    status, lines, err = _classes(capsys, "sandbr")
    assert status == 2 and lines == []
    assert err.count("\n") == 1
    assert err.startswith("ganorama classes: error: unknown ImageNet class 'sandbr'; did you mean: sandbar (977)")


def test_classes_out_of_range_id_exits_2_naming_the_allowed_range(capsys):
    status, lines, err = _classes(capsys, "1000")
    assert status == 2 and lines == []
    assert "1000" in err and "0..999" in err and err.count("\n") == 1


def test_classes_limit_must_be_a_positive_integer(capsys):
    with pytest.raises(SystemExit) as info:
        main(["classes", "--limit", "0"])
    assert info.value.code == 2
    assert "--limit" in capsys.readouterr().err


def test_classes_help_explains_queries_with_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["classes", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "ganorama classes sandbar" in out
    assert "0.7*sandbar+0.3*valley" in out and "--limit N" in out


def test_python_m_ganorama_classes_sandbar_exits_0_and_prints_977():
    result = _run_cli("classes", "sandbar")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s*977\s+sandbar, sand bar$", result.stdout, re.MULTILINE)
    assert result.stderr == ""


def test_python_m_ganorama_classes_unknown_exits_2_with_one_stderr_line_and_no_traceback():
    result = _run_cli("classes", "sandbr")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.endswith("\n")
    assert "Traceback" not in result.stderr
    assert "sandbar (977)" in result.stderr


def test_an_exact_class_is_followed_by_the_related_classes_its_help_promises(capsys):
    status, lines, _ = _classes(capsys, "sandbar")
    assert status == 0 and lines[0].split() == ["977", "sandbar,", "sand", "bar"]
    related = lines[lines.index("related classes:") + 1 :]
    assert related[0].split()[0] == "978" and any(line.split()[0] == "975" for line in related)  # seashore, lakeside
    assert len(related) == 8 and all(line.split()[0] != "977" for line in related)
    status, lines, _ = _classes(capsys, "sandbar", "--limit", "2")
    assert len(lines[lines.index("related classes:") + 1 :]) == 2
