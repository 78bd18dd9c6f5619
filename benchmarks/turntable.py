"""Turntable speed and memory: seconds per frame and peak RSS, flat and displaced globes.

Each case renders a whole turn of ``--frames`` frames of a synthetic 2000 x 1000
panorama (the panorama command's default size) at ``--size`` and writes it as a GIF,
end to end through the public API, in a fresh child process so that its peak RSS
(VmHWM) is its own. "rss before MiB" is the child's RSS after importing torch
and making the panorama, before rendering; "peak RSS MiB" its high-water mark; "growth
MiB" the difference, which the renderer's own estimate ("estimate MiB", used to refuse
sizes that cannot fit) must not undercut.

    python benchmarks/turntable.py                     # size 256, 6 frames, displace 0 and 0.1
    python benchmarks/turntable.py --frames 36 --repeats 1
    python benchmarks/turntable.py --threads 1          # torch.set_num_threads(1) first

To compare with another version of the code, run this script with that version first on
PYTHONPATH (e.g. a ``git archive`` of an older commit): it uses whichever API is there.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import (REPO, add_run_arguments, environment, peak_rss_bytes, prepare_run, print_table, rss_bytes,
                     write_json)

DISPLACEMENTS = (0.0, 0.1)


def synthetic_panorama(height: int, width: int) -> torch.Tensor:
    """(3, height, width) smooth colourful noise in [0, 1], the same on every run."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, 16, 32, generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    fine = 0.15 * torch.rand(1, 3, height, width, generator=generator)
    return (smooth + fine).clamp(0, 1)[0]


def turntable_module():
    from ganorama.export import turntable

    return turntable


def current_rss_mib() -> float:
    return rss_bytes() / 2**20


def write_gif(panorama: torch.Tensor, path: Path, frames: int, size: int, displace: float, device) -> None:
    """The whole export through the public API of whichever version is installed."""
    from ganorama.export import turntable

    if hasattr(turntable, "write_turntable"):  # streaming API
        turntable.write_turntable(panorama, path, frames=frames, size=size, displace=displace, device=device,
                                  progress=False)  # fmt: skip
    else:  # the original list API
        images = turntable.render_turntable(panorama, frames=frames, size=size, displace=displace, device=device,
                                            progress=False)  # fmt: skip
        turntable.save_turntable(images, path)


def child(args) -> None:
    """One case in this process; prints one JSON line."""
    device, malloc_tuned = prepare_run(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    height, width = args.panorama_height, 2 * args.panorama_height
    panorama = synthetic_panorama(height, width)
    rss_before = current_rss_mib()
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            path = Path(folder) / f"spin{repeat}.gif"
            start = time.perf_counter()
            write_gif(panorama, path, args.frames, args.size, args.displace, device)
            seconds.append(time.perf_counter() - start)
    peak_kib = peak_rss_bytes() / 1024
    module = turntable_module()
    estimate = None
    if hasattr(module, "turntable_memory_bytes"):  # the renderer's own estimate, checked here
        estimate = module.turntable_memory_bytes(args.size, 2, height, width) / 2**20
    print(json.dumps({
        "displace": args.displace,
        "size": args.size,
        "frames": args.frames,
        "panorama": f"{width}x{height}",
        "s/frame": statistics.median(seconds) / args.frames,
        "turn s": statistics.median(seconds),
        "ganorama": str(Path(turntable_module().__file__).parent.parent),
        "rss before MiB": rss_before,
        "peak RSS MiB": peak_kib / 1024,
        "growth MiB": peak_kib / 1024 - rss_before,
        "estimate MiB": estimate,
        "threads": torch.get_num_threads(),
        "malloc tuned": malloc_tuned,
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="frame size (the CLI's default is 256)")
    parser.add_argument("--frames", type=int, default=6, help="frames in the turn that is timed")
    parser.add_argument("--panorama-height", type=int, default=1000, help="synthetic panorama height (width = 2x)")
    parser.add_argument("--displace", type=float, default=None, help=argparse.SUPPRESS)  # child processes only
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the children (0: torch's default)")
    parser.add_argument("--label", default="", help="a note stored in the JSON, e.g. 'before' or 'after'")
    add_run_arguments(parser, "benchmarks/results/turntable.json", repeats=1)
    args = parser.parse_args()
    if args.displace is not None:
        child(args)
        return

    rows = []
    for displace in DISPLACEMENTS:
        command = [sys.executable, __file__, "--displace", str(displace), "--size", str(args.size),
                   "--frames", str(args.frames), "--panorama-height", str(args.panorama_height),
                   "--repeats", str(args.repeats), "--device", args.device, "--threads", str(args.threads)]  # fmt: skip
        if args.no_malloc_tuning:
            command.append("--no-malloc-tuning")
        result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(f"displace {displace}: {rows[-1]['s/frame']:.3f} s/frame", file=sys.stderr)
    columns = ["displace", "size", "frames", "panorama", "threads", "s/frame", "turn s", "rss before MiB",
               "peak RSS MiB", "growth MiB", "estimate MiB"]
    print_table(rows, columns)
    device = torch.device(args.device)
    write_json(args.json, {"label": args.label, "environment": environment(device), "rows": rows,
                           "note": "s/frame = median whole-turn time (render + GIF) / frames"})  # fmt: skip


if __name__ == "__main__":
    main()
