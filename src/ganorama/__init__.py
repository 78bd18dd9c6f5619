"""Ganorama: zero-shot 360° panoramas, sphere textures and large images from pre-trained GANs."""

__version__ = "0.1.0"

from ganorama.errors import GanoramaError, UsageError  # noqa: E402
from ganorama.models.biggan import BigGAN, BigGANConfig  # noqa: E402
from ganorama.pipeline import Ganorama, Result, Sampling  # noqa: E402

__all__ = ["BigGAN", "BigGANConfig", "Ganorama", "GanoramaError", "Result", "Sampling", "UsageError", "__version__"]
