"""Panoramas per second: ``ganorama batch`` (local Ray, 1 and 2 workers) against a shell loop
of single ``ganorama panorama`` runs making the same rows, with Ray's start-up cost and the
peak memory of each way (all its processes together).

    python benchmarks/batch.py                      # 8 rows, 512x256, full layout, biggan-deep-128
    python benchmarks/batch.py --rows 12 --workers 1 2 --batch 1 auto

The model is a full-size biggan-deep-128 *random-weight test fixture* (the real weights are
not downloaded here): the timings are those of the real architecture, the images are noise.
Goal: batch >= 3x the shell loop's panoramas per second.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, environment, print_table, write_json
from fixture_models import write_legacy_checkpoint

from ganorama.models.config import BigGANConfig

CLASSES = ("sandbar", "valley", "lakeside", "coral reef")
# A local Ray on this machine only: no token to hand to its clients.
# 1-minute load averages seen around each measured command (the machine may be shared).
LOADS: list[float] = []
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layout", default="full")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", nargs="+", default=["1"], help="--batch values to time (K or auto)")
    parser.add_argument("--skip-loop", action="store_true", help="do not time the shell loop")
    parser.add_argument("--json", default="benchmarks/results/batch.json")
    args = parser.parse_args()
    size = ("--panorama_width", str(args.width), "--panorama_height", str(args.width // 2), "--layout", args.layout)

    results = []
    with tempfile.TemporaryDirectory() as temporary:
        temporary = Path(temporary)
        checkpoint = write_legacy_checkpoint(temporary / "biggan-deep-128", BigGANConfig.preset("biggan-deep-128"),
                                             seed=0)  # fmt: skip
        jobs = temporary / "jobs.jsonl"
        jobs.write_text("".join(json.dumps({"classes": CLASSES[k % len(CLASSES)], "seed": k}) + "\n"
                                for k in range(args.rows)))  # fmt: skip
        if not args.skip_loop:
            results.append(time_shell_loop(checkpoint, args.rows, size, temporary / "loop"))
        for batch in args.batch:
            for workers in args.workers:
                out = temporary / f"batch-{workers}-{batch}"
                command = [sys.executable, "-m", "ganorama", "batch", str(jobs), str(out), "--weights", str(checkpoint),
                           "--workers", str(workers), "--batch", batch, "--quiet", *size]  # fmt: skip
                LOADS.clear()
                wall, peak = run_measured(command)
                summary = json.loads((out / "summary.json").read_text())
                assert summary["counts"]["done"] == args.rows, summary["failed"]
                results.append({"way": f"batch --workers {workers} --batch {batch}", "rows": args.rows, "seconds": wall,
                                "panoramas/s": args.rows / wall, "ray start s": summary["ray_startup_seconds"],
                                "peak RSS MiB": peak / 2**20, "max load": max(LOADS)})  # fmt: skip

    baseline = next((row["panoramas/s"] for row in results if row["way"] == "shell loop"), None)
    for row in results:
        row["x loop"] = row["panoramas/s"] / baseline if baseline else None
    print(f"{args.rows} panoramas {args.width}x{args.width // 2}, layout {args.layout}, biggan-deep-128 (random-weight "
          f"test fixture), {os.cpu_count()} CPUs\n")  # fmt: skip
    print_table(results, ["way", "rows", "seconds", "panoramas/s", "x loop", "ray start s", "peak RSS MiB", "max load"])
    import torch

    write_json(args.json, {"environment": environment(torch.device("cpu")), "rows": args.rows, "width": args.width,
                           "layout": args.layout, "results": results})  # fmt: skip


def time_shell_loop(checkpoint: Path, rows: int, size: tuple, outdir: Path) -> dict:
    """One ``ganorama panorama`` process per row, one after the other, as a shell loop runs them."""
    start = time.perf_counter()
    peak = 0
    LOADS.clear()
    for k in range(rows):
        command = [sys.executable, "-m", "ganorama", "panorama", "--seed", str(k), "--class_names",
                   CLASSES[k % len(CLASSES)], "--weights", str(checkpoint), "-o", str(outdir), "--quiet", *size]
        peak = max(peak, run_measured(command)[1])
    wall = time.perf_counter() - start
    return {"way": "shell loop", "rows": rows, "seconds": wall, "panoramas/s": rows / wall, "peak RSS MiB": peak / 2**20,
            "max load": max(LOADS)}


def run_measured(command: list[str]) -> tuple[float, int]:
    """Wall time of ``command`` and the peak of the summed RSS of its processes (it and
    everything in its session, e.g. Ray's workers), sampled every 0.1 s."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=ENV, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], session_rss(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, errors = process.communicate(timeout=3600)
    finally:
        done.set()
        sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:5])} ... failed:\n{errors}")
    wall = time.perf_counter() - start
    # Other work on the machine slows every way, and not equally: record how busy it was.
    LOADS.append(max(load_before, os.getloadavg()[0]))
    return wall, peak[0]


def session_rss(session: int) -> int:
    """Summed resident memory, in bytes, of the live processes in ``session``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


if __name__ == "__main__":
    main()
