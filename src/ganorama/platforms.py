"""Where 360 photos are shared, and the sizes each platform takes: one line of warning
when a panorama with 360 metadata is too large for one of them. Torch-free.

Both read the GPano XMP our PNG and JPEG panoramas carry (``ProjectionType
equirectangular``) and want a full 2:1 equirect, which ours always are; what can break
is the size.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SharingLimit:
    platform: str
    max_side: int | None  # the longest side it takes, pixels
    max_pixels: int | None  # width x height it takes
    source: str


SHARING_LIMITS = (
    # Facebook Help Center, "360 photos": less than 30,000 pixels in any dimension and less
    # than 135,000,000 pixels in total.
    SharingLimit("Facebook", 29_999, 134_999_999, "https://www.facebook.com/help/828417127257368"),
    # Google Photos Help, "File types & sizes you can upload": photos up to 200 MB and 150 MP.
    SharingLimit("Google Photos", None, 150_000_000, "https://support.google.com/photos/answer/6193313"),
)


def broken_limits(width: int, height: int) -> list[str]:
    """What a ``width`` x ``height`` panorama breaks, one phrase per platform."""
    broken = []
    for limit in SHARING_LIMITS:
        reasons = []
        if limit.max_side is not None and max(width, height) > limit.max_side:
            reasons.append(f"sides under {limit.max_side + 1:,} px")
        if limit.max_pixels is not None and width * height > limit.max_pixels:
            reasons.append(f"at most {(limit.max_pixels + 1) / 1e6:g} MP")
        if reasons:
            broken.append(f"{limit.platform} ({' and '.join(reasons)})")
    return broken


def sharing_warning(width: int, height: int) -> str | None:
    """One line saying which platforms will not show a ``width`` x ``height`` 360 photo,
    or None when all of them take it."""
    broken = broken_limits(width, height)
    if not broken:
        return None
    megapixels = width * height / 1e6
    return (f"note: a {width}x{height} panorama ({megapixels:.3g} MP) is too large to share as a 360 photo on "
            f"{', '.join(broken)}; a smaller --panorama_width fits")  # fmt: skip
