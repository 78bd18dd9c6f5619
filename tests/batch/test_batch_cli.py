"""``ganorama batch`` end to end on a real Ray (2 CPUs) with the tiny random-weight test fixture.

One Ray session, started by a helper process, serves the tests that pass ``--address``;
one test runs the default local mode (the command starts and stops its own Ray). Every
process a test starts is stopped by its id, and every wait is bounded.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray")

from ganorama.cli import main  # noqa: E402
from ganorama.destinations import Destination  # noqa: E402
from ganorama.batch.jobs import SUMMARY_PATTERN  # noqa: E402
from ganorama.errors import UsageError  # noqa: E402

pytestmark = pytest.mark.ray

# Ray's token authentication guards clusters reachable from a network; this one is on this
# machine and lives for one test module, and its clients must not need a token.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}
SIZE = ("--panorama_width", "64", "--panorama_height", "32")
CLASSES = ("sandbar", "valley")
ROWS = 40

RAY_HELPER = r"""
import logging, sys
import ray
ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, logging_level=logging.ERROR)
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()  # until the test module closes our stdin
ray.shutdown()
"""


# --- processes ---------------------------------------------------------------------------


def session_processes(session: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes in ``session`` (a process that started
    one with setsid; Ray's processes stay in their driver's session)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == session:
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append((int(entry), command))
    return found


def stop_session(process: subprocess.Popen, grace: float = 0.0) -> list[int]:
    """Kill what is left of ``process``'s session after ``grace`` seconds (Ray's workers
    exit on their own shortly after their raylet), by pid; returns the pids killed."""
    deadline = time.monotonic() + grace
    while session_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftovers = [pid for pid, _ in session_processes(process.pid)]
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)
    return leftovers


@dataclass
class RaySession:
    address: str
    session: int  # the helper's session id: every process of this Ray is in it


@pytest.fixture(scope="module")
def ray_session():
    """A 2-CPU Ray session shared by this module's tests."""
    helper = subprocess.Popen([sys.executable, "-c", RAY_HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, **RAY_ENV}, start_new_session=True)  # fmt: skip
    try:
        address = helper.stdout.readline().strip()
        assert address, "the Ray helper did not start"
        yield RaySession(address, helper.pid)
    finally:
        helper.stdin.close()
        try:
            helper.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        stop_session(helper)


def batch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ganorama", "batch", *args]


def run(command: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **RAY_ENV})


# --- jobs ------------------------------------------------------------------------------------


def write_jobs(path: Path, count: int = ROWS) -> Path:
    """Row k: seed k, class k mod 2, as ``ganorama panorama -n`` numbers its results."""
    rows = [{"classes": CLASSES[k % 2], "seed": k, "panorama_width": 64, "panorama_height": 32} for k in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def result_names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if not SUMMARY_PATTERN.match(path.name))


def latest_summary(directory: Path) -> dict:
    """The summary the last run into ``directory`` wrote (reruns take summary-N.json)."""
    names = [path.name for path in directory.iterdir() if SUMMARY_PATTERN.match(path.name)]
    number = max((int(name[len("summary-"):-len(".json")]) if "-" in name else 1) for name in names)
    return json.loads((directory / ("summary.json" if number == 1 else f"summary-{number}.json")).read_text())


def expected_names(count: int = ROWS, suffix: str = "png") -> list[str]:
    return sorted(f"row-{k:06d}.{ext}" for k in range(count) for ext in (suffix, "json"))


def leftovers(directory: Path) -> list[str]:
    return [path.name for path in directory.rglob("*") if ".ganorama-" in path.name or ".part" in path.name]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


# --- the tests ---------------------------------------------------------------------------------


def test_forty_rows_make_forty_results_equal_to_single_runs(tmp_path, tiny_checkpoint, ray_session):
    jobs, out = write_jobs(tmp_path / "jobs.jsonl"), tmp_path / "out"
    result = run(batch_command(str(jobs), str(out), "--weights", str(tiny_checkpoint), "--address", ray_session.address,
                               "--workers", "2", "--batch", "2"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result_names(out) == expected_names()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": ROWS, "skipped": 0, "failed": 0}
    assert [entry["where"] for entry in summary["done"][:2]] == ["jobs.jsonl line 1", "jobs.jsonl line 2"]
    for k in range(ROWS):
        metadata = json.loads((out / f"row-{k:06d}.json").read_text())
        assert (metadata["seed"], metadata["request"]["classes"]) == (k, CLASSES[k % 2])
        assert metadata["canvases_per_forward"] == 2, "rows 2j and 2j+1 share a forward with --batch 2"

    # The same seeds with the single-run command: rows 10 and 11 with the same batch size
    # (two panoramas per forward) byte for byte; row 21 alone, so only float rounding apart.
    pair, single = tmp_path / "pair", tmp_path / "single"
    model = ("--weights", str(tiny_checkpoint), *SIZE)
    commands = [[sys.executable, "-m", "ganorama", "panorama", "-n", "2", "--batch", "2", "--seed", "10",
                 "--class_names", "|".join(CLASSES), "-o", str(pair), *model],
                [sys.executable, "-m", "ganorama", "panorama", "--seed", "21", "--class_names", CLASSES[1],
                 "-o", str(single), *model]]  # fmt: skip
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, **RAY_ENV}) for command in commands]  # fmt: skip
    try:
        for process in processes:
            _, errors = process.communicate(timeout=240)
            assert process.returncode == 0, errors
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
    assert (pair / "0.png").read_bytes() == (out / "row-000010.png").read_bytes()
    assert (pair / "1.png").read_bytes() == (out / "row-000011.png").read_bytes()
    apart = np.abs(pixels(single / "0.png") - pixels(out / "row-000021.png"))
    assert apart.max() <= 1 and (apart > 0).mean() <= 0.001


def test_a_killed_worker_loses_only_its_rows_and_a_rerun_completes_the_job(tmp_path, tiny_checkpoint, ray_session):
    jobs, out = write_jobs(tmp_path / "jobs.jsonl"), tmp_path / "out"
    command = batch_command(str(jobs), str(out), "--weights", str(tiny_checkpoint), "--address", ray_session.address,
                            "--workers", "2")  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, **RAY_ENV}, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while len(list(out.glob("*.json"))) < 3:
            assert first.poll() is None and time.monotonic() < deadline, "the batch ended before any worker ran"
            time.sleep(0.05)
        workers = [pid for pid, command_line in session_processes(ray_session.session)
                   if command_line.startswith("ray::MapWorker")]  # fmt: skip
        assert workers, "no Ray Data worker found"
        os.kill(workers[0], signal.SIGKILL)
        made_before_kill = len(list(out.glob("*.json")))
        first.communicate(timeout=240)
    finally:
        stop_session(first)
    assert made_before_kill < ROWS, "the worker was killed mid-run"

    second = run(command)
    assert second.returncode == 0, second.stderr
    assert result_names(out) == expected_names(), "exactly one result per row, under the row's name"
    for k in range(ROWS):
        assert json.loads((out / f"row-{k:06d}.json").read_text())["seed"] == k
        assert (out / f"row-{k:06d}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = latest_summary(out)  # the second run's: summary-2.json when the first wrote one
    assert summary["counts"]["failed"] == 0
    assert summary["counts"]["done"] + summary["counts"]["skipped"] == ROWS
    assert summary["counts"]["skipped"] >= made_before_kill
    assert leftovers(out) == []


def test_workers_that_cannot_load_the_model_fail_every_row_with_one_line(tmp_path, tiny_checkpoint, ray_session):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    (broken / "pytorch_model.bin").write_bytes(b"not a checkpoint: the config is fine, the weights are not")
    jobs, out = write_jobs(tmp_path / "jobs.jsonl", 2), tmp_path / "out"
    result = run(batch_command(str(jobs), str(out), "--weights", str(broken), "--address", ray_session.address))
    assert result.returncode == 1
    # Ray's own log lines, and the progress lines a run without a terminal writes
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("[", "batch: "))]
    assert [line.split(": the worker")[0] for line in lines[:2]] == ["jobs.jsonl line 1 (row-000000)",
                                                                      "jobs.jsonl line 2 (row-000001)"]
    assert all("the worker could not load the model:" in line and "pytorch_model.bin" in line for line in lines[:2]), lines
    assert lines[-1] == f"ganorama batch: error: 2 of 2 rows failed; see {out / 'summary.json'}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 0, "skipped": 0, "failed": 2}
    assert result_names(out) == []


def test_local_mode_runs_count_rows_and_a_rerun_skips_them_without_starting_ray(tmp_path, tiny_checkpoint, capsys,
                                                                                   monkeypatch):
    out = tmp_path / "out"
    for name, value in RAY_ENV.items():
        monkeypatch.setenv(name, value)

    def command(base_seed: int = 5, *more: str) -> list[str]:
        return batch_command("--count", "3", "--base_seed", str(base_seed), "--class_names", "|".join(CLASSES),
                             str(out), "--weights", str(tiny_checkpoint), *SIZE, "--format", "jpg", "--viewer", *more)

    first = subprocess.Popen(command(5, "--quiet"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, **RAY_ENV}, start_new_session=True)  # fmt: skip
    try:
        output, errors = first.communicate(timeout=240)
    finally:
        left = stop_session(first, grace=15)
    assert first.returncode == 0, errors
    assert output == "" and left == [], "quiet, and the local Ray stopped with the command"
    assert result_names(out) == sorted([*expected_names(3, "jpg"), *(f"row-{k:06d}.html" for k in range(3))])
    assert json.loads((out / "row-000002.json").read_text())["request"]["seed"] == 7

    # Nothing left to make: the command answers without starting Ray (so in this process).
    first_summary = (out / "summary.json").read_text()
    assert main(command()[3:]) == 0
    said = capsys.readouterr().out
    assert said.startswith("0 done, 3 skipped, 0 failed") and said.strip().endswith("summary-2.json"), said
    assert (out / "summary.json").read_text() == first_summary, "a rerun never replaces an earlier summary"
    assert json.loads((out / "summary-2.json").read_text())["ray_startup_seconds"] == 0
    assert main(command()[3:]) == 0 and (out / "summary-3.json").is_file()
    capsys.readouterr()

    assert main(command(6)[3:]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("ganorama batch: error: row 0: ")
    assert "row-000000.json holds another request (seed 5 not 6)" in errors[0]


def test_without_a_terminal_each_finished_row_is_a_line_and_its_files_are_listed(capsys):
    from ganorama.batch.worker import RowStatus
    from ganorama.cli.batch import BatchProgress

    with BatchProgress(4) as progress:
        progress.start(3, 1)
        progress.row_written(1)  # a worker's announcement, before its task returns the row
        progress.row_finished(RowStatus(1, "beach", "jobs.jsonl line 2", "done", files=["out/beach.png", "out/beach.json"]))
        progress.row_finished(RowStatus(2, "row-000002", "jobs.jsonl line 3", "failed", error="no"))
        progress.interrupted(3, "out")
    said = capsys.readouterr()
    assert said.out.splitlines() == ["out/beach.png", "out/beach.json"]
    assert said.err.splitlines() == ["batch: 3 rows to make (1 of 4 done before)", "batch: 2/4 rows", "batch: 3/4 rows",
                                     "batch: 3 of 4 rows are done in out; run the same command again to make the other 1"]
    with BatchProgress(3, quiet=True) as progress:
        progress.start(2, 1)
        progress.row_finished(RowStatus(1, "beach", "jobs.jsonl line 2", "done", files=["out/beach.png"]))
    assert capsys.readouterr() == ("", "")


def test_ctrl_c_stops_the_run_saying_what_is_on_disk_and_nothing_of_rays_retries(tmp_path, tiny_checkpoint):
    jobs, out = write_jobs(tmp_path / "jobs.jsonl", 200), tmp_path / "out"
    process = subprocess.Popen(batch_command(str(jobs), str(out), "--weights", str(tiny_checkpoint), *SIZE),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **RAY_ENV}, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while len(list(out.glob("row-*.json"))) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        _, errors = process.communicate(timeout=120)
    finally:
        stop_session(process, grace=15)
    assert process.returncode == 130, errors
    done = len([path for path in out.glob("row-*.json")])
    lines = errors.strip().splitlines()
    assert 2 <= done < 200 and not any("retr" in line.lower() for line in lines), lines[-5:]
    assert lines[-2] == (f"batch: {done} of 200 rows are done in {out}; run the same command again to make the "
                         f"other {200 - done}"), lines[-5:]
    assert lines[-1] == "ganorama batch: interrupted; nothing partial was left behind"
    assert leftovers(out) == []


def test_a_row_id_of_a_summary_name_is_refused():
    from ganorama.batch.jobs import parse_jobs

    with pytest.raises(UsageError, match="id 'summary-2' is reserved"):
        parse_jobs('{"id": "summary-2", "seed": 1}\n', "jobs.jsonl")

class UnsharedDestination(Destination):
    """OUT as a driver that does not share the workers' file system sees it: the workers
    get the real directory (pickled by URL), the driver finds none of their files."""

    def has(self, name: str) -> bool:
        return False


def test_a_row_the_driver_cannot_see_in_out_is_failed_not_done(tmp_path, tiny_checkpoint, ray_session, monkeypatch):
    from ganorama.batch import WorkerModel, numbered_rows, run_batch
    from ganorama.models.choice import ModelChoice

    for name, value in RAY_ENV.items():
        monkeypatch.setenv(name, value)
    rows = numbered_rows({"kind": "panorama", "panorama_width": 64, "panorama_height": 32}, 2, base_seed=1)
    model = WorkerModel(ModelChoice(None, str(tiny_checkpoint)), device="cpu", dtype="float32")
    summary = run_batch(rows, UnsharedDestination(str(tmp_path / "out")), model, address=ray_session.address)
    assert (len(summary.done), len(summary.failed)) == (0, 2)
    assert "do not share OUT" in summary.failed[0].error
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["counts"]["done"] == 0


# --- refused before anything runs ----------------------------------------------------------------


@pytest.mark.parametrize("lines,arguments,expected", [
    (['{"seed": 1}', '{"seed": 2,}'], (), "jobs.jsonl line 2: not valid JSON"),
    (['{"classes": "sandbr", "seed": 1}'], (), "jobs.jsonl line 1: unknown ImageNet class 'sandbr'"),
    (['{"seed": 1}', '{"sed": 2}'], (), "jobs.jsonl line 2: unknown field sed (did you mean seed?)"),
    (['{"seed": -3}'], (), "jobs.jsonl line 1: seed -3 is out of range; allowed: 0 to"),
    (['{"seed": 1}'], ("no OUT",), "OUT is missing: ganorama batch"),
    (['{"seed": 1, "end_layer": 12}'], (), "jobs.jsonl line 1: layer range start_layer 2 end_layer 12 is invalid; "
                                          "this model has 7 blocks"),
])  # fmt: skip
def test_a_bad_job_exits_2_with_one_line_and_writes_nothing(tmp_path, tiny_checkpoint, capsys, lines, arguments,
                                                             expected):  # fmt: skip
    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    jobs.write_text("\n".join(lines) + "\n")
    outputs = [] if "no OUT" in arguments else [str(out)]
    status = main(["batch", str(jobs), *outputs, "--weights", str(tiny_checkpoint), *SIZE])
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(errors) == 1 and errors[0].startswith("ganorama batch: error: ") and expected in errors[0], errors
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jobs.jsonl"]



def test_every_bad_row_is_reported_in_full_one_line_each_up_to_a_cap(tmp_path, tiny_checkpoint, capsys):
    from ganorama.cli import ERRORS_SHOWN

    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    jobs.write_text('{"seed": -3}\n{"seed": 1}\n{"sed": 2}\n{"seed": 1, "end_layer": 12}\n')
    status = main(["batch", str(jobs), str(out), "--weights", str(tiny_checkpoint), *SIZE])
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(errors) == 2, errors  # the rows' own values: line 4 is checked with the model later
    assert "jobs.jsonl line 1: seed -3 is out of range" in errors[0]
    assert "jobs.jsonl line 3: unknown field sed (did you mean seed?)" in errors[1]

    jobs.write_text('{"seed": 1, "end_layer": 12}\n{"seed": 2}\n{"seed": 3, "end_layer": 13}\n')
    status = main(["batch", str(jobs), str(out), "--weights", str(tiny_checkpoint), *SIZE])
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(errors) == 2, errors
    assert "line 1: layer range start_layer 2 end_layer 12" in errors[0] and "line 3: layer range" in errors[1]

    jobs.write_text("".join(f'{{"seed": -{n}}}\n' for n in range(1, ERRORS_SHOWN + 6)))
    status = main(["batch", str(jobs), str(out), "--weights", str(tiny_checkpoint), *SIZE])
    errors = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(errors) == ERRORS_SHOWN + 1, errors
    assert all(f"line {n}: seed -{n} is out of range" in errors[n - 1] for n in range(1, ERRORS_SHOWN + 1))
    assert errors[-1] == "ganorama batch: error: ... and 5 more"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jobs.jsonl"]

@pytest.mark.parametrize("arguments,expected", [
    (("--count", "1", "memory://run"), "OUT memory://run: memory:// lives in one process's memory"),
    (("--count", "100001", "{out}"), "--count 100001 is too many rows for one run; allowed: 1 to 100000"),
    (("--count", "1", "{out}", "--address", "127.0.0.1:99999"), "--address '127.0.0.1:99999' is invalid"),
    (("--count", "1", "{out}", "--address", "127.0.0.1:"), "--address '127.0.0.1:' is invalid"),
    (("--count", "1", "{out}", "--address", "ray://:80"), "--address 'ray://:80' is invalid"),
    (("--count", "2", "--class_names", "sandbar|", "{out}"), "--class_names 'sandbar|' has an empty name"),
])  # fmt: skip
def test_outputs_addresses_and_counts_that_cannot_work_exit_2_before_ray(tmp_path, tiny_checkpoint, arguments,
                                                                          expected):  # fmt: skip
    arguments = [argument.format(out=tmp_path / "out") for argument in arguments]
    result = run(batch_command(*arguments, "--weights", str(tiny_checkpoint), *SIZE), timeout=120)
    errors = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(errors) == 1 and expected in errors[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_a_long_pre_flight_says_what_it_is_doing_before_its_answer(tmp_path, tiny_checkpoint):
    """100,000 rows take seconds to check: the run says so at once (then, here, refuses
    a budget too small for any row, before Ray)."""
    result = run(batch_command("--count", "100000", str(tmp_path / "out"), "--weights", str(tiny_checkpoint), *SIZE,
                               "--memory_budget", "1MB"), timeout=240)  # fmt: skip
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert lines[0] == "checking 100,000 rows before anything runs..." and len(lines) == 2, result.stderr
    assert "row 0: memory_budget" in lines[1] and "too small" in lines[1]
    assert lines[1].endswith("(and 99,999 more rows like it)")  # one line for a fault every row shares


def test_without_ray_the_command_says_how_to_install_it(tmp_path):
    shim = tmp_path / "no-ray"
    (shim / "ray").mkdir(parents=True)
    (shim / "ray" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n")
    jobs = write_jobs(tmp_path / "jobs.jsonl", 2)
    path = os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(batch_command(str(jobs), str(tmp_path / "out")), capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": path})  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == ('ganorama batch: error: ganorama batch needs Ray: pip install "ganorama[ray]" '
                                     '(from a clone: pip install -e ".[ray]")')
    assert not (tmp_path / "out").exists()


def test_help_explains_jobs_with_jsonl_and_csv_examples(capsys):
    with pytest.raises(SystemExit) as exit_status:
        main(["batch", "--help"])
    text = capsys.readouterr().out
    assert exit_status.value.code == 0
    assert "JOBS is a JSONL file" in text and '{"kind": "panorama", "classes": "sandbar", "seed": 1}' in text
    assert "id,kind,classes,seed,truncation" in text and "--address" in text and "summary.json" in text


def _under_address_space_limit(limit: int):
    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _local_batch_under_limit(tmp_path, checkpoint, limit: int, timeout_s: int) -> tuple[subprocess.CompletedProcess,
                                                                                        list[int]]:
    """``ganorama batch`` starting its own local Ray under ``ulimit -v``; what of its
    session is left 10 s after it ended (stopped by pid)."""
    process = subprocess.Popen(batch_command("--count", "2", str(tmp_path / "out"), "--weights", str(checkpoint), *SIZE,
                                             "--max_views", "2", "--quiet"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, **RAY_ENV, "GANORAMA_RAY_START_TIMEOUT": str(timeout_s)},
                               preexec_fn=_under_address_space_limit(limit))  # fmt: skip
    try:
        output, errors = process.communicate(timeout=timeout_s + 120)
    finally:
        left = stop_session(process, grace=10)
    return subprocess.CompletedProcess(process.args, process.returncode, output, errors), left


def test_ray_under_a_tight_ulimit_v_fails_in_bounded_time_with_one_line(tmp_path, tiny_checkpoint):
    """Ray's processes cannot map their shared memory under 1.3 GB a process: ray.init used
    to wait for minutes (it blocks in C++, holding the GIL), then exit 1 with no line."""
    result, left = _local_batch_under_limit(tmp_path, tiny_checkpoint, int(1.3 * 2**30), timeout_s=30)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganorama batch: error: cannot start a local Ray"), result.stderr
    assert not left, "Ray's processes outlived the failed start"


def test_ray_under_a_looser_ulimit_v_starts_with_an_object_store_that_fits(tmp_path, tiny_checkpoint):
    """By default Ray maps 30% of the machine's memory for its object store, which 2.5 GB
    a process refuses: it timed out at start-up. Sized to the limit, the rows run."""
    result, _ = _local_batch_under_limit(tmp_path, tiny_checkpoint, int(2.5 * 2**30), timeout_s=120)
    assert result.returncode == 0, result.stderr
    assert result_names(tmp_path / "out") == expected_names(2)


RAY_INIT_THAT_HANGS = """
import subprocess, sys
import ray
def hanging_init(**options):
    subprocess.run(["sleep", "600"])  # as Ray's processes that never answer: in a child of this one
    raise RuntimeError("the node was lost")
ray.init = hanging_init
from ganorama.cli import console_main
console_main(sys.argv[1:])
"""


def test_a_ray_start_that_never_answers_is_one_line_within_the_timeout(tmp_path, tiny_checkpoint):
    """ray.init blocks in C++ holding the GIL, so the bound is a watchdog process: it
    writes the line, stops what the start left running, and the run exits 1."""
    process = subprocess.Popen([sys.executable, "-c", RAY_INIT_THAT_HANGS, "batch", "--count", "1", str(tmp_path / "o"),
                                "--weights", str(tiny_checkpoint), *SIZE],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                               env={**os.environ, **RAY_ENV, "GANORAMA_RAY_START_TIMEOUT": "5"})  # fmt: skip
    try:
        _, errors = process.communicate(timeout=120)
    finally:
        left = stop_session(process, grace=5)
    assert process.returncode == 1, errors
    assert errors.strip().splitlines() == ["ganorama batch: error: cannot start a local Ray: no answer within 5 s"]
    assert not left, "the hanging start's processes were left running"


def test_with_batch_auto_each_row_is_announced_as_it_is_written_not_when_its_task_ends(tmp_path, tiny_checkpoint,
                                                                                       ray_session, monkeypatch):
    """--batch auto gives one task all six rows, and a task returns its rows at its end:
    the workers' feed announces each row while the task runs, so the bar moves."""
    import threading

    from ganorama.batch import WorkerModel, numbered_rows, run_batch
    from ganorama.models.choice import ModelChoice

    for name, value in RAY_ENV.items():
        monkeypatch.setenv(name, value)
    rows = numbered_rows({"kind": "panorama", "panorama_width": 64, "panorama_height": 32, "layout": "cube"}, 6,
                         base_seed=1)  # fmt: skip
    model = WorkerModel(ModelChoice(None, str(tiny_checkpoint)), device="cpu", dtype="float32")
    events, lock = [], threading.Lock()

    def record(kind: str, index: int) -> None:
        with lock:
            events.append((kind, index, sorted(path.name for path in (tmp_path / "out").glob("*.json"))))

    summary = run_batch(rows, str(tmp_path / "out"), model, batch="auto", address=ray_session.address,
                        on_status=lambda status: record("returned", status.index),
                        on_row_finished=lambda index: record("finished", index))  # fmt: skip
    assert len(summary.done) == 6
    finished = [event for event in events if event[0] == "finished"]
    assert sorted(index for _, index, _ in finished) == list(range(6))
    first_return = next(position for position, event in enumerate(events) if event[0] == "returned")
    assert events.index(finished[0]) < first_return, events  # before the task returned anything
    for _, index, on_disk in finished:  # announced once its sidecar (its last file) is there
        assert f"row-{index:06d}.json" in on_disk
