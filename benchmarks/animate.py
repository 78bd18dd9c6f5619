"""360 video speed and memory: frames per second and peak RSS of ``Ganorama.animate``
encoded to a spherical MP4, end to end through the public API.

Each case runs in a fresh child process (so its peak RSS, VmHWM, is its own) on
a random-weight *test fixture* of the given architecture: "full" is the published
biggan-deep-N architecture at full width (its speed is the real model's), "small" the
same depth at width 8 (quick; for the memory cases). The walk loops through two
keyframes; the panorama is the views' own resolution (``auto``) unless ``--height`` is
given. "fps" = frames / wall time of the whole render and encode after the model is
loaded; "rss before MiB" is the child's RSS after loading, "growth MiB" the peak above
it, which must not grow with the number of frames (frames are streamed to the encoder).

    python benchmarks/animate.py                           # speed at 128 and 256 (full), memory 30 vs 300 (small)
    python benchmarks/animate.py --speed-frames 2 --memory-frames 10 40
    python benchmarks/animate.py --sizes 512 --device cuda --dtype float16 --skip-memory
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import (REPO, add_run_arguments, environment, peak_rss_bytes, prepare_run, print_table, rss_bytes,
                     write_json)


def current_rss_mib() -> float:
    return rss_bytes() / 2**20


def checkpoint(folder: Path, architecture: str, size: int) -> Path:
    from fixture_models import small_config, write_legacy_checkpoint
    from ganorama.models.config import BigGANConfig

    config = BigGANConfig.preset(f"biggan-deep-{size}") if architecture == "full" else small_config(8, size)
    return write_legacy_checkpoint(folder / f"{architecture}{size}", config, seed=1)


def child(args) -> None:
    """One case in this process; prints one JSON line."""
    from ganorama import Ganorama, Keyframe, Request, Walk
    from ganorama.export.animation import encode_360_video

    device, malloc_tuned = prepare_run(args)
    with tempfile.TemporaryDirectory() as folder:
        generator = Ganorama.from_pretrained(weights=args.weights, device=str(device), dtype=args.dtype)
        height = args.height or "auto"
        request = Request(panorama_width="auto" if height == "auto" else 2 * height, panorama_height=height,
                          max_views=args.max_views)  # fmt: skip
        walk = Walk((Keyframe("valley", 3), Keyframe("sandbar", 4)), frames=args.case_frames, fps=24, loop=True)
        rss_before = current_rss_mib()
        sizes = []

        def images():
            for _, result in generator.animate(request, walk, batch=args.batch):
                sizes.append(tuple(result.image.shape[-2:]))
                yield result.to_pil()

        start = time.perf_counter()
        encode_360_video(images(), Path(folder) / "walk.mp4", walk.fps)
        seconds = time.perf_counter() - start
        video_bytes = (Path(folder) / "walk.mp4").stat().st_size
    peak = peak_rss_bytes() / 2**20
    height_px, width_px = sizes[0]
    print(json.dumps({
        "model": f"{args.architecture} {generator.image_size}", "dtype": str(generator.dtype).removeprefix("torch."),
        "panorama": f"{width_px}x{height_px}", "frames": args.case_frames, "seconds": seconds,
        "fps": args.case_frames / seconds, "s/frame": seconds / args.case_frames, "video KiB": video_bytes / 1024,
        "rss before MiB": rss_before, "peak RSS MiB": peak, "growth MiB": peak - rss_before,
        "threads": torch.get_num_threads(), "malloc tuned": malloc_tuned,
    }))  # fmt: skip


def run_case(args, folder: Path, architecture: str, size: int, frames: int) -> dict:
    """One case in a child process, on a checkpoint written here (so writing it is not in
    the child's peak memory)."""
    weights = folder / f"{architecture}{size}"
    if not weights.exists():
        checkpoint(folder, architecture, size)
    command = [sys.executable, __file__, "--case-frames", str(frames), "--architecture", architecture,
               "--weights", str(weights), "--device", args.device, "--dtype", args.dtype, "--batch", str(args.batch),
               "--max-views", str(args.max_views)]  # fmt: skip
    if args.height:
        command += ["--height", str(args.height)]
    if args.no_malloc_tuning:
        command.append("--no-malloc-tuning")
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{row['model']} {row['frames']} frames: {row['fps']:.3f} frames/s, peak {row['peak RSS MiB']:.0f} MiB",
          file=sys.stderr)  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="model sizes timed (full width)")
    parser.add_argument("--speed-frames", type=int, default=3, help="frames of each speed case")
    parser.add_argument("--memory-frames", type=int, nargs=2, default=[30, 300], help="frames of the two memory cases")
    parser.add_argument("--memory-size", type=int, default=128, help="model size of the memory cases (small width)")
    parser.add_argument("--skip-memory", action="store_true", help="only the speed cases")
    parser.add_argument("--height", type=int, default=0, help="panorama height (0: auto, the views' own resolution)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--batch", default="1", help="frames per forward (K or auto)")
    parser.add_argument("--max-views", type=int, default=18, help="views per chunk (18: the full layout at once)")
    parser.add_argument("--case-frames", type=int, default=0, help=argparse.SUPPRESS)  # child processes only
    parser.add_argument("--architecture", default="full", help=argparse.SUPPRESS)
    parser.add_argument("--weights", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help="a note stored in the JSON")
    add_run_arguments(parser, "benchmarks/results/animate.json", repeats=1)
    args = parser.parse_args()
    if args.batch != "auto":
        args.batch = int(args.batch)
    if args.case_frames:
        child(args)
        return
    with tempfile.TemporaryDirectory() as folder:
        rows = [run_case(args, Path(folder), "full", size, args.speed_frames) for size in args.sizes]
        if not args.skip_memory:
            rows += [run_case(args, Path(folder), "small", args.memory_size, frames) for frames in args.memory_frames]
    columns = ["model", "dtype", "panorama", "frames", "fps", "s/frame", "video KiB", "rss before MiB", "peak RSS MiB",
               "growth MiB"]  # fmt: skip
    print_table(rows, columns)
    write_json(args.json, {"label": args.label, "environment": environment(torch.device(args.device)), "rows": rows,
                           "note": "fps = frames / (render + encode) wall time after loading; random-weight "
                                   "fixtures of the published architectures"})  # fmt: skip


if __name__ == "__main__":
    main()
