"""Peak memory and time of whole runs, unchunked (every view in one batch) vs chunked.

Each case runs in a fresh subprocess (so its peak RSS is its own) with a randomly
initialised biggan-deep generator of the published architecture (no checkpoint needed;
a test fixture, not a model anyone should look at) through the library's own pipeline:
``Ganorama.run(Request(...))``, composition included. Peak memory is the process's peak
RSS on the CPU and ``torch.cuda.max_memory_allocated`` on a GPU; the estimate is what
``ganorama.memory`` predicts before running (the number the CLI refuses runs by).

    python benchmarks/memory.py                                # 128/256/512 panoramas + 8x8 textures
    python benchmarks/memory.py --sizes 128 --cases panorama   # a quick look
    python benchmarks/memory.py --chunks 1,2,auto              # explicit chunk sizes too
    python benchmarks/memory.py --sizes 512 --cases "texture 4096" --chunks auto   # a 4K texture, 256 tiles
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import environment, peak_rss_bytes, print_table, write_json

HERE = Path(__file__).resolve().parent
CASES = {
    "panorama": dict(kind="panorama", layout="full", panorama_width=2000, panorama_height=1000),
    "texture 8x8": dict(kind="texture", overlap=0.5),  # size set per model: 8 tiles of S/2
    "strip 1x64": dict(kind="bigimg", rows=1, batch_size=64),
    "texture 4096": dict(kind="texture", size=4096),  # 16x16 tiles at 512, 64x64 at 128
}
DEFAULT_CASES = "panorama,texture 8x8"


def case_fields(case: str, config) -> dict:
    fields = dict(CASES[case])
    if case == "texture 8x8":
        fields["size"] = 8 * config.output_dim // 2
    return fields


def run_case(size: int, case: str, chunk: str, device: str, dtype: str) -> dict:
    """One run in a child process; returns its measurements."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(
        {"size": size, "case": case, "chunk": chunk, "device": device, "dtype": dtype})]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if completed.returncode != 0:
        return {"model": f"biggan-deep-{size}", "case": case, "chunk": chunk,
                "error": (completed.stderr.strip().splitlines() or ["?"])[-1][:120]}  # fmt: skip
    return json.loads(completed.stdout.strip().splitlines()[-1])


def child(spec: dict) -> None:
    """Inside the subprocess: build, run once to warm up caches at a tiny size, then measure."""
    import time

    import torch

    from ganorama.devices import tune_cpu_allocator
    from ganorama.memory import format_bytes
    from ganorama.models.biggan import BigGAN
    from ganorama.models.config import BigGANConfig
    from ganorama.pipeline import Ganorama
    from ganorama.request import Request

    tune_cpu_allocator()  # as the CLI does
    device = torch.device(spec["device"])
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[spec["dtype"]]
    config = BigGANConfig.preset(f"biggan-deep-{spec['size']}")
    torch.manual_seed(0)
    model = BigGAN(config).eval().requires_grad_(False).to(device=device, dtype=dtype)
    generator = Ganorama(model, model_name=f"random biggan-deep-{spec['size']} (benchmark fixture)")
    fields = case_fields(spec["case"], config)
    views = generator.plan(Request(**fields)).canvas.num_views
    chunk = spec["chunk"]
    max_views = views if chunk == "all" else (None if chunk == "auto" else int(chunk))
    request = Request(seed=0, classes="valley", max_views=max_views, **fields)
    plan = generator.plan(request)
    baseline = peak_rss_bytes()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    result = generator.run(request)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
            else peak_rss_bytes())  # fmt: skip
    print(json.dumps({
        "model": f"biggan-deep-{spec['size']}", "case": spec["case"], "views": views, "chunk": chunk,
        "max_views": result.metadata["max_views"], "seconds": round(seconds, 2),
        "peak_bytes": peak, "peak": format_bytes(peak), "rss_before_run": format_bytes(baseline),
        "estimate": format_bytes(plan.memory.peak_bytes), "image": f"{result.image.shape[-1]}x{result.image.shape[-2]}",
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="128,256,512")
    parser.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated: {', '.join(CASES)}")
    parser.add_argument("--chunks", default="all,auto", help="all (unchunked), auto, or numbers")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--skip-above", type=float, default=20e9,
                        help="do not run cases whose estimate exceeds this many bytes (reported as skipped)")
    parser.add_argument("--json", default=str(HERE / "results" / "memory.json"))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    import torch

    from ganorama.memory import format_bytes
    from ganorama.models.config import BigGANConfig
    from ganorama.planning import Planner
    from ganorama.request import Request

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for case in args.cases.split(","):
            for chunk in args.chunks.split(","):
                config = BigGANConfig.preset(f"biggan-deep-{size}")
                fields = case_fields(case, config)
                planner = Planner(config, torch.device(args.device), getattr(torch, args.dtype))
                views = planner.plan(Request(**fields)).canvas.num_views
                max_views = views if chunk == "all" else (None if chunk == "auto" else int(chunk))
                estimate = planner.plan(Request(max_views=max_views, **fields)).memory.peak_bytes
                if estimate > args.skip_above:
                    rows.append({"model": f"biggan-deep-{size}", "case": case, "chunk": chunk, "views": views,
                                 "estimate": format_bytes(estimate), "error": "skipped: estimate above --skip-above"})
                    print(rows[-1], flush=True)
                    continue
                rows.append(run_case(size, case, chunk, args.device, args.dtype))
                print(rows[-1], flush=True)
    print()
    print_table(rows, ["model", "case", "views", "chunk", "max_views", "seconds", "peak", "estimate", "error"])
    write_json(args.json, {"environment": environment(torch.device(args.device)), "rows": rows})


if __name__ == "__main__":
    main()
