"""``ganorama animate -o walk.mp4``: a 360 video of a latent walk through keyframes."""
from __future__ import annotations

import argparse
import sys
import time

from ganorama.cli.flags import add_field, add_model_arguments, add_run_arguments, add_sampling_arguments
from ganorama.cli.parsing import finite_float, positive_int, raise_usage

DESCRIPTION = """\
Make an equirectangular 360 video: every frame is a synced panorama, and the frames walk
through keyframes (one per --class_names name, seeds S, S+1, ...): the noise along great
circles, the classes blended. With --loop the walk closes, so the video loops without a
jump. Writes an H.264 MP4 with spherical metadata (V2 and V1, read by YouTube, VLC,
ffmpeg and headsets) frame by frame, and OUTPUT.json with what makes it again. With
--frames_dir the frames are also kept as numbered PNGs, and a killed render resumes
from them. Everything is checked before the model loads; an existing output is never
replaced.

examples:
  ganorama animate --class_names "valley|sandbar" --seed 3 --frames 8 --fps 8 --loop --panorama_width 256 --panorama_height 128 -o v.mp4
  ganorama animate --class_names "valley|sandbar|coral reef" --seed 3 --seconds 10 --fps 12 --loop --panorama_width 512 --panorama_height 256 -o loop10.mp4 --frames_dir loop10_frames
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ganorama.cli.parsing import add_subparser
    from ganorama.checks import MAX_FPS
    from ganorama.walks import EASINGS, FRAME_SIZE_DEFAULTS, MAX_FRAMES

    parser = add_subparser(subparsers, "animate", help="make a looping 360 video of a latent walk (MP4)",
                           description=DESCRIPTION)  # fmt: skip
    add_sampling_arguments(parser, per="keyframe")
    walk = parser.add_argument_group("walk and video")
    walk.add_argument("-o", "--output", required=True, metavar="FILE.mp4", help="the video to write (a new file)")
    walk.add_argument("--keyframes", default=None, metavar="N|FILE.json",
                      help="N keyframes to walk through (default: one per --class_names name; names cycle), or a "
                           "JSON list of keyframes, each with classes, seed, and optionally z_mul and truncation of "
                           "its own, e.g. [{\"classes\": \"valley\", \"seed\": 3, \"truncation\": 0.4}, ...] "
                           "(a keyframe without a seed gets --seed + its index)")  # fmt: skip
    walk.add_argument("--frames", type=positive_int, default=None, help=f"frames in all, 2 to {MAX_FRAMES}")
    walk.add_argument("--seconds", type=finite_float, default=None, help="length in seconds instead of --frames")
    walk.add_argument("--fps", type=finite_float, default=24.0, help=f"frames per second, 0 < fps <= {MAX_FPS:g}")
    walk.add_argument("--loop", action="store_true", help="walk back to the first keyframe: the video loops seamlessly")
    walk.add_argument("--easing", default="smooth", choices=EASINGS,
                      help="speed between keyframes: smooth and cosine slow down at each keyframe")  # fmt: skip
    walk.add_argument("--frames_dir", "--frames-dir", default=None, metavar="DIR",
                      help="also keep the frames as DIR/000000.png...; rerun the same command to resume a killed render")
    panorama = parser.add_argument_group("panorama (every frame)")
    add_field(panorama, "panorama_width", metavar="W|auto", default=FRAME_SIZE_DEFAULTS["panorama_width"])
    add_field(panorama, "panorama_height", metavar="H|auto", default=FRAME_SIZE_DEFAULTS["panorama_height"])
    add_field(panorama, "layout", metavar="full|seed16|cube|FILE.json", type=None)
    add_model_arguments(parser)
    add_run_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ganorama.request import Request, flag_label
    from ganorama.walks import Walk, frame_count

    frames = frame_count(args.frames, args.seconds, args.fps, flag_label)
    seed = args.seed if args.seed is not None else _fresh_seed()
    walk = Walk(_keyframes(args, seed), frames, args.fps, args.loop, args.easing)
    request = Request.from_dict(_request_fields(args, walk), flag_label)
    return render_video(args, walk, request)


def render_video(args: argparse.Namespace, walk, request) -> int:
    """Make ``walk``'s video on ``request``'s canvas as ``args.output`` with its sidecar
    (``args``: the model and run options, ``frames_dir``, ``batch``, ``quiet``), every
    check made before the model loads; ``ganorama reproduce`` of a video's sidecar too."""
    from ganorama.cli.generate import load_generator, model_arguments, planner_before_loading
    from ganorama.cli.interrupts import raise_if_interrupted
    from ganorama.cli.parsing import parse_batch
    from ganorama.cli.progress import Progress
    from ganorama.export.animation import encode_360_video
    from ganorama.export.frames import (FrameStore, animation_paths, check_video_size, frames_disk_bytes,
                                        video_disk_bytes, write_sidecar)  # fmt: skip
    from ganorama.request import flag_label
    from ganorama.resources import check_disk

    frames = walk.frames
    video, sidecar = animation_paths(args.output)
    for keyframe in walk.keyframes[1:]:  # every keyframe's class and seed, before the model loads
        request.replace(classes=keyframe.classes, seed=keyframe.seed)
    batch = parse_batch(args.batch)
    model_args = model_arguments(args)
    planner = planner_before_loading(model_args)
    plan = planner.preflight(request, batch, flag_label, frames) if planner is not None else None
    store = FrameStore(args.frames_dir, walk, request) if args.frames_dir else None
    if plan is not None:
        check_video_size(plan.width, plan.height)
        pixels = plan.width * plan.height
        check_disk(video_disk_bytes(frames, pixels), video, "the video")
        if store is not None:
            check_disk(frames_disk_bytes(store.missing_count(), pixels), store.directory, "the frames")
    to_make = store.missing_count() if store is not None else frames
    if plan is not None and not args.quiet and to_make:
        say_estimate(planner.seconds_estimate(plan, to_make), to_make, planner)
    generator = load_generator(model_args, planner)
    raise_if_interrupted()
    if plan is None or generator.planner is not planner:
        plan = generator.planner.preflight(request, batch, flag_label, frames)
        check_video_size(plan.width, plan.height)
    missing = store.missing() if store is not None else range(frames)
    if store is not None:
        store.prepare()
    with Progress(frames, quiet=args.quiet) as progress:
        for _ in range(frames - len(missing)):
            progress.result_done()

        forward_frames = plan.group_limit(batch)

        def made():
            first_forward_done = None
            for done, (index, result) in enumerate(generator.animate(plan, walk, missing, batch,
                                                                     on_progress=progress.update), start=1):
                progress.result_done()
                if done == 1:
                    first_forward_done = time.perf_counter()
                # The pace of the second forward: the first also built the sync operators.
                if done == forward_frames + 1 and len(missing) > done and not args.quiet:
                    pace = (time.perf_counter() - first_forward_done) / forward_frames
                    say_measured(pace, len(missing) - done, progress)
                yield index, result.to_pil()

        images = store.all_frames(made()) if store is not None else (image for _, image in made())
        encode_360_video(images, video, walk.fps)
    write_sidecar(sidecar, walk, plan, generator)
    if not args.quiet:
        print(video)
        print(sidecar)
    return 0


def say_estimate(seconds: float, frames: int, planner) -> None:
    """Before the model loads: about how long the frames will take here."""
    from ganorama.cli.progress import estimate_text

    said = estimate_text(seconds, f"for {frames} frame{'s' if frames != 1 else ''}", planner.device, planner.dtype)
    print(f"ganorama: {said} (estimated from the model's FLOPs and a quick matmul; measured once frames are made)",
          file=sys.stderr)  # fmt: skip


def say_measured(seconds_a_frame: float, left: int, progress) -> None:
    """Once a forward after the first is done: the rest at its measured pace."""
    from ganorama.cli.progress import duration_text

    progress.note(f"ganorama: measured {duration_text(seconds_a_frame)} a frame; about "
                  f"{duration_text(seconds_a_frame * left)} for the other {left}")


def _keyframes(args: argparse.Namespace, seed: int):
    """--keyframes N (with --class_names) or --keyframes FILE.json."""
    from ganorama.walks import keyframes_from, read_keyframes

    value = args.keyframes
    if value is None or value.strip().isdigit():
        return keyframes_from(args.class_names, seed, None if value is None else int(value.strip()))
    if args.class_names:
        raise_usage(f"give --class_names or --keyframes {value} (its keyframes have their classes), not both")
    return read_keyframes(value, seed)


def _fresh_seed() -> int:
    import secrets

    return secrets.randbelow(2**31 - 1)


def _request_fields(args: argparse.Namespace, walk) -> dict:
    """The panorama request every frame shares: the first keyframe's class and seed, and
    the flags that apply to each frame."""
    from ganorama.walks import FRAME_FIELDS

    values = {name: getattr(args, name) for name in FRAME_FIELDS}
    first = walk.keyframes[0]
    return {"kind": "panorama", "classes": first.classes, "seed": first.seed, **values}
