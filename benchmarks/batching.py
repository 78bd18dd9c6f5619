"""Panoramas per second with K panoramas per forward (``--batch K``) vs one at a time.

A randomly initialised biggan-deep generator of the published architecture (a benchmark
fixture, not a model anyone should look at) makes the same N panoramas through
``Ganorama.run_many(requests, batch=K)`` for each K; the first batch size runs once untimed
to build the cached sync operators and composition plans.

    python benchmarks/batching.py                      # 128, 8 panoramas, K = 1, 2, 4, 8
    python benchmarks/batching.py --size 256 --count 4 --batches 1,2,4 --device cuda --dtype float16
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _common import environment, print_table, synchronize, write_json

from ganorama.models.biggan import BigGAN
from ganorama.models.config import BigGANConfig
from ganorama.pipeline import Ganorama
from ganorama.request import Request

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, choices=(128, 256, 512))
    parser.add_argument("--count", type=int, default=8, help="panoramas per measurement")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--width", type=int, default=1024, help="panorama width (height is half)")
    parser.add_argument("--max_views", default="auto")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", default=str(HERE / "results" / "batching.json"))
    args = parser.parse_args()

    from ganorama.devices import tune_cpu_allocator

    tune_cpu_allocator()
    device = torch.device(args.device)
    torch.manual_seed(0)
    config = BigGANConfig.preset(f"biggan-deep-{args.size}")
    model = BigGAN(config).eval().requires_grad_(False).to(device=device, dtype=getattr(torch, args.dtype))
    generator = Ganorama(model, model_name=f"random biggan-deep-{args.size} (benchmark fixture)")
    max_views = None if args.max_views == "auto" else int(args.max_views)
    requests = [Request(seed=seed, classes="valley", panorama_width=args.width, panorama_height=args.width // 2,
                        max_views=max_views) for seed in range(args.count)]  # fmt: skip
    list(generator.run_many(requests[:1]))  # warm-up: operators, plans, allocator
    rows = []
    for batch in (int(k) for k in args.batches.split(",")):
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        synchronize(device)
        start = time.perf_counter()
        results = list(generator.run_many(requests, batch=batch))
        synchronize(device)
        seconds = time.perf_counter() - start
        rows.append({"model": f"biggan-deep-{args.size}", "batch": batch, "panoramas": len(results),
                     "max_views": results[0].metadata["max_views"], "seconds": round(seconds, 2),
                     "panoramas/s": round(len(results) / seconds, 3),
                     "cuda peak": (f"{torch.cuda.max_memory_allocated(device) / 1e9:.2f} GB"
                                   if device.type == "cuda" else None)})  # fmt: skip
        print(rows[-1], flush=True)
    base = rows[0]["panoramas/s"]
    for row in rows:
        row["vs batch 1"] = f"{row['panoramas/s'] / base:.2f}x"
    print()
    print_table(rows, ["model", "batch", "panoramas", "max_views", "seconds", "panoramas/s", "vs batch 1", "cuda peak"])
    write_json(args.json, {"environment": environment(device), "rows": rows})


if __name__ == "__main__":
    main()
