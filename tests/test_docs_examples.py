"""Every example in the README and in the commands' --help runs, as a new user would run
it, in order, in one fresh working directory (so `out/panorama/0.png` made by one example
is there for the next), with random-weight test fixtures in place of downloaded models.

They run in this process through ``ganorama.cli.main``, exactly what the console script
calls. The only rewriting: a generating command gets ``--weights FIXTURE`` instead of ``-m`` (the
fixture stands in for every published model), and the model cache holds the fixture under
the published names for the commands that read it (``download``). Examples that are
templates (``OWNER/REPO``), start a server that never exits (``ganorama ui``: tests/ui
drives it) or run the test suite itself are listed in SKIPPED with the reason."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GENERATING = {"panorama", "bigimg", "texture", "reproduce", "batch", "animate"}
SKIPPED = {
    "OWNER/REPO": "a template for any Hub repo, not a runnable example",
    "ganorama ui": "starts a server that runs until stopped; tests/ui starts it and drives it in a browser",
    "python -m pytest": "the test suite itself",
    "benchmarks/": "benchmarks are run by hand and report timings, not checked here",
    "pip install": "installation, done by .ci/run",
    "ray start": "starts a cluster head that runs until stopped",
    "--address auto": "joins a running Ray cluster; the batch tests start a local one",
    "--from": "imports only a checkpoint of that published model's architecture; tests/cli/test_download.py "
              "imports a full-size fixture",
}


def readme_files() -> dict[str, str]:
    """Files the README writes with a heredoc (``cat > jobs.jsonl <<'JOBS' ... JOBS``), by name."""
    files, lines = {}, (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"^cat > (\S+) <<'?(\w+)'?$", line.strip())
        if match:
            end = lines.index(match.group(2), number + 1)
            files[match.group(1)] = "\n".join(lines[number + 1 : end]) + "\n"
    return files


def readme_examples() -> list[str]:
    """Command lines in the README's code blocks (fenced or indented), comments removed."""
    examples = []
    in_fence = False
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
            continue
        text = line.strip() if (in_fence or line.startswith("    ")) else ""
        if re.match(r"^(ganorama |python )", text):
            examples.append(_without_comment(text))
    return examples


def help_examples() -> list[str]:
    """The lines under 'examples:' in every command's --help (text after two spaces dropped:
    ``ganorama classes`` describes its examples beside them)."""
    from ganorama.cli import build_parser

    examples = []
    parser = build_parser()
    commands = next(action for action in parser._actions if hasattr(action, "choices") and action.choices)
    for name, sub in commands.choices.items():
        text = "\n".join(filter(None, (sub.description, sub.epilog)))
        in_examples = False
        for line in text.splitlines():
            if line.strip().endswith("examples:"):
                in_examples = True
                continue
            if in_examples and line.strip().startswith("ganorama "):
                examples.append(re.split(r"\s{2,}", line.strip())[0])
            elif in_examples and line.strip() and not line.startswith(" "):
                in_examples = False
    return examples


def _without_comment(line: str) -> str:
    """Drop a trailing ``# comment`` that is not inside quotes."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return line
    return shlex.join(words)


def _skip_reason(example: str) -> str | None:
    return next((reason for marker, reason in SKIPPED.items() if marker in example), None)


def _with_fixture(words: list[str], fixture: Path) -> list[str]:
    """-m NAME -> --weights FIXTURE for generating commands (keeping a given --weights)."""
    command = words[1] if words[0] == "ganorama" else "panorama"
    if command not in GENERATING:
        return words
    rewritten, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("-m", "--biggan_model", "--biggan-model"):
            skip = True
            continue
        rewritten.append(word)
    if "--weights" not in rewritten and command != "reproduce":
        rewritten += ["--weights", str(fixture)]
    return rewritten


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_checkpoint):
    """A fresh working directory and environment: the fixture under the published names in
    an offline model cache, and as ./my-biggan and ./biggan-deep-128."""
    root = tmp_path_factory.mktemp("new-user")
    home = root / "hf-home"
    for name in ("biggan-deep-256", "biggan-deep-512"):
        shutil.copytree(tiny_checkpoint, home / "ganorama" / name)
    for name in ("my-biggan", "biggan-deep-128"):
        shutil.copytree(tiny_checkpoint, root / name)
    for name, text in readme_files().items():
        (root / name).write_text(text)
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1"}
    return root, env


def all_examples() -> list[str]:
    seen, ordered = set(), []
    for example in readme_examples() + help_examples():
        if example not in seen:
            seen.add(example)
            ordered.append(example)
    return ordered


def test_the_docs_have_examples_to_run():
    examples = all_examples()
    assert len(examples) >= 30 and any(e.startswith("ganorama panorama") for e in examples)
    assert "jobs.jsonl" in readme_files() and any("batch jobs.jsonl" in e for e in examples)


def test_every_readme_and_help_example_runs(workspace, tiny_checkpoint, monkeypatch, capsys):
    """In this process (``ganorama.cli.main``, as the console script runs it), so the ~45
    examples do not each pay for starting Python and importing torch."""
    import signal

    from ganorama.cli import main

    root, env = workspace
    for name in ("HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.chdir(root)
    sigint = signal.getsignal(signal.SIGINT)
    failures, ran = [], 0
    try:
        for example in all_examples():
            if _skip_reason(example):
                continue
            words = shlex.split(example)
            if words[0] == "python":  # the original scripts: python main.py / bigimg.py ARGS
                command = {"main.py": "panorama", "bigimg.py": "bigimg"}[words[1]]
                status = main(_with_fixture(["ganorama", command, *words[2:]], tiny_checkpoint)[1:], prog=words[1])
                stderr = capsys.readouterr().err
            elif words[1] == "batch":
                # Its own process: the local Ray it starts (and stops) belongs to that process.
                completed = subprocess.run([sys.executable, "-m", "ganorama", *_with_fixture(words, tiny_checkpoint)[1:]],
                                           cwd=root, env={**os.environ, **env}, capture_output=True, text=True,
                                           timeout=300)  # fmt: skip
                status, stderr = completed.returncode, completed.stderr
            else:
                status = main(_with_fixture(words, tiny_checkpoint)[1:])
                stderr = capsys.readouterr().err
            ran += 1
            if status != 0:
                failures.append(f"{example}\n  -> exit {status}: {stderr.strip()[-300:]}")
    finally:
        signal.signal(signal.SIGINT, sigint)  # the CLI installs its own Ctrl-C handler
    assert not failures, "\n".join(failures)
    assert ran >= 25


def test_benchmark_docstrings_name_only_flags_that_exist():
    """A benchmark's usage lines in its docstring parse with its own argument parser."""
    import ast

    for script in sorted((REPO / "benchmarks").glob("*.py")):
        if script.name.startswith("_"):
            continue
        usage = [line.strip() for line in (ast.get_docstring(ast.parse(script.read_text())) or "").splitlines()
                 if line.strip().startswith(f"python benchmarks/{script.name}")]  # fmt: skip
        for line in usage:
            flags = [word for word in shlex.split(line, comments=True)[2:] if word.startswith("--")]
            help_text = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                       cwd=REPO / "benchmarks", timeout=120).stdout  # fmt: skip
            for flag in flags:
                assert flag.split("=")[0] in help_text, f"{script.name}: {line} uses {flag}, which --help lacks"


def test_the_readmes_huge_width_example_meets_the_memory_estimate(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    """The README quotes what `--panorama_width 10000000` answers: the memory estimate,
    not a refusal of the size's shape."""
    from ganorama.cli import main

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "`ganorama panorama --panorama_width 10000000`" in readme
    monkeypatch.chdir(tmp_path)
    assert main(["panorama", "--panorama_width", "10000000", "--weights", str(tiny_checkpoint)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ganorama panorama: error: this run needs about") and "of memory" in error, error
    assert "composition" in error and "not 2:1" not in error and list(tmp_path.iterdir()) == []
