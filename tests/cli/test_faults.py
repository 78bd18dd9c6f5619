"""Bad input and faults against the real CLI, one test per family: one line on stderr, exit 2
for usage errors (1 for faults of the machine), no traceback, nothing lost or half-written,
and every check that can run before the model loads runs before it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganorama.models.checkpoint import read_checkpoint
from ganorama.request import MAX_SEED

GENERATORS = ("panorama", "bigimg", "texture")


def run_cli(*args: str, env: dict | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "ganorama", *args], capture_output=True, text=True,
                          env=environment, timeout=timeout, **kwargs)  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess, expected: str, status: int = 2) -> None:
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def unloadable_checkpoint(tmp_path_factory, tiny_checkpoint):
    """A valid config.json beside weights that cannot be read: any run that reaches the
    model load fails with a message about the weights file, so a check that reports its
    own message instead provably ran before loading."""
    directory = tmp_path_factory.mktemp("unloadable")
    (directory / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    (directory / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    return directory


@pytest.fixture
def isolated_hub_cache(tmp_path, monkeypatch):
    """An empty model cache, so a published model name can only fail to load (offline)."""
    home = tmp_path / "hf-home"
    return {"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub")}


# --- every check before the model loads ---------------------------------------------------------

CHECKS_BEFORE_LOADING = [
    ("panorama", ("--panorama_width", "1000", "--panorama_height", "1000"), "is not 2:1"),
    ("panorama", ("-o", "{tmp}/pano.png", "--format", "jpg"), "--format jpg does not match -o"),
    ("panorama", ("-o", "{tmp}/pano.png", "-n", "2"), "names one image file but -n 2 makes 2 results"),
    ("panorama", ("-o", "{tmp}/existing.png",), "existing.png already exists"),
    ("panorama", ("-o", "{tmp}/existing.png/x",), "is a file, not a directory"),
    ("panorama", ("-o", "/proc/nope",), "-o /proc/nope is not writable"),
    ("panorama", ("-o", "/dev/null/x",), "/dev/null is a file, not a directory"),
    ("panorama", ("-o", "{tmp}/" + "n" * 300,), "File name too long"),
    # Fits the file system's limit, but not the temporary name it is first written under.
    ("panorama", ("-o", "{tmp}/" + "n" * 240 + ".png",), "less room for the temporary name"),
    ("panorama", ("--panorama_width", "10000000", "--panorama_height", "5000000"), "make the output image smaller"),
    ("panorama", ("--start_layer", "3", "--end_layer", "99"), "this model has 7 blocks"),
    ("panorama", ("--layout", "{tmp}/hole.json",), "of directions outside every view"),
    ("panorama", ("--layout", "{tmp}/empty.json",), "empty.json has no views"),
    ("panorama", ("--layout", "{tmp}/nan.json",), "azimuth nan is not a finite number of degrees"),
    ("panorama", ("-m", "biggan-deep-512",), "-m biggan-deep-512 does not match --weights"),
    ("panorama", ("--memory_budget", "1MB",), "is too small for even one view at a time"),
    ("bigimg", ("--overlap", "0.3"), "8x8 feature grid of block 2"),
    ("bigimg", ("--batch_size", "100000", "--rows", "100000"), "use fewer views or tiles"),
    ("bigimg", ("-o", "{tmp}/existing.png",), "existing.png already exists"),
    ("bigimg", ("-o", "{tmp}/existing.dat",), "-o {tmp}/existing.dat is an existing file, not a directory"),
    ("texture", ("--size", "10000000"), "use fewer views or tiles"),
    ("texture", ("--overlap", "0.3"), "8x8 feature grid"),
]


@pytest.mark.parametrize("command,arguments,expected", CHECKS_BEFORE_LOADING)
def test_checks_run_before_the_model_loads(tmp_path, unloadable_checkpoint, command, arguments, expected):
    (tmp_path / "existing.png").write_bytes(b"keep me")
    (tmp_path / "existing.dat").write_bytes(b"keep me")
    (tmp_path / "hole.json").write_text(json.dumps([{"azimuth": 0, "elevation": 0}]))
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "nan.json").write_text('[{"azimuth": NaN, "elevation": 0}]')
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    outdir = [] if "-o" in arguments else ["-o", str(tmp_path / "out")]
    result = run_cli(command, "--weights", str(unloadable_checkpoint), *outdir, *arguments)
    assert_one_line_error(result, expected.replace("{tmp}", str(tmp_path)))
    assert (tmp_path / "existing.png").read_bytes() == b"keep me"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", GENERATORS)
def test_a_published_model_is_not_fetched_before_the_canvas_is_checked(tmp_path, isolated_hub_cache, command):
    """With an empty (isolated) cache, loading -m offline fails with exit 1; the canvas
    check from the model's known architecture must refuse first."""
    # dense:8 at 512 reaches 2048 natively: a check that needs the architecture, not the weights.
    extra = {"panorama": ("--layout", "dense:8", "--panorama_width", "4096"), "bigimg": ("--overlap", "0.3"),
             "texture": ("--overlap", "0.3")}[command]  # fmt: skip
    result = run_cli(command, "-m", "biggan-deep-512", "-o", str(tmp_path / "out"), *extra, env=isolated_hub_cache)
    assert result.returncode == 2, result.stderr
    assert not Path(isolated_hub_cache["HF_HOME"]).exists()


def test_the_load_is_reached_when_every_check_passes(tmp_path, unloadable_checkpoint):
    """The control for the tests above: valid options do reach the (failing) load."""
    result = run_cli("panorama", "--weights", str(unloadable_checkpoint), "-o", str(tmp_path / "out"))
    assert result.returncode != 0 and "pytorch_model.bin" in result.stderr
    assert not (tmp_path / "out").exists(), "the output directory made for the run is removed when nothing was written"


def test_reproduce_checks_its_sidecar_before_loading(tmp_path, unloadable_checkpoint):
    (tmp_path / "bad.json").write_text(json.dumps({"request": {"kind": "panorama", "truncation": 7}}))
    result = run_cli("reproduce", str(tmp_path / "bad.json"), "--weights", str(unloadable_checkpoint))
    assert_one_line_error(result, "truncation 7.0 is out of range")
    (tmp_path / "plain.json").write_text("[1, 2]")
    assert_one_line_error(run_cli("reproduce", str(tmp_path / "plain.json")), "is not a JSON object")


# --- numbers at the edges ---------------------------------------------------------------------------


@pytest.mark.parametrize("arguments,expected", [
    (("--seed", str(2**64)), f"is out of range; allowed: 0 to {MAX_SEED}"),
    (("--seed", str(MAX_SEED), "-n", "2"), "runs past the largest seed"),
    (("--z_mul", "1e308"), "allowed: -1000 to 1000"),
    (("--class_mul", "1e30"), "allowed: -1000 to 1000"),
    (("--z_mul", "-1e3"), "expected one argument; for a negative value write it with =, e.g. --z_mul=-1"),
    (("--truncation", "nan"), "is out of range"),
    (("--weights", ""), "--weights is empty"),
    (("--width", "64"), "did you mean --panorama_width?"),
    (("--max_views", "0"), "0 is out of range; allowed: >= 1"),
    (("--memory_budget", "banana"), "'banana' is not a memory size"),
    (("--batch", "0"), "--batch '0' is invalid"),
])  # fmt: skip
def test_numbers_at_the_edges_are_refused_in_one_line(tmp_path, arguments, expected):
    result = run_cli("panorama", "-o", str(tmp_path / "out"), *arguments)
    assert_one_line_error(result, expected)


@pytest.mark.parametrize("names", ["sandbar|", "|sandbar", "sandbar||valley", " | "])
def test_an_empty_class_name_is_refused_whatever_n_is(tmp_path, unloadable_checkpoint, names):
    result = run_cli("panorama", "--weights", str(unloadable_checkpoint), "-o", str(tmp_path / "out"),
                     "--class_names", names, "-n", "1")  # fmt: skip
    assert_one_line_error(result, f"--class_names {names!r} has an empty name")


def test_huge_class_mix_weights_work_and_a_negative_z_mul_with_equals_works(tmp_path, tiny_checkpoint):
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path), "--seed", "1",
                     "--panorama_width", "64", "--panorama_height", "32", "--z_mul=-1",
                     "--class_names", "1e308*sandbar+1e308*valley")  # fmt: skip
    assert result.returncode == 0, result.stderr
    metadata = json.loads((tmp_path / "0.json").read_text())
    assert metadata["view_classes"][0] == {"977": 0.5, "979": 0.5} and metadata["request"]["z_mul"] == -1.0


def test_bare_command_prints_usage_and_exits_2():
    result = run_cli()
    assert result.returncode == 2 and "usage: ganorama" in result.stderr and "a command is required" in result.stderr


# --- what the checkpoint makes -----------------------------------------------------------------------


def test_non_finite_output_is_refused_and_nothing_is_written(tmp_path, tiny_checkpoint):
    """A finite checkpoint whose values overflow in use (embeddings near the float32 maximum)."""
    config_text = (tiny_checkpoint / "config.json").read_text()
    _, state_dict = read_checkpoint(tiny_checkpoint)
    state_dict["embeddings.weight"] = torch.full_like(state_dict["embeddings.weight"], 3e38)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(config_text)
    torch.save(state_dict, broken / "pytorch_model.bin")
    result = run_cli("panorama", "--weights", str(broken), "-o", str(tmp_path / "out"), "--seed", "0",
                     "--panorama_width", "64", "--panorama_height", "32")  # fmt: skip
    assert_one_line_error(result, "produced non-finite values (inf or NaN) first at block 0", status=1)
    assert "in float32" in result.stderr and not (tmp_path / "out").exists()


# --- interrupts, kills and concurrent runs ---------------------------------------------------------------


def _as_from_a_terminal() -> None:
    """Ctrl-C as a terminal delivers it: a runner that starts the tests in the background
    (a shell's ``&``) passes SIGINT on ignored, and the CLI keeps an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.5, 3.0])
def test_ctrl_c_at_any_time_is_one_line_exit_130_and_leaves_nothing_partial(tmp_path, small_checkpoint, delay):
    outdir = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "ganorama", "panorama", "--weights", str(small_checkpoint),
                                "-o", str(outdir), "--seed", "1", "-n", "60", "--panorama_width", "256",
                                "--panorama_height", "128"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                               preexec_fn=_as_from_a_terminal)  # fmt: skip
    try:
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["ganorama panorama: interrupted; nothing partial was left behind"] or \
        stderr.strip().splitlines() == ["ganorama: interrupted; nothing partial was left behind"]
    names = sorted(path.name for path in outdir.iterdir()) if outdir.exists() else []
    stems = {name.split(".")[0] for name in names}
    assert names == sorted(f"{stem}.{suffix}" for stem in stems for suffix in ("json", "png")), names  # whole results only


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.05])
def test_ctrl_c_just_after_the_files_are_written_is_still_one_line_or_a_clean_exit(tmp_path, tiny_checkpoint, delay):
    outdir = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "ganorama", "panorama", "--weights", str(tiny_checkpoint),
                                "-o", str(outdir), "--seed", "1", "--panorama_width", "64", "--panorama_height", "32",
                                "--quiet"], stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"}, preexec_fn=_as_from_a_terminal)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (outdir / "0.json").exists() and process.poll() is None:
            time.sleep(0.002)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert (outdir / "0.json").exists(), stderr
    assert process.returncode in (0, 130), (process.returncode, stderr)  # never ended by the signal itself
    expected = [] if process.returncode == 0 else ["ganorama panorama: interrupted; nothing partial was left behind"]
    assert stderr.strip().splitlines() in (expected, ["ganorama: interrupted; nothing partial was left behind"])


CTRL_C_DURING_AN_IMPORT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from ganorama.cli.interrupts import InterruptFlag
InterruptFlag.install()
try:
    import interrupts_itself
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.01)
    print("never interrupted")
except KeyboardInterrupt:
    print("interrupted after the import" if sys.modules["interrupts_itself"].finished else "import cut short")
"""


def test_ctrl_c_during_an_import_is_delivered_once_the_import_is_over(tmp_path):
    """Raising inside an import could unwind through C++ that called back into Python
    (torch's pybind11 then aborts the process with SIGABRT); the interrupt waits for the
    import instead, and still arrives."""
    (tmp_path / "interrupts_itself.py").write_text(
        "import signal, time\nsignal.raise_signal(signal.SIGINT)\ntime.sleep(0.2)\nfinished = True\n")
    result = subprocess.run([sys.executable, "-c", CTRL_C_DURING_AN_IMPORT, str(tmp_path)], capture_output=True,
                            text=True, timeout=60, preexec_fn=_as_from_a_terminal)
    assert result.stdout.strip() == "interrupted after the import", result.stderr


def test_leftovers_of_a_killed_run_are_removed_by_the_next_run(tmp_path, tiny_checkpoint):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    outdir = tmp_path / "out"
    outdir.mkdir()
    stale_temp = outdir / f".0.png.ganorama-{pid}-123-abcd1234.part.png"
    stale_claim = outdir / ".0.claim"
    stale_temp.write_bytes(b"half")
    stale_claim.write_text(f"{pid}-123")
    someone_elses = outdir / ".notes.part"
    someone_elses.write_text("not ours")
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(outdir), "--seed", "1",
                     "--panorama_width", "64", "--panorama_height", "32")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not stale_temp.exists() and not stale_claim.exists() and someone_elses.exists()
    assert (outdir / "0.png").exists(), "the stale claim no longer holds number 0"


def test_sigkill_during_a_run_leaves_no_file_under_a_final_name(tmp_path, small_checkpoint):
    outdir = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "ganorama", "panorama", "--weights", str(small_checkpoint),
                                "-o", str(outdir), "--seed", "1", "-n", "20", "--panorama_width", "256",
                                "--panorama_height", "128", "--quiet"],
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (outdir.exists() and any(outdir.glob("*.json"))):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        process.kill()
        process.wait(timeout=30)
    for sidecar in outdir.glob("*.json"):
        json.loads(sidecar.read_text())  # every final file is complete
        assert (outdir / f"{sidecar.stem}.png").exists()
    rerun = run_cli("panorama", "--weights", str(small_checkpoint), "-o", str(outdir), "--seed", "1",
                    "--panorama_width", "64", "--panorama_height", "32")  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert not [path.name for path in outdir.iterdir() if path.name.startswith(".")], "stale temporaries removed"


KILLED_BEFORE_THE_SIDECAR = """
import os, signal, sys
from ganorama.files import FileSet
def killed(self, destination, payload):
    os.kill(os.getpid(), signal.SIGKILL)
FileSet.write_json = killed
from ganorama.cli import console_main
console_main(sys.argv[1:])
"""


@pytest.mark.parametrize("target", ["out", "out/beach.png"])
def test_a_run_killed_between_its_image_and_its_sidecar_is_cleaned_by_the_next(tmp_path, tiny_checkpoint, target):
    """The window between the first file and the sidecar (the exports are written there)
    is the one a SIGKILL is most likely to hit: the next run removes the orphans and
    takes the same name, instead of leaving them forever (or refusing -o as existing)."""
    arguments = ["panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path / target), "--seed", "1",
                 "--panorama_width", "64", "--panorama_height", "32", "--save_views", "--cubemap", "--quiet"]
    killed = subprocess.run([sys.executable, "-c", KILLED_BEFORE_THE_SIDECAR, *arguments], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    outdir = tmp_path / "out"
    stem = "beach" if target.endswith(".png") else "0"
    left = sorted(path.name for path in outdir.iterdir())
    assert f"{stem}.png" in left and f"{stem}.json" not in left, left  # the kill landed in the window
    rerun = run_cli(*arguments)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(path.name for path in outdir.iterdir()) == [f"{stem}.json", f"{stem}.png", f"{stem}_cubemap",
                                                              f"{stem}_views.png"]  # fmt: skip
    assert json.loads((outdir / f"{stem}.json").read_text())["request"]["seed"] == 1


def test_concurrent_runs_into_one_folder_keep_every_result_and_match_images_to_sidecars(tmp_path, tiny_checkpoint):
    outdir = tmp_path / "shared"
    processes = []
    for pair in range(5):
        for image_format in ("png", "jpg"):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "ganorama", "panorama", "--weights", str(tiny_checkpoint), "-o", str(outdir),
                 "--seed", str(pair), "--panorama_width", "64", "--panorama_height", "32", "--format", image_format,
                 "--quiet"], stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}))  # fmt: skip
    errors = [process.communicate(timeout=300)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 10, errors
    sidecars = sorted(outdir.glob("*.json"))
    assert len(sidecars) == 10
    for sidecar in sidecars:
        request = json.loads(sidecar.read_text())["request"]
        image = outdir / f"{sidecar.stem}.{request['format']}"
        other = outdir / f"{sidecar.stem}.{'png' if request['format'] == 'jpg' else 'jpg'}"
        assert image.exists() and not other.exists()


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_output_files_get_the_umasks_permissions(tmp_path, tiny_checkpoint, umask, mode):
    result = run_cli("panorama", "--weights", str(tiny_checkpoint), "-o", str(tmp_path), "--seed", "1",
                     "--panorama_width", "64", "--panorama_height", "32",
                     preexec_fn=lambda: os.umask(umask))  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("0.png", "0.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode


def test_unwritable_stdout_does_not_stop_the_run(tmp_path, tiny_checkpoint):
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "ganorama", "panorama", "-n", "2", "--weights",
                                 str(tiny_checkpoint), "-o", str(tmp_path), "--seed", "1", "--panorama_width", "64",
                                 "--panorama_height", "32"], stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "cannot print to standard output (No space left on device)" in result.stderr
    assert {"0.png", "0.json", "1.png", "1.json"} <= {path.name for path in tmp_path.iterdir()}


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_directory_is_refused_before_loading(tmp_path, unloadable_checkpoint):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = run_cli("panorama", "--weights", str(unloadable_checkpoint), "-o", str(locked))
    finally:
        locked.chmod(0o755)
    assert_one_line_error(result, "is not writable: Permission denied")


_TORCH_AFTER = """
import sys
from ganorama.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("torch imported" if "torch" in sys.modules else "torch not imported")
"""


@pytest.mark.parametrize("arguments", [
    ("--help",), (), ("panorama", "--help"), ("panorama", "--panorama_width", "1000", "--panorama_height", "1000"),
    ("panorama", "-o", "/proc/nope"), ("panorama", "--width", "5"), ("panorama", "--class_names", "sandbr"),
    ("bigimg", "--rows", "0"), ("texture", "--overlap", "0"), ("classes", "sandbar"),
])  # fmt: skip
def test_help_and_usage_errors_answer_without_importing_torch(arguments):
    """What makes them answer in a fraction of a second instead of the seconds torch takes."""
    result = subprocess.run([sys.executable, "-c", _TORCH_AFTER, *arguments], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "torch not imported", result.stderr


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("name,text,command,expected", [
    ("deep.json", '{"request": {"kind": "panorama"}, "x": ' + DEEP + "}", ("reproduce", "{file}"),
     "sidecar {file} is not valid JSON for a sidecar (nested deeper than 32 levels)"),
    ("layout.json", DEEP, ("panorama", "--layout", "{file}", "-m", "biggan-deep-128", "-o", "{dir}/p.png"),
     "--layout file {file} is not valid JSON (nested deeper than 32 levels)"),
    ("jobs.jsonl", '{"kind": "panorama", "classes": ' + DEEP + "}", ("batch", "{file}", "{dir}/out"),
     "jobs.jsonl line 1: not valid JSON (nested deeper than 32 levels)"),
    ("jobs.csv", "id,kind,classes\nbig,panorama," + "x" * 200_000 + "\n", ("batch", "{file}", "{dir}/out"),
     "jobs.csv line 2: not a CSV row this tool can read (field larger than field limit"),
], ids=["sidecar", "layout", "jsonl", "csv"])  # fmt: skip
def test_hostile_structure_in_a_file_we_read_is_one_line_naming_the_file(tmp_path, name, text, command, expected):
    """JSON nested 100,000 deep (Python's reader would raise RecursionError) and a CSV
    cell past the csv module's limit: one line, exit 2, no traceback, nothing written."""
    file = tmp_path / name
    file.write_text(text)
    words = [word.format(file=file, dir=tmp_path) for word in command]
    result = run_cli(*words, timeout=120)
    assert_one_line_error(result, expected.format(file=file))
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("field,value", [("weights", 3), ("model", ["biggan-deep-128"]), ("weights", "")])
def test_a_sidecar_model_field_of_the_wrong_type_is_one_line_naming_it(tmp_path, field, value):
    sidecar = tmp_path / "3.json"
    sidecar.write_text(json.dumps({"request": {"kind": "panorama", "seed": 1}, "model": "biggan-deep-128",
                                   field: value}))
    result = run_cli("reproduce", str(sidecar), "-o", str(tmp_path / "again.png"))
    assert_one_line_error(result, f"sidecar {sidecar}: {field} {value!r} is not a model name or checkpoint path")


@pytest.mark.parametrize("arguments,expected", [
    (("--layout", "dense:0"), "'dense:0' is invalid"),
    (("--layout", "dense:100000"), "'dense:100000' is invalid"),
    (("--layout", "dense:8", "--panorama_width", "4096"), "reaches width 128 natively"),
    (("--layout", "dense", "--panorama_width", "8192"), "cannot reach width 8192"),
])
def test_bad_dense_layouts_are_one_line_before_loading(tmp_path, unloadable_checkpoint, arguments, expected):
    result = run_cli("panorama", "--weights", str(unloadable_checkpoint), "-o", str(tmp_path / "o"), *arguments)
    assert_one_line_error(result, expected)
