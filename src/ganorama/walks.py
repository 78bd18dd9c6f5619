"""Latent walks: keyframes, the frame count and timing, and where each frame lies between
two keyframes. Plain data and arithmetic, checked here once, torch-free (the CLI checks
an animation before torch is imported); the generator does the interpolation itself
(:func:`ganorama.latents.slerp` for noise, a straight blend for class vectors).

A walk through K keyframes has K - 1 segments, or K with ``loop`` (the last keyframe
walks back to the first). Frame k of N sits at ``k / N`` of the looped path (so frame N
would be frame 0 again and the video loops without a repeated frame) or at
``k / (N - 1)`` of the open one (its last frame is the last keyframe). Within a
segment the fraction goes through the ``easing``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

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
    """One stop of the walk: its class spec (None: random classes from the seed) and seed."""

    classes: Any
    seed: int


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

    def to_dict(self) -> dict:
        return {"keyframes": [asdict(keyframe) for keyframe in self.keyframes], "frames": self.frames,
                "fps": self.fps, "loop": self.loop, "easing": self.easing}  # fmt: skip

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Walk":
        if not isinstance(values, Mapping) or not isinstance(values.get("keyframes"), list):
            raise UsageError("a walk must be an object with a list of keyframes")
        keyframes = []
        for index, item in enumerate(values["keyframes"]):
            if not isinstance(item, Mapping) or set(item) - {"classes", "seed"}:
                raise UsageError(f"keyframe {index} must be an object with classes and seed")
            keyframes.append(Keyframe(item.get("classes"), checks.integer(item.get("seed"), f"keyframe {index} seed",
                                                                          0, None)))  # fmt: skip
        return cls(tuple(keyframes), values.get("frames"), values.get("fps", 24.0), values.get("loop", False),
                   values.get("easing", "smooth"))  # fmt: skip


def keyframes_from(class_names: str | None, seed: int, count: int | None = None) -> tuple[Keyframe, ...]:
    """The command line's keyframes: one per ``class_names`` name ("a|b|c"), or ``count``
    of them cycling through the names; keyframe k has seed ``seed + k``."""
    names = [name.strip() for name in class_names.split("|")] if class_names else [None]
    count = len(names) if count is None else checks.integer(count, "--keyframes", 1, 1000)
    return tuple(Keyframe(names[index % len(names)], seed + index) for index in range(count))
