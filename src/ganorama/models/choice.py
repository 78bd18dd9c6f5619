"""Which model a run uses: a published name and/or a checkpoint, and what can be known
of its architecture before any weight is read (so every check that needs only the
architecture runs before the minutes a load can take)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganorama.errors import UsageError
from ganorama.models.config import CONFIG_NAME, DEFAULT_MODEL, BigGANConfig, identify_model
from ganorama.models.weights import KNOWN_MODELS, local_checkpoint_dir


@dataclass(frozen=True)
class ModelChoice:
    """``model``: a published name (None: the default, or what ``weights`` holds);
    ``weights``: a local checkpoint directory/file or ``hf:OWNER/REPO`` instead."""

    model: str | None = None
    weights: str | None = None

    @property
    def source(self) -> str:
        """What is loaded: the checkpoint if given, else the published model."""
        return (self.weights or self.model or DEFAULT_MODEL).strip()

    @property
    def name(self) -> str:
        """The published name to load when no checkpoint is given."""
        return self.model or DEFAULT_MODEL

    def known_config(self) -> BigGANConfig | None:
        """The architecture when it is known without loading weights (a published name or
        a local checkpoint's ``config.json``), else None (a Hub repo: known once loaded)."""
        source = self.source
        if source in KNOWN_MODELS:
            return BigGANConfig.preset(source)
        if source.startswith("hf:") or not Path(source).expanduser().exists():
            return None  # the loader gives the one-line error for a missing path
        return BigGANConfig.from_json_file(local_checkpoint_dir(source) / CONFIG_NAME)

    def check_matches(self, config: BigGANConfig | None) -> None:
        """A model named together with ``weights`` is the architecture the weights must
        have: UsageError if ``config`` (what the weights hold) is another."""
        if self.weights is None or self.model is None or config is None:
            return
        found = identify_model(config)
        if found != self.model:
            what = found or f"a custom architecture ({config.output_dim} px, channel width {config.channel_width})"
            raise UsageError(f"-m {self.model} does not match --weights {self.weights}, which holds "
                             f"{what}; leave out -m or give the matching model")
