"""Per-stage cost of a panorama: generator forward without and with sync hooks, and the
equirect composition, for random-weight 128 and 256 models; plus the whole CLI command.

    python benchmarks/panorama.py                     # 128 and 256, 16 views, 2000x1000
    python benchmarks/panorama.py --sizes 128 --repeats 1

Goal: sync + composition <= 5% of the generator forward. For scale, the seed (measured on a
2-core CPU, float32, 16 views, 2000x1000): its hook loop adds 68% (128) / 28% (256) of the
forward, its stitching costs 95% / 25%, and end to end it takes 2.6x / 1.5x its bare forward.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import REPO, add_run_arguments, environment, prepare_run, print_table, time_call, write_json
from fixture_models import write_legacy_checkpoint

from ganorama.canvas.sphere import SphereCanvas
from ganorama.models.biggan import BigGAN
from ganorama.models.config import BigGANConfig
from ganorama.pipeline import sync_hooks
from ganorama.request import Sampling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--layout", default="seed16", help="seed16 = the seed's 16 views (default here)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--skip-cli", action="store_true", help="do not time the whole command")
    add_run_arguments(parser, "benchmarks/results/panorama.json", repeats=3)
    args = parser.parse_args()
    device, malloc_tuned = prepare_run(args)

    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for size in args.sizes:
            name = f"biggan-deep-{size}"
            directory = write_legacy_checkpoint(Path(temporary) / name, BigGANConfig.preset(name), seed=0)
            model = BigGAN.from_pretrained(directory, device=device, dtype=args.dtype)
            canvas = SphereCanvas.from_layout(args.layout)
            views = canvas.num_views
            sampling = Sampling()
            dtype = next(model.parameters()).dtype
            z = 0.5 * torch.randn(1, 128).clamp(-2, 2).expand(views, -1).to(device, dtype)
            classes = torch.nn.functional.one_hot(torch.randint(1000, (views,)), 1000).to(device, dtype)

            def forward():
                with torch.inference_mode():
                    return model(z, classes, sampling.truncation)

            def forward_synced():
                with torch.inference_mode(), sync_hooks(model, canvas, sampling.start_layer, sampling.end_layer):
                    return model(z, classes, sampling.truncation)

            start = time.perf_counter()
            for resolution in model.config.block_resolutions()[sampling.start_layer : sampling.end_layer]:
                canvas.sync_operator(resolution, resolution, device)
            canvas.composition_plan(args.height, args.width, size, device)
            build = time.perf_counter() - start

            # The operators alone on the hooked feature shapes: the sync cost without the noise
            # of two full forwards (a difference of two forwards is within their spread here).
            features = []
            hook_handles = [block.register_forward_hook(lambda _m, _i, out: features.append(out.clone()))
                            for block in model.blocks[sampling.start_layer : sampling.end_layer]]  # fmt: skip
            forward()
            for handle in hook_handles:
                handle.remove()

            def sync_only():
                for feature in features:
                    canvas.sync_operator(feature.shape[-2], feature.shape[-1], device)(feature)

            sync_ops = time_call(sync_only, device, args.repeats)
            bare = time_call(forward, device, args.repeats)
            synced = time_call(forward_synced, device, args.repeats)
            images = (forward().float() + 1) / 2
            compose = time_call(lambda: canvas.compose(images, args.height, args.width), device, args.repeats)
            row = {"model": name, "views": views, "forward": bare, "forward+sync": synced, "sync ops": sync_ops,
                   "sync %": 100 * sync_ops / bare, "compose": compose, "compose %": 100 * compose / bare,
                   "overhead %": 100 * (sync_ops + compose) / bare, "build once": build}  # fmt: skip
            if not args.skip_cli:
                row["cli -n 1"] = time_cli(directory, args)
                row["cli / forward"] = row["cli -n 1"] / bare
            rows.append(row)

    columns = ["model", "views", "forward", "forward+sync", "sync ops", "sync %", "compose", "compose %", "overhead %",
               "build once", "cli -n 1", "cli / forward"]  # fmt: skip
    print_table(rows, columns)
    write_json(args.json, {"environment": environment(device), "malloc_tuned": malloc_tuned, "layout": args.layout, "dtype": args.dtype,
                           "panorama": [args.width, args.height], "rows": rows})  # fmt: skip


def time_cli(directory: Path, args) -> float:
    """Wall time of the whole ``ganorama panorama -n 1`` command, process start included."""
    with tempfile.TemporaryDirectory() as outdir:
        command = [sys.executable, "-m", "ganorama", "panorama", "-n", "1", "--weights", str(directory),
                   "-o", outdir, "--layout", args.layout, "--device", args.device, "--model_dtype", args.dtype,
                   "--panorama_width", str(args.width), "--panorama_height", str(args.height), "--seed", "0"]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        return time.perf_counter() - start


if __name__ == "__main__":
    main()
