"""Ganorama: zero-shot 360° panoramas, sphere textures and large images from pre-trained GANs.

The public names are imported on first use, so ``import ganorama`` (and the command
line's ``--help``) does not pay for importing torch.
"""

__version__ = "0.1.0"

_PUBLIC = {
    "BigGAN": "ganorama.models.biggan",
    "BigGANConfig": "ganorama.models.config",
    "Ganorama": "ganorama.pipeline",
    "GanoramaError": "ganorama.errors",
    "Keyframe": "ganorama.walks",
    "Request": "ganorama.request",
    "Result": "ganorama.result",
    "Sampling": "ganorama.request",
    "UsageError": "ganorama.errors",
    "Walk": "ganorama.walks",
}

__all__ = [*sorted(_PUBLIC), "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'ganorama' has no attribute {name!r}")


def __dir__():
    return __all__
