"""The CI check for statements swallowed by trailing comments (scripts/check_code_in_comments.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check_code_in_comments.py"

LOST = [
    'print(measured)  # shown with pytest -s; the ratios go in the notes    assert ratio >= 2.5, measured\n',
    "x = 1  # old value; return x\n",
    "y = f(x)  # then:  result = y * 2\n",
    "z = g()  # print(z)\n",
]
PROSE = [
    "x = compute()  # fmt: skip\n",
    "import os  # noqa: E402\n",
    "value = 3  # the seed's default (see main.py)\n",
    "total = a + b  # a + b is the sum of both\n",
    "# a whole-line comment: ruff's ERA001 checks these\n",
    'name = "x#y"  # a hash inside a string is not a comment\n',
]


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    file = tmp_path / "sample.py"
    file.write_text(text)
    return subprocess.run([sys.executable, str(SCRIPT), str(file)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("line", LOST)
def test_statement_glued_onto_a_trailing_comment_is_reported(tmp_path, line):
    result = _check(tmp_path, line)
    assert result.returncode == 1 and "sample.py:1: code in a trailing comment" in result.stdout


@pytest.mark.parametrize("line", PROSE)
def test_prose_and_tool_directives_in_comments_pass(tmp_path, line):
    result = _check(tmp_path, line)
    assert result.returncode == 0, result.stdout


def test_the_repository_itself_has_no_lost_statements():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stdout
