"""Checkpoint loading and generator forward: ganorama vs pytorch_pretrained_biggan.

Random-weight checkpoints in the published legacy format are written once into a
temporary directory; both implementations load the same file and run the same inputs.

    python benchmarks/biggan.py                       # 128 and 256, float32 + bfloat16
    python benchmarks/biggan.py --sizes 128 --dtypes float32 --skip-reference
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from _common import add_run_arguments, environment, prepare_run, print_table, time_call, write_json
from fixture_models import load_reference, write_legacy_checkpoint

from ganorama.models.biggan import BigGAN
from ganorama.models.config import BigGANConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--channels-last", action="store_true", help="also time ours in channels_last")
    parser.add_argument("--compile", action="store_true", help="also time ours under torch.compile")
    parser.add_argument("--skip-reference", action="store_true", help="do not time the reference at all")
    add_run_arguments(parser, "benchmarks/results/biggan.json", repeats=3)
    args = parser.parse_args()
    device, malloc_tuned = prepare_run(args)

    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for size in args.sizes:
            name = f"biggan-deep-{size}"
            directory = write_legacy_checkpoint(Path(temporary) / name, BigGANConfig.preset(name), seed=0)
            start = time.perf_counter()
            BigGAN.from_pretrained(directory, device=device, dtype="float32")
            our_load = time.perf_counter() - start
            rows.append({"model": name, "impl": "ganorama", "stage": "load", "dtype": "float32", "seconds": our_load})
            print(rows[-1], flush=True)

            generator = torch.Generator().manual_seed(0)
            z = 0.5 * torch.randn(args.batch, 128, generator=generator).clamp(-2, 2)
            classes = torch.nn.functional.one_hot(torch.randint(1000, (args.batch,), generator=generator), 1000).float()

            reference_forward = None
            if not args.skip_reference:
                start = time.perf_counter()
                reference = load_reference(directory).to(device)
                rows.append({"model": name, "impl": "reference", "stage": "load", "dtype": "float32",
                             "seconds": time.perf_counter() - start})  # fmt: skip
                with torch.inference_mode():
                    reference_forward = time_call(lambda: reference(z.to(device), classes.to(device), 0.5), device,
                                                  args.repeats)  # fmt: skip
                rows.append({"model": name, "impl": "reference", "stage": f"forward x{args.batch}", "dtype": "float32",
                             "seconds": reference_forward})  # fmt: skip
                del reference

            variants = [(dtype, "") for dtype in args.dtypes]
            if args.channels_last:
                variants.append(("float32", "channels_last"))
            if args.compile:
                variants.append(("float32", "compile"))
            for dtype, variant in variants:
                model = BigGAN.from_pretrained(directory, device=device, dtype=dtype)
                if variant == "channels_last":
                    model = model.to(memory_format=torch.channels_last)
                run = model
                if variant == "compile":
                    run = torch.compile(model)
                torch_dtype = next(model.parameters()).dtype
                with torch.inference_mode():
                    seconds = time_call(lambda: run(z.to(device, torch_dtype), classes.to(device, torch_dtype), 0.5),
                                        device, args.repeats)  # fmt: skip
                row = {"model": name, "impl": "ganorama" + (f"+{variant}" if variant else ""),
                       "stage": f"forward x{args.batch}", "dtype": dtype, "seconds": seconds}  # fmt: skip
                if reference_forward:
                    row["vs reference"] = f"{reference_forward / seconds:.2f}x"
                rows.append(row)
                print(row, flush=True)
            ref_load = next((r["seconds"] for r in rows if r["model"] == name and r["impl"] == "reference"
                             and r["stage"] == "load"), None)  # fmt: skip
            if ref_load:
                next(r for r in rows if r["model"] == name and r["stage"] == "load" and r["impl"] == "ganorama")[
                    "vs reference"] = f"{ref_load / our_load:.1f}x"  # fmt: skip

    print_table(rows, ["model", "impl", "stage", "dtype", "seconds", "vs reference"])
    write_json(args.json, {"environment": environment(device), "malloc_tuned": malloc_tuned, "batch": args.batch, "rows": rows})


if __name__ == "__main__":
    main()
