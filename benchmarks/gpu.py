"""One-shot GPU benchmark: for biggan-deep-128, 256 and 512 in float16 and bfloat16
(channels_last, with and without torch.compile): one panorama's wall time, panoramas per
second with ``batch="auto"``, ``torch.cuda.max_memory_allocated`` and the forward's share of
the GPU's dense matmul peak; one table and JSON. Builds the random-weight fixtures it needs.

    python benchmarks/gpu.py --dry-run               # on any machine: what it would measure, then the same code on a tiny CPU model
    python benchmarks/gpu.py                         # one GPU, about 5-8 minutes
    python benchmarks/gpu.py --sizes 128 --compile off --batch-panoramas 64

Aims for an H100: a 512 panorama in under 50 ms, over 200 panoramas per second at 128. The
compile time (the first call of the compiled blocks, less an eager call) is its own column.
The models are full-size *random-weight test fixtures*: the timings are the real
architecture's, the images are noise.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _common import add_run_arguments, environment, prepare_run, print_table, synchronize, time_call, write_json
from fixture_models import small_config, write_legacy_checkpoint
from roofline import flops_per_view, matmul_gflops

from ganorama.models.config import BigGANConfig
from ganorama.pipeline import Ganorama
from ganorama.request import Request

COLUMNS = ["model", "dtype", "compile", "panorama s", "compile s", "panoramas/s (batch auto)", "batch",
           "max allocated MiB", "forward GFLOP/s", "forward % peak", "peak GFLOP/s"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the cases, then run them on a tiny CPU model (no compile): a check of this script")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16"])
    parser.add_argument("--compile", nargs="+", choices=("off", "on"), default=["off", "on"])
    parser.add_argument("--width", type=int, default=2048, help="panorama width (height is half)")
    parser.add_argument("--batch-panoramas", type=int, default=32, help="panoramas timed with batch auto")
    add_run_arguments(parser, "benchmarks/results/gpu.json", repeats=3)
    args = parser.parse_args()
    cases = [(size, dtype, compiled) for size in args.sizes for dtype in args.dtypes for compiled in args.compile]
    if args.dry_run:
        dry_run(args, cases)
        return
    device, _ = prepare_run(args)
    if device.type != "cuda":
        raise SystemExit(f"--device {device} is not a GPU: run with --dry-run to check this script on a CPU")
    rows = []
    import tempfile

    with tempfile.TemporaryDirectory() as temporary:
        checkpoints = {size: write_legacy_checkpoint(Path(temporary) / f"biggan-deep-{size}",
                                                     BigGANConfig.preset(f"biggan-deep-{size}"), seed=0)
                       for size in args.sizes}  # fmt: skip
        peaks = {dtype: matmul_gflops(8192, getattr(torch, dtype), device, args.repeats) for dtype in args.dtypes}
        for size, dtype, compiled in cases:
            rows.append(measure(checkpoints[size], f"biggan-deep-{size}", dtype, compiled == "on", device, args,
                                peaks[dtype]))  # fmt: skip
            print_table(rows[-1:], COLUMNS)
    print()
    print_table(rows, COLUMNS)
    write_json(args.json, {"environment": environment(device), "peak_gflops": peaks, "rows": rows})


def dry_run(args, cases: list) -> None:
    """What a real run measures, then every measurement once on a tiny CPU model."""
    print(f"would measure {len(cases)} cases on one GPU, panoramas {args.width}x{args.width // 2} (full layout):")
    for size, dtype, compiled in cases:
        print(f"  biggan-deep-{size} {dtype} compile {compiled}: one panorama's wall time (median of {args.repeats}), "
              f"{args.batch_panoramas} panoramas with batch auto, max_memory_allocated, forward GFLOP/s vs the "
              f"{dtype} 8192x8192 matmul peak")  # fmt: skip
    print("\nsmoke run of the same code: a width-4, 32 px random-weight fixture on the CPU, float32, no compile\n")
    import tempfile

    args.width, args.batch_panoramas, args.repeats = 64, 2, 1
    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as temporary:
        checkpoint = write_legacy_checkpoint(Path(temporary) / "tiny", small_config(4, output_dim=32), seed=0)
        peak = matmul_gflops(256, torch.float32, device, 1)
        row = measure(checkpoint, "tiny fixture", "float32", False, device, args, peak)
    print_table([row], COLUMNS)


def measure(checkpoint: Path, name: str, dtype: str, compiled: bool, device: torch.device, args, peak: float) -> dict:
    generator = Ganorama.from_pretrained(weights=str(checkpoint), device=str(device), dtype=dtype)
    request = Request.from_dict({"kind": "panorama", "classes": "sandbar", "seed": 0, "panorama_width": args.width,
                                 "panorama_height": args.width // 2})  # fmt: skip
    plan = generator.plan(request)
    generator.run(plan)  # eager: builds the sync operators and the composition plan
    eager_first = time_call(lambda: generator.run(plan), device, repeats=1, warmup=0)
    compile_s = None
    if compiled:
        layers = generator.model.generator.layers
        for index, layer in enumerate(layers):
            layers[index] = torch.compile(layer)
        start = time.perf_counter()
        generator.run(plan)
        synchronize(device)
        compile_s = time.perf_counter() - start - eager_first
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    panorama_s = time_call(lambda: generator.run(plan), device, args.repeats)
    requests = [request.replace(seed=k) for k in range(args.batch_panoramas)]
    limit = plan.group_limit("auto")
    next(generator.run_many(requests[:limit], batch="auto"))  # compiles the batch's shapes too
    start = time.perf_counter()
    for _ in generator.run_many(requests, batch="auto"):
        pass
    synchronize(device)
    batch_s = time.perf_counter() - start
    allocated = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    views = plan.canvas.num_views
    config = generator.model.config
    z = torch.zeros(views, config.z_dim, device=device, dtype=generator.dtype)
    classes = torch.nn.functional.one_hot(torch.arange(views) % config.num_classes, config.num_classes)
    classes = classes.to(device, generator.dtype)

    def forward():
        with torch.inference_mode():
            return generator.model(z, classes, 0.4)

    forward_gflops = flops_per_view(generator) * views / 1e9 / time_call(forward, device, args.repeats)
    return {"model": name, "dtype": dtype, "compile": "on" if compiled else "off", "panorama s": panorama_s,
            "compile s": compile_s, "panoramas/s (batch auto)": args.batch_panoramas / batch_s,
            "batch": limit, "max allocated MiB": allocated / 2**20, "forward GFLOP/s": forward_gflops,
            "forward % peak": 100 * forward_gflops / peak, "peak GFLOP/s": peak}  # fmt: skip


if __name__ == "__main__":
    main()
