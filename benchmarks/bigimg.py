"""Big-image overhead: plane sync + composition vs the plain generator forward.

A randomly initialised biggan-deep generator (no checkpoint needed) runs the tiles of a
canvas as one batch: plain, then with the plane sync hooked on blocks 2..6 (the seed's
default --start_layer 2 --end_layer 7). Operators are built once per feature size and
cached, so their build time is reported separately from the per-image cost. "sync s" is
the operators alone on features of the hooked shapes (what the hooks add); "forward+sync"
is the hooked forward, a check on it that is noisier on a busy machine.

    python benchmarks/bigimg.py                          # full width, 1x6 strip and 4x4 tileable
    python benchmarks/bigimg.py --width 32 --repeats 5   # a narrower model (faster on a CPU)
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from _common import add_run_arguments, environment, prepare_run, print_table, synchronize, time_call, write_json

from ganorama.canvas.plane import PlaneCanvas
from ganorama.models.biggan import BigGAN
from ganorama.models.config import BigGANConfig
from ganorama.pipeline import DEFAULT_END_LAYER, DEFAULT_START_LAYER, sync_hooks

CASES = {"1x6 strip": dict(rows=1, cols=6, wrap="none"), "4x4 tileable": dict(rows=4, cols=4, wrap="xy")}


def random_model(size: int, width: int, device: torch.device, dtype: torch.dtype) -> BigGAN:
    """biggan-deep-SIZE's architecture at channel ``width`` (128 = the published width), random init."""
    config = BigGANConfig.preset(f"biggan-deep-{size}")
    config.channel_width = width
    torch.manual_seed(0)
    return BigGAN(config).eval().requires_grad_(False).to(device=device, dtype=dtype)


def inputs(model: BigGAN, batch: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, z_dim) shared noise and (batch, num_classes) one-hot classes, as bigimg draws them."""
    generator = torch.Generator().manual_seed(0)
    z = (0.5 * torch.randn(1, model.config.z_dim, generator=generator).clamp(-2, 2)).expand(batch, -1)
    classes = torch.nn.functional.one_hot(torch.full((batch,), 950), model.config.num_classes).float()
    return z.to(device, dtype), classes.to(device, dtype)


def hooked_shapes(model: BigGAN, z: torch.Tensor, classes: torch.Tensor) -> list[torch.Size]:
    """Output shapes (B, C, h, w) of the synced blocks, from one plain forward."""
    shapes = []
    handles = [block.register_forward_hook(lambda _m, _i, output: shapes.append(output.shape))
               for block in model.blocks[DEFAULT_START_LAYER:DEFAULT_END_LAYER]]  # fmt: skip
    try:
        model(z, classes, 0.5)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def bench_case(name: str, model: BigGAN, layout: dict, device: torch.device, repeats: int) -> dict:
    dtype = next(model.parameters()).dtype
    canvas = PlaneCanvas(tile_size=model.config.output_dim, overlap=0.5, **layout)
    resolutions = model.config.block_resolutions()[DEFAULT_START_LAYER:DEFAULT_END_LAYER]
    canvas.check_feature_sizes(resolutions, first_block=DEFAULT_START_LAYER)
    z, classes = inputs(model, canvas.num_views, device, dtype)

    with torch.inference_mode():
        shapes = hooked_shapes(model, z, classes)
        start = time.perf_counter()
        operators = [canvas.sync_operator(shape[-2], shape[-1], device) for shape in shapes]
        synchronize(device)
        build = time.perf_counter() - start
        features = [torch.randn(shape, device=device, dtype=dtype) for shape in shapes]

        def sync_only():
            return [operator(feature) for operator, feature in zip(operators, features)]

        def plain():
            return model(z, classes, 0.5)

        def synced():
            with sync_hooks(model, canvas, DEFAULT_START_LAYER, DEFAULT_END_LAYER):
                return model(z, classes, 0.5)

        # Interleaved so that load from other processes hits both alike.
        plain_seconds, synced_seconds = [], []
        for _ in range(repeats):
            plain_seconds.append(time_call(plain, device, 1, warmup=0 if plain_seconds else 1))
            synced_seconds.append(time_call(synced, device, 1, warmup=0 if synced_seconds else 1))
        sync_seconds = time_call(sync_only, device, repeats)
        views = (synced().float() + 1) / 2
        compose_seconds = time_call(lambda: canvas.compose(views), device, repeats)
    forward = statistics.median(plain_seconds)
    return {
        "case": name,
        "tiles": canvas.num_views,
        "canvas": f"{canvas.width}x{canvas.height}",
        "forward s": forward,
        "forward+sync s": statistics.median(synced_seconds),
        "sync s": sync_seconds,
        "sync %": 100 * sync_seconds / forward,
        "compose s": compose_seconds,
        "compose %": 100 * compose_seconds / forward,
        "build s (once)": build,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128, choices=(128, 256, 512), help="biggan-deep-SIZE architecture")
    parser.add_argument("--width", type=int, default=128, help="channel width (128 = the published models)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    add_run_arguments(parser, "benchmarks/results/bigimg.json", repeats=5)
    args = parser.parse_args()
    device, malloc_tuned = prepare_run(args)
    dtype = getattr(torch, args.dtype)

    model = random_model(args.size, args.width, device, dtype)
    rows = [bench_case(name, model, layout, device, args.repeats) for name, layout in CASES.items()]
    columns = ["case", "tiles", "canvas", "forward s", "forward+sync s", "sync s", "sync %", "compose s",
               "compose %", "build s (once)"]  # fmt: skip
    print(f"biggan-deep-{args.size} architecture, width {args.width}, {args.dtype}, random weights, {device}")
    print_table(rows, columns)
    write_json(args.json, {"environment": environment(device), "malloc_tuned": malloc_tuned, "size": args.size, "width": args.width,
                           "dtype": args.dtype, "repeats": args.repeats, "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
