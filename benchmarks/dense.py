"""Dense layouts against ``full``: time and peak memory of native-resolution panoramas.

A dense layout reaches a width natively with more, narrower views (``--layout dense``);
``full`` reaches it by upscaling its 18 views. Each case runs in a fresh child process (so
its peak RSS, VmHWM, is its own) through the public API, ``Ganorama.run(Request)``,
composition included, on a random-weight *test fixture* of the biggan-deep-N architecture:
"full" width is the published one (its time is the real model's), "small" is channel width
8 (the views' cost shrinks, the canvas's — sync operators, composition, coverage — does
not: what a dense layout adds). "estimate" is the memory the planner predicts before
loading (the number runs are refused by); "s/view" the wall time over the views.

    python benchmarks/dense.py                     # dense 4096x2048 at 256 and 8192x4096 at 512 vs full, width 8
    python benchmarks/dense.py --quick             # dense 2048x1024 at 128 vs full, width 8 (a minute)
    python benchmarks/dense.py --width full --cases 256:4096   # the published width (slow on a CPU)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import environment, peak_rss_bytes, print_table, write_json


HERE = Path(__file__).resolve().parent

DEFAULT_CASES = "256:4096,512:8192"
QUICK_CASES = "128:2048"


def run_case(spec: dict) -> dict:
    """One run in a child process; returns its measurements (or the error's last line)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if completed.returncode != 0:
        return {**spec, "error": (completed.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def child(spec: dict) -> None:
    """Inside the subprocess: a random model of the architecture, one run, measured."""
    import torch

    from ganorama.devices import tune_cpu_allocator
    from ganorama.models.biggan import BigGAN
    from ganorama.models.config import BigGANConfig
    from ganorama.pipeline import Ganorama
    from ganorama.request import Request
    from ganorama.resources import format_bytes

    tune_cpu_allocator()  # as the CLI does
    config = BigGANConfig.preset(f"biggan-deep-{spec['size']}")
    if spec["model_width"] == "small":
        config.channel_width = 8
    torch.manual_seed(0)
    model = BigGAN(config).eval().requires_grad_(False)
    generator = Ganorama(model, model_name=f"random biggan-deep-{spec['size']} (benchmark fixture)")
    request = Request(seed=0, classes="valley", layout=spec["layout"], panorama_width=spec["panorama"],
                      panorama_height=spec["panorama"] // 2)  # fmt: skip
    plan = generator.plan(request)
    before = peak_rss_bytes()
    start = time.perf_counter()
    result = generator.run(plan)
    seconds = time.perf_counter() - start
    peak = peak_rss_bytes()
    views = plan.canvas.num_views
    print(json.dumps({**spec, "views": views, "max_views": plan.max_views, "seconds": round(seconds, 1),
                      "s/view": round(seconds / views, 3), "peak_bytes": peak, "peak": format_bytes(peak),
                      "before run": format_bytes(before), "estimate": format_bytes(plan.memory.peak_bytes),
                      "image": f"{result.image.shape[-1]}x{result.image.shape[-2]}"}))  # fmt: skip


def cases(text: str) -> list[tuple[int, int]]:
    """``SIZE:WIDTH,...`` -> [(model size, panorama width)]."""
    pairs = []
    for item in text.split(","):
        size, _, width = item.partition(":")
        pairs.append((int(size), int(width)))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=None, help=f"SIZE:WIDTH,... (default {DEFAULT_CASES})")
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK_CASES}")
    parser.add_argument("--width", choices=("small", "full"), default="small",
                        help="the fixture's channel width: small (8) or the published one")
    parser.add_argument("--layouts", default="dense,full", help="layouts to compare, comma-separated")
    parser.add_argument("--json", default=str(HERE / "results" / "dense.json"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    import torch

    rows = []
    for size, width in cases(args.cases or (QUICK_CASES if args.quick else DEFAULT_CASES)):
        for layout in args.layouts.split(","):
            rows.append(run_case({"size": size, "model_width": args.width, "layout": layout, "panorama": width}))
            print(rows[-1], flush=True)
    print()
    print_table(rows, ["size", "model_width", "layout", "image", "views", "max_views", "seconds", "s/view", "peak",
                       "estimate", "error"])  # fmt: skip
    write_json(args.json, {"environment": environment(torch.device("cpu")), "rows": rows})


if __name__ == "__main__":
    main()
