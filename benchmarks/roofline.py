"""Speed as a share of what the hardware can do: counted FLOPs of BigGAN-deep per view, the
machine's measured matmul peak per dtype, and the GFLOP/s achieved by the forward alone, by
a whole panorama (forward + sync + composition) and by ``ganorama batch``, each as a share
of that peak; with the bfloat16 (float16 on CUDA) image's PSNR against float32's.

    python benchmarks/roofline.py                    # 128, 256, 512; float32 and bfloat16; batch of 24 rows
    python benchmarks/roofline.py --quick            # 128 only, 1 repeat, batch of 8 rows: a minute or two
    python benchmarks/roofline.py --sizes 128 --dtypes bfloat16 --batch-rows 0

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on one view of a
weightless copy of the model (``ganorama.models.cost``; a multiply-add is 2). The peak is ``torch.mm`` of two N x N matrices in the dtype. The
panorama is ``Ganorama.panorama`` (full layout, 2000 x 1000 by default) with its sync
operators and composition plan built (their one-time build is the "first call" column);
"outside %" is everything but the forward as a share of the forward. The batch rows are
panoramas at 512 x 256 (full layout, 128 model): ``ganorama batch`` (local Ray, 1 worker,
Ray's start-up excluded and reported) against ``run_many`` in this process; "to first row" is
the worker's start (its process, imports, model load and first row) and "steady" the rate
of the rows after the first.

The models are full-size *random-weight test fixtures* (real weights are not downloaded
here): the FLOPs and timings are the real architecture's, the images are noise. On a shared
machine every timing is a median under whatever else runs: the "load" column says how busy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import REPO, add_run_arguments, environment, prepare_run, print_table, time_call, write_json
from fixture_models import write_legacy_checkpoint

from ganorama.models.config import BigGANConfig
from ganorama.pipeline import Ganorama
from ganorama.request import Request

BATCH_CLASSES = ("sandbar", "valley", "lakeside", "coral reef")
BATCH_SIZE = ("--panorama_width", "512", "--panorama_height", "256", "--layout", "full")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="model sizes (default 128 256 512)")
    parser.add_argument("--dtypes", nargs="+", default=None,
                        help="default: float32 bfloat16 on a CPU, float16 bfloat16 on CUDA")
    parser.add_argument("--width", type=int, default=2000, help="panorama width (height is half)")
    parser.add_argument("--matmul", type=int, default=4096, help="N of the N x N matmul that measures the peak")
    parser.add_argument("--batch-rows", type=int, default=None, help="rows of the batch comparison (0: skip it)")
    parser.add_argument("--quick", action="store_true", help="128 only, 1 repeat, 8 batch rows")
    add_run_arguments(parser, "benchmarks/results/roofline.json", repeats=3)
    args = parser.parse_args()
    device, malloc_tuned = prepare_run(args)
    sizes = args.sizes or ([128] if args.quick else [128, 256, 512])
    dtypes = args.dtypes or (["float16", "bfloat16"] if device.type == "cuda" else ["float32", "bfloat16"])
    repeats = 1 if args.quick else args.repeats
    batch_rows = args.batch_rows if args.batch_rows is not None else (8 if args.quick else 24)

    peaks = {dtype: matmul_gflops(args.matmul, getattr(torch, dtype), device, repeats) for dtype in dtypes}
    rows, batch_results = [], []
    with tempfile.TemporaryDirectory() as temporary:
        for size in sizes:
            name = f"biggan-deep-{size}"
            checkpoint = write_legacy_checkpoint(Path(temporary) / name, BigGANConfig.preset(name), seed=0)
            images = {}
            for dtype in dtypes:
                row, images[dtype] = measure_panorama(checkpoint, size, dtype, device, args.width, repeats)
                row["peak GFLOP/s"] = peaks[dtype]
                for what in ("forward", "panorama"):
                    row[f"{what} % peak"] = 100 * row[f"{what} GFLOP/s"] / peaks[dtype]
                rows.append(row)
            reference = next((images[dtype] for dtype in ("float32",) if dtype in images), None)
            for row in rows[-len(dtypes):]:
                if reference is not None and row["dtype"] != "float32":
                    row["PSNR dB"] = psnr(images[row["dtype"]], reference)
            if size == 128 and batch_rows > 0:
                for dtype in dtypes:
                    batch_results.append(measure_batch(checkpoint, dtype, device, batch_rows, Path(temporary) / dtype))

    print(f"\nmodel forward, whole panorama (full layout, {args.width}x{args.width // 2}) and the matmul peak; "
          f"{os.cpu_count()} CPUs, device {device}\n")
    print_table(rows, ["model", "dtype", "GFLOP/view", "views", "forward s", "forward GFLOP/s", "forward % peak",
                       "panorama s", "panorama GFLOP/s", "panorama % peak", "outside %", "first call s",
                       "peak GFLOP/s", "PSNR dB", "load"])  # fmt: skip
    for result in batch_results:
        result["batch % peak"] = 100 * result["batch GFLOP/s"] / peaks[result["dtype"]]
    if batch_results:
        print(f"\nganorama batch vs run_many in this process: {batch_rows} rows of biggan-deep-128 at 512x256\n")
        print_table(batch_results, ["dtype", "rows", "run_many rows/s", "batch rows/s", "batch / run_many",
                                    "ray start s", "batch s (no start)", "to first row s", "steady rows/s",
                                    "steady / run_many", "batch GFLOP/s", "batch % peak", "load"])  # fmt: skip
    write_json(args.json, {"environment": environment(device), "malloc_tuned": malloc_tuned, "matmul_n": args.matmul,
                           "peak_gflops": peaks, "panorama": [args.width, args.width // 2], "rows": rows,
                           "batch": batch_results})  # fmt: skip


def matmul_gflops(n: int, dtype: torch.dtype, device: torch.device, repeats: int) -> float:
    """The best of ``repeats`` timings of an n x n matmul, in GFLOP/s: the dense peak this
    dtype reaches here (the best, not the median: a peak is what the unit can do)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = min(time_call(lambda: torch.mm(a, b), device, repeats=1) for _ in range(max(repeats, 2)))
    return 2 * n**3 / best / 1e9


def flops_per_view(generator: Ganorama) -> int:
    """FLOPs of one view's forward, counted by PyTorch (a multiply-add is 2)."""
    from ganorama.models.cost import forward_flops

    return forward_flops(generator.model.config)


def measure_panorama(checkpoint: Path, size: int, dtype: str, device: torch.device, width: int, repeats: int):
    """Forward and whole-panorama timings of one model in ``dtype``, and the panorama image."""
    generator = Ganorama.from_pretrained(weights=str(checkpoint), device=str(device), dtype=dtype)
    flops = flops_per_view(generator)
    request = Request.from_dict({"kind": "panorama", "classes": "sandbar", "seed": 0, "panorama_width": width,
                                 "panorama_height": width // 2})  # fmt: skip
    plan = generator.plan(request)
    views = plan.canvas.num_views
    config = generator.model.config
    z = 0.4 * torch.randn(views, config.z_dim, generator=torch.Generator().manual_seed(0)).clamp(-2, 2)
    classes = torch.nn.functional.one_hot(torch.arange(views) % config.num_classes, config.num_classes)
    z, classes = z.to(device, generator.dtype), classes.to(device, generator.dtype)

    def forward():
        with torch.inference_mode():
            return generator.model(z, classes, 0.4)

    load = os.getloadavg()[0]
    start = time.perf_counter()
    image = generator.run(plan).image  # builds the sync operators and the composition plan
    first = time.perf_counter() - start
    forward_s = time_call(forward, device, repeats)
    panorama_s = time_call(lambda: generator.run(plan), device, repeats)
    total = flops * views / 1e9
    row = {"model": f"biggan-deep-{size}", "dtype": dtype, "GFLOP/view": flops / 1e9, "views": views,
           "forward s": forward_s, "forward GFLOP/s": total / forward_s, "panorama s": panorama_s,
           "panorama GFLOP/s": total / panorama_s, "outside %": 100 * (panorama_s - forward_s) / forward_s,
           "first call s": first, "load": max(load, os.getloadavg()[0])}  # fmt: skip
    return row, image.float()


def psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]."""
    return float(10 * torch.log10(1 / (image.double() - reference.double()).pow(2).mean()))


def measure_batch(checkpoint: Path, dtype: str, device: torch.device, rows: int, folder: Path) -> dict:
    """Rows per second of ``run_many`` here and of ``ganorama batch`` (local Ray, 1 worker)."""
    width, height = int(BATCH_SIZE[1]), int(BATCH_SIZE[3])
    requests = [Request.from_dict({"kind": "panorama", "classes": BATCH_CLASSES[k % len(BATCH_CLASSES)], "seed": k,
                                   "panorama_width": width, "panorama_height": height}) for k in range(rows)]  # fmt: skip
    generator = Ganorama.from_pretrained(weights=str(checkpoint), device=str(device), dtype=dtype)
    next(generator.run_many(requests[:1]))  # the canvas's operators and plan, built once as a worker builds them
    load = os.getloadavg()[0]
    start = time.perf_counter()
    for _ in generator.run_many(requests):
        pass
    in_process = time.perf_counter() - start
    flops = flops_per_view(generator) * generator.plan(requests[0]).canvas.num_views
    del generator
    folder.mkdir(parents=True)
    jobs = folder / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"classes": BATCH_CLASSES[k % len(BATCH_CLASSES)], "seed": k}) + "\n"
                            for k in range(rows)))  # fmt: skip
    command = [sys.executable, "-m", "ganorama", "batch", str(jobs), str(folder / "out"), "--weights", str(checkpoint),
               "--workers", "1", "--model_dtype", dtype, "--device", str(device), *BATCH_SIZE]  # fmt: skip
    start = time.perf_counter()
    stamps = _stamped_lines(command)
    wall = time.perf_counter() - start
    summary = json.loads((folder / "out" / "summary.json").read_text())
    startup = summary["ray_startup_seconds"]
    batch_s = wall - startup
    # Without a terminal batch prints "batch: N rows to make" once Ray is up and "batch: k/N
    # rows" as each row is written: the worker's start (process, imports, model load, the
    # first row) and its steady pace, the rows after the first.
    ray_up = next(stamp for stamp, line in stamps if "rows to make" in line)
    done = [stamp for stamp, line in stamps if line.startswith("batch: ") and line.endswith(f"/{rows} rows")]
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 else float("nan")
    return {"dtype": dtype, "rows": rows, "run_many rows/s": rows / in_process, "batch rows/s": rows / batch_s,
            "batch / run_many": in_process / batch_s, "ray start s": startup, "batch s (no start)": batch_s,
            "to first row s": done[0] - ray_up, "steady rows/s": steady, "steady / run_many": steady * in_process / rows,
            "batch GFLOP/s": rows * flops / 1e9 / batch_s, "load": max(load, os.getloadavg()[0])}  # fmt: skip


def _stamped_lines(command: list[str]) -> list[tuple[float, str]]:
    """Run ``command``; each line of its output with the second it arrived."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stamps = [(time.perf_counter() - start, line.rstrip()) for line in process.stdout]
    if process.wait() != 0:
        raise SystemExit("ganorama batch failed:\n" + "\n".join(line for _, line in stamps[-20:]))
    return stamps


if __name__ == "__main__":
    main()
