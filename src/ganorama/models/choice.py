"""Which model a run uses: a published name and/or a checkpoint, and what can be known
of its architecture before any weight is read (so every check that needs only the
architecture runs before the minutes a load can take).

The weights can be set once for every command with ``GANORAMA_WEIGHTS`` (what
``--weights`` takes): it is used when ``--weights`` is not given and ``-m`` is either
not given or names the architecture those weights hold (``-m`` naming another model
then loads that model instead)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ganorama.errors import UsageError
from ganorama.models.config import CONFIG_NAME, DEFAULT_MODEL, BigGANConfig, identify_model
from ganorama.models.weights import KNOWN_MODELS, local_checkpoint_dir

WEIGHTS_VARIABLE = "GANORAMA_WEIGHTS"
WEIGHTS_FLAG = "--weights"


@dataclass(frozen=True)
class ModelChoice:
    """``model``: a published name (None: the default, or what ``weights`` holds);
    ``weights``: a local checkpoint directory/file or ``hf:OWNER/REPO`` instead;
    ``weights_from``: where ``weights`` was given (``--weights``, ``GANORAMA_WEIGHTS``,
    a sidecar), named in the messages about it."""

    model: str | None = None
    weights: str | None = None
    weights_from: str = WEIGHTS_FLAG

    @classmethod
    def from_options(cls, model: str | None, weights: str | None,
                     environ: Mapping[str, str] | None = None) -> "ModelChoice":  # fmt: skip
        """The choice ``-m`` and ``--weights`` make, ``GANORAMA_WEIGHTS`` (in ``environ``,
        default the process's environment) filling in ``--weights`` when it is not given."""
        if weights is not None:
            return cls(model, weights)
        from_environment = (os.environ if environ is None else environ).get(WEIGHTS_VARIABLE, "").strip()
        if not from_environment:
            return cls(model, None)
        choice = cls(model, from_environment, WEIGHTS_VARIABLE)
        if model is None:
            return choice
        # -m names a model: the variable's weights serve it only if they hold that architecture.
        config = cls(None, from_environment, WEIGHTS_VARIABLE).known_config()
        return choice if config is not None and identify_model(config) == model else cls(model, None)

    @property
    def source(self) -> str:
        """What is loaded: the checkpoint if given, else the published model."""
        return (self.weights or self.model or DEFAULT_MODEL).strip()

    @property
    def name(self) -> str:
        """The published name to load when no checkpoint is given."""
        return self.model or DEFAULT_MODEL

    def describe_weights(self) -> str:
        """How the messages name the weights: ``--weights DIR``, or where they came from."""
        if self.weights_from == WEIGHTS_FLAG:
            return f"{WEIGHTS_FLAG} {self.weights}"
        return f"weights {self.weights} (from {self.weights_from})"

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
            raise UsageError(f"-m {self.model} does not match {self.describe_weights()}, which holds "
                             f"{what}; leave out -m or give the matching model")
