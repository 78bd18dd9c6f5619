"""Fixtures the command tests share."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image


@pytest.fixture
def panorama(tmp_path) -> Path:
    """A small 64 x 32 equirect PNG whose colour follows x and y (a test picture, not a result)."""
    path = tmp_path / "pano.png"
    image = Image.new("RGB", (64, 32))
    image.putdata([(x * 4, y * 8, 100) for y in range(32) for x in range(64)])
    image.save(path)
    return path
