"""Latent walks: keyframes, the frame count and timing, and where each frame lies between
two keyframes. Plain data and arithmetic, checked here once, torch-free (the CLI checks
an animation before torch is imported); the generator does the interpolation itself
(:func:`ganorama.latents.slerp` for noise, a straight blend for class vectors).

A walk through K keyframes has K - 1 segments, or K with ``loop`` (the last keyframe
walks back to the first). Frame k of N sits at ``k / N`` of the looped path (so frame N
would be frame 0 again and the video loops without a repeated frame) or at
``k / (N - 1)`` of the open one (its last frame is the last keyframe). Within a
segment the fraction goes through the ``easing``.

A walk made in pieces (``ganorama batch``'s animate rows) is cut into ranges of frames
(:func:`frame_ranges`, :func:`default_frames_per_task`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

from ganorama import checks
from ganorama.checks import check_fps
from ganorama.errors import UsageError

# A 10-minute 360 video at 60 fps; more is a job for a cluster, not one command.
MAX_FRAMES = 36000
EASINGS = ("linear", "smooth", "cosine")
# The panorama request fields every frame of an animation shares (its classes and seeds
# are the keyframes'): what ganorama animate and the web app's Animate tab take.
FRAME_FIELDS = ("truncation", "z_mul", "class_mul", "no_share_z", "share_class", "start_layer", "end_layer",
                "panorama_width", "panorama_height", "layout", "max_views", "memory_budget")
# An animation's frame size when none is given: a panorama's default (2000x1000) makes a
# long render of every frame; 1024x512 is what 360 players stream at low quality.
FRAME_SIZE_DEFAULTS = {"panorama_width": 1024, "panorama_height": 512}
# A walk's own fields, as a job row (and the web app) name them: the keyframes (N, or a
# list of keyframe objects), the length and timing, the loop and the easing.
WALK_FIELDS = ("keyframes", "frames", "seconds", "fps", "loop", "easing")


def ease(easing: str, fraction: float) -> float:
    """``fraction`` in [0, 1] through ``easing``: linear; smooth (smoothstep, zero speed at
    each keyframe); cosine (half a cosine, also zero speed at each keyframe)."""
    if easing == "linear":
        return fraction
    if easing == "smooth":
        return fraction * fraction * (3 - 2 * fraction)
    if easing == "cosine":
        return 0.5 - 0.5 * math.cos(math.pi * fraction)
    raise UsageError(f"easing {easing!r} is unknown; allowed: {', '.join(EASINGS)}")


def frame_count(frames: Any = None, seconds: Any = None, fps: Any = 24.0, label: Callable[[str], str] = str) -> int:
    """The number of frames: ``frames``, or ``seconds`` x ``fps`` rounded (one of the two)."""
    if frames is not None and seconds is not None:
        raise UsageError(f"give {label('frames')} or {label('seconds')}, not both")
    if frames is None:
        if seconds is None:
            raise UsageError(f"give the length as {label('frames')} N or {label('seconds')} S")
        seconds = checks.number(seconds, label("seconds"), lambda value: value > 0, "more than 0")
        frames = max(1, round(seconds * check_fps(fps, label("fps"))))
        if frames > MAX_FRAMES:
            raise UsageError(f"{label('seconds')} {seconds:g} at {label('fps')} {fps:g} is {frames} frames; allowed: "
                             f"at most {MAX_FRAMES}")
    return checks.integer(frames, label("frames"), 2, MAX_FRAMES)


@dataclass(frozen=True)
class Keyframe:
    """One stop of the walk: its class spec (None: random classes from the seed), seed,
    and optionally its own noise multiplier and truncation (None: the request's)."""

    classes: Any
    seed: int
    z_mul: float | None = None
    truncation: float | None = None

    def __post_init__(self):
        if self.z_mul is not None:
            object.__setattr__(self, "z_mul", checks.check_multiplier(self.z_mul, "keyframe z_mul"))
        if self.truncation is not None:
            object.__setattr__(self, "truncation", checks.check_truncation(self.truncation, "keyframe truncation"))

    def to_dict(self) -> dict:
        """Its fields, without the ones it leaves to the request."""
        return {name: value for name, value in asdict(self).items() if value is not None or name == "classes"}


@dataclass(frozen=True)
class Walk:
    """A checked walk: the keyframes, ``frames`` frames at ``fps``, closed with ``loop``."""

    keyframes: tuple[Keyframe, ...]
    frames: int
    fps: float = 24.0
    loop: bool = False
    easing: str = "smooth"

    def __post_init__(self):
        object.__setattr__(self, "keyframes", tuple(self.keyframes))
        checks.integer(self.frames, "frames", 2, MAX_FRAMES)
        check_fps(self.fps)
        checks.boolean(self.loop, "loop")
        checks.choice(self.easing, "easing", EASINGS)
        if len(self.keyframes) < 2:
            walks_back = " (with --loop a single keyframe would only walk back to itself)" if self.loop else ""
            raise UsageError(f"an animation needs 2 or more keyframes to walk between, got {len(self.keyframes)}"
                             f"{walks_back}; give several --class_names \"a|b\" or --keyframes N (seeds S, S+1, ...)")

    @property
    def segments(self) -> int:
        return len(self.keyframes) if self.loop else len(self.keyframes) - 1

    def position(self, frame: int) -> tuple[int, int, float]:
        """Frame ``frame`` as (keyframe a, keyframe b, eased fraction from a to b)."""
        if not 0 <= frame < self.frames:
            raise UsageError(f"frame {frame} is outside 0 to {self.frames - 1}")
        along = frame / self.frames if self.loop else frame / (self.frames - 1)
        scaled = along * self.segments
        start = min(int(scaled), self.segments - 1)
        fraction = scaled - start
        return start, (start + 1) % len(self.keyframes), ease(self.easing, fraction)

    def truncation_at(self, frame: int, default: float) -> float:
        """Frame ``frame``'s truncation: its keyframes' (``default`` for one that leaves it
        to the request) blended by the eased fraction, rounded to 6 places so that frames
        between keyframes of one truncation share it exactly (and one forward)."""
        start, end, fraction = self.position(frame)
        first = self.keyframes[start].truncation or default
        second = self.keyframes[end].truncation or default
        return round((1 - fraction) * first + fraction * second, 6)

    def to_dict(self) -> dict:
        return {"keyframes": [keyframe.to_dict() for keyframe in self.keyframes], "frames": self.frames,
                "fps": self.fps, "loop": self.loop, "easing": self.easing}  # fmt: skip

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Walk":
        if not isinstance(values, Mapping) or not isinstance(values.get("keyframes"), list):
            raise UsageError("a walk must be an object with a list of keyframes")
        keyframes = tuple(keyframe_from_dict(item, f"keyframe {index}") for index, item in enumerate(values["keyframes"]))
        return cls(keyframes, values.get("frames"), values.get("fps", 24.0), values.get("loop", False),
                   values.get("easing", "smooth"))  # fmt: skip


KEYFRAME_FIELDS = ("classes", "seed", "z_mul", "truncation")
MAX_KEYFRAMES = 1000
# A keyframes file is a list of a few small objects; a bigger one is not one (nor read).
MAX_KEYFRAMES_BYTES = 2**20


def keyframe_from_dict(item: Any, label: str, default_seed: int | None = None) -> Keyframe:
    """A keyframe from its JSON object (``KEYFRAME_FIELDS``; ``seed`` may be left out when
    ``default_seed`` is given), every field checked, UsageError naming ``label``."""
    if not isinstance(item, Mapping):
        raise UsageError(f"{label} must be an object with {', '.join(KEYFRAME_FIELDS)}, got {item!r:.60}")
    unknown = sorted(set(item) - set(KEYFRAME_FIELDS))
    if unknown:
        raise UsageError(f"{label} has unknown field {unknown[0]!r:.60}; allowed: {', '.join(KEYFRAME_FIELDS)}")
    seed = item.get("seed", default_seed)
    if seed is None:
        raise UsageError(f"{label} needs a seed")
    classes = item.get("classes")
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, (str, int, dict))):
        raise UsageError(f"{label} classes {classes!r:.60} must be a class name or id, a mix like "
                         "\"0.7*sandbar+0.3*valley\", or left out for random classes")  # fmt: skip
    return Keyframe(classes, checks.integer(seed, f"{label} seed", 0, checks.MAX_SEED),
                    z_mul=None if item.get("z_mul") is None else checks.check_multiplier(item["z_mul"],
                                                                                          f"{label} z_mul"),
                    truncation=None if item.get("truncation") is None else checks.check_truncation(
                        item["truncation"], f"{label} truncation"))  # fmt: skip


def read_keyframes(path: str, seed: int, label: str = "--keyframes") -> tuple[Keyframe, ...]:
    """The keyframes in the JSON file at ``path``: a list of objects (or ``{"keyframes":
    [...]}``, as a video's sidecar holds them) with classes, seed, z_mul and truncation;
    a keyframe without a seed gets ``seed + its index``. Size-capped, depth-bounded,
    every field checked: UsageError naming the file and the field."""
    import os

    what = f"{label} file {path}"
    try:
        if os.path.getsize(path) > MAX_KEYFRAMES_BYTES:
            raise UsageError(f"{what} is larger than {MAX_KEYFRAMES_BYTES // 2**20} MiB; a keyframes file is a list "
                             "of a few small objects")  # fmt: skip
        with open(path, "rb") as file:
            data = checks.parse_json(file.read().decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what} does not exist; give a JSON file of keyframes or a number of keyframes") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{what} cannot be read ({error.__class__.__name__})") from None
    except ValueError as error:
        raise UsageError(f"{what} is not valid JSON ({error})") from None
    if isinstance(data, Mapping) and "keyframes" in data:
        data = data["keyframes"]
    if not isinstance(data, list) or not data:
        raise UsageError(f"{what} must be a list of keyframes (objects with {', '.join(KEYFRAME_FIELDS)})")
    if len(data) > MAX_KEYFRAMES:
        raise UsageError(f"{what} has {len(data):,} keyframes; allowed: at most {MAX_KEYFRAMES}")
    return tuple(keyframe_from_dict(item, f"{what} keyframe {index}", default_seed=seed + index)
                 for index, item in enumerate(data))  # fmt: skip


def keyframes_from(class_names: str | None, seed: int, count: int | None = None) -> tuple[Keyframe, ...]:
    """The command line's keyframes: one per ``class_names`` name ("a|b|c"), or ``count``
    of them cycling through the names; keyframe k has seed ``seed + k``."""
    names = [name.strip() for name in class_names.split("|")] if class_names else [None]
    count = len(names) if count is None else checks.integer(count, "--keyframes", 1, MAX_KEYFRAMES)
    return tuple(Keyframe(names[index % len(names)], seed + index) for index in range(count))


def walk_from_fields(values: Mapping[str, Any], label: Callable[[str], str] = str) -> Walk:
    """The walk a job row (or a form) describes with :data:`WALK_FIELDS` plus ``classes``
    and ``seed``: one keyframe per ``classes`` name ("a|b|c") with seeds seed, seed+1, ...
    (or ``keyframes`` N of them, cycling through the names), or ``keyframes`` as a list of
    keyframe objects (a keyframe without a seed gets seed + its index). The seed is
    required: such a walk is made in pieces and resumed, so it must be the same walk each
    time. The same checks and messages as ``ganorama animate``'s flags."""
    seed, keyframes, classes = values.get("seed"), values.get("keyframes"), values.get("classes")
    if seed is not None:
        seed = checks.integer(seed, label("seed"), 0, checks.MAX_SEED)
    if isinstance(keyframes, list):
        if classes is not None:
            raise UsageError(f"give {label('classes')} or a {label('keyframes')} list (its keyframes have their "
                             "classes), not both")  # fmt: skip
        if not 1 <= len(keyframes) <= MAX_KEYFRAMES:
            raise UsageError(f"{label('keyframes')} has {len(keyframes):,} keyframes; allowed: 1 to {MAX_KEYFRAMES}")
        stops = tuple(keyframe_from_dict(item, f"keyframe {index}", None if seed is None else seed + index)
                      for index, item in enumerate(keyframes))  # fmt: skip
    else:
        if seed is None:
            raise UsageError(f"an animation needs a {label('seed')} (keyframe k gets seed + k): its frames are made "
                             "in pieces and resumed, so a random seed would walk elsewhere each time")  # fmt: skip
        if keyframes is not None:
            keyframes = checks.integer(keyframes, label("keyframes"), 1, MAX_KEYFRAMES)
        if classes is not None and (isinstance(classes, bool) or not isinstance(classes, (str, int))):
            raise UsageError(f"{label('classes')} {classes!r:.60} must be class names (or ids) with | between "
                             "keyframes, e.g. \"valley|sandbar\"; give a keyframes list for mixes of their own")  # fmt: skip
        stops = keyframes_from(None if classes is None else str(classes), seed, keyframes)
    fps = check_fps(values.get("fps", 24.0), label("fps"))  # 24 and 24.0 record alike
    frames = frame_count(values.get("frames"), values.get("seconds"), fps, label)
    return Walk(stops, frames, fps, values.get("loop", False), values.get("easing", "smooth"))


# Ranges each worker gets by default: enough that a slow or lost worker's share is taken
# up by the others, few enough that each task's model and plan set-up is small beside it.
RANGES_PER_WORKER = 4
# The longest default range (frames): a long 4K video still spreads over a big cluster.
MAX_DEFAULT_FRAMES_PER_TASK = 120


def default_frames_per_task(frames: int, workers: int) -> int:
    """Frames per task for a video of ``frames`` frames on ``workers`` workers: each worker
    gets about :data:`RANGES_PER_WORKER` ranges, none longer than 120 frames."""
    return max(1, min(MAX_DEFAULT_FRAMES_PER_TASK, math.ceil(frames / (max(1, workers) * RANGES_PER_WORKER))))


def frame_ranges(indices: Sequence[int], per_task: int) -> list[range]:
    """The frame ranges that make exactly ``indices`` (sorted frame numbers, e.g. a video's
    missing frames): each run of consecutive frames cut into ranges of at most ``per_task``."""
    ranges: list[range] = []
    start = previous = None
    for index in indices:
        if start is not None and index == previous + 1 and index - start < per_task:
            previous = index
            continue
        if start is not None:
            ranges.append(range(start, previous + 1))
        start = previous = index
    if start is not None:
        ranges.append(range(start, previous + 1))
    return ranges
