"""Image writers by format: wall time and file size of writing one panorama (the 8-bit
PNG and JPEG paths and the float ones: 16-bit PNG, OpenEXR float and half, Radiance
RGBE), and of a skybox preset, from a synthetic float panorama (smooth colours plus
noise, so the encoders see texture rather than flat areas).

    python benchmarks/float_formats.py                      # 2000 x 1000
    python benchmarks/float_formats.py --height 2048 --repeats 1
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from _common import add_run_arguments, environment, prepare_run, print_table, time_call, write_json


def panorama(height: int) -> torch.Tensor:
    from ganorama import geometry

    generator = torch.Generator().manual_seed(0)
    x, y, z = geometry.equirect_directions(height, 2 * height).unbind(-1)
    smooth = torch.stack((0.5 + 0.3 * x * z, 0.5 + 0.25 * y, 0.5 + 0.3 * torch.sin(3 * z + x)))
    return (smooth + 0.05 * torch.randn(smooth.shape, generator=generator)).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--height", type=int, default=1000)
    add_run_arguments(parser, "benchmarks/results/float_formats.json", repeats=3)
    args = parser.parse_args()
    device, _ = prepare_run(args)
    from ganorama.engines import engine_preset
    from ganorama.export.float_images import save_float_image
    from ganorama.export.io import save_image
    from ganorama.export.skybox import save_skybox

    image = panorama(args.height)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        counter = iter(range(10**6))

        def case(name: str, write) -> None:
            paths = []
            seconds = time_call(lambda: paths.append(write(Path(folder) / f"{next(counter)}")), device,
                                repeats=args.repeats, warmup=0)  # fmt: skip
            last = paths[-1]
            files = [p for p in (last.values() if isinstance(last, dict) else [last])]
            size = sum(p.stat().st_size for p in files)
            rows.append({"case": name, "seconds": seconds, "MiB": size / 2**20,
                         "bytes/pixel": size / image[0].numel()})  # fmt: skip

        for fmt in ("png", "jpg", "png16", "exr", "hdr"):
            case(fmt, lambda stem, fmt=fmt: save_image(image, stem.with_suffix("." + fmt), fmt))
        case("exr half", lambda stem: save_float_image(image, stem.with_suffix(".exr"), "exr", half=True))
        for engine in ("unity", "godot", "sansar"):
            case(f"skybox {engine}", lambda stem, engine=engine: save_skybox(image, stem, engine_preset(engine)))
    print(f"{2 * args.height} x {args.height} panorama, median of {args.repeats}")
    print_table(rows, ["case", "seconds", "MiB", "bytes/pixel"])
    write_json(args.json, {"environment": environment(device), "height": args.height, "rows": rows})


if __name__ == "__main__":
    main()
