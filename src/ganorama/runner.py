"""Running a canvas's views through the generator in bounded memory.

A canvas needs all of its views together only where their features are synced. So the
runner keeps the batch as chunks of at most ``max_views`` views and runs every block chunk
by chunk; after a synced block it gathers the chunks, applies the canvas's sync operator
once to the whole batch, and splits again. After the last synced block each chunk goes
straight through the remaining (high-resolution, memory-hungry) blocks to its images
before the next chunk starts. Peak memory is then the synced features of all views plus
the activations of one chunk, whatever the number of views.

BigGAN-deep's batch norms use stored statistics and its attention is per image, so a
chunked run computes what one big batch computes; in float a different batch size rounds
differently in the last bits, so the chunk size is part of a result's recipe (recorded in
its sidecar) and never depends on the moment's free memory.

With one chunk the runner performs exactly the operations of the model's own forward with
:func:`ganorama.pipeline.sync_hooks` attached.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ganorama.errors import GanoramaError

# (steps done, steps in all) after every block of every chunk.
StepCallback = Callable[[int, int], None]


class NonFiniteOutputError(GanoramaError):
    """The generator produced inf or NaN: nothing is written."""


@dataclass(frozen=True)
class Schedule:
    """Which blocks are synced (``start <= i < end``) and how many views run at once."""

    start_layer: int
    end_layer: int
    max_views: int

    @property
    def last_synced(self) -> int:
        """Index of the last synced block, -1 when nothing is synced."""
        return self.end_layer - 1 if self.end_layer > self.start_layer else -1

    def is_synced(self, index: int) -> bool:
        return self.start_layer <= index < self.end_layer

    def chunks(self, batch: int) -> list[slice]:
        return [slice(first, min(first + self.max_views, batch)) for first in range(0, batch, self.max_views)]

    def steps(self, batch: int, num_blocks: int) -> int:
        return num_blocks * len(self.chunks(batch))


def run_views(
    model,
    sync_operator: Callable[[int, int, torch.device], Callable[[torch.Tensor], torch.Tensor]],
    z: torch.Tensor,
    class_vectors: torch.Tensor,
    truncation: float,
    schedule: Schedule,
    on_step: Optional[StepCallback] = None,
) -> torch.Tensor:
    """Generate B views: z (B, z_dim) and class_vectors (B, num_classes), on the model's
    device and dtype, -> images (B, 3, S, S) float32 in [0, 1].

    ``sync_operator(h, w, device)`` returns the canvas's operator for (B, C, h, w) features
    (B a multiple of the canvas's views). Raises :class:`NonFiniteOutputError` naming the
    first block whose output is not finite."""
    generator = model.generator
    num_blocks = len(generator.layers)
    chunks = schedule.chunks(z.shape[0])
    total_steps = schedule.steps(z.shape[0], num_blocks)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_step is not None:
            on_step(done, total_steps)

    condition = model.condition(z, class_vectors)
    _check_finite(condition, "the input (noise and class vectors)", condition.dtype)
    features = [generator.stem(condition[chunk]) for chunk in chunks]
    # Up to the last synced block: every chunk advances one block at a time.
    for index in range(schedule.last_synced + 1):
        features = [generator.run_block(index, x, condition[chunk], truncation) for x, chunk in zip(features, chunks)]
        if schedule.is_synced(index):
            gathered = torch.cat(features) if len(features) > 1 else features[0]
            height, width = gathered.shape[-2:]
            gathered = sync_operator(height, width, gathered.device)(gathered)
            features = list(gathered.split(schedule.max_views))
        for x in features:
            _check_finite(x, _block_name(generator, index), x.dtype)
            step()
    # After it: each chunk runs to its images before the next one starts.
    images = []
    for position, chunk in enumerate(chunks):
        x = features[position]
        features[position] = None  # let the chunk's synced features go once used
        for index in range(schedule.last_synced + 1, num_blocks):
            x = generator.run_block(index, x, condition[chunk], truncation)
            _check_finite(x, _block_name(generator, index), x.dtype)
            step()
        output = generator.head(x, truncation)
        _check_finite(output, "the output layer", output.dtype)
        images.append((output.float() + 1) / 2)  # tanh range -> [0, 1], keeping the dark half
    return torch.cat(images) if len(images) > 1 else images[0]


def _block_name(generator, index: int) -> str:
    return f"block {index} ({type(generator.layers[index]).__name__})"


def _check_finite(x: torch.Tensor, where: str, dtype: torch.dtype) -> None:
    if not bool(torch.isfinite(x).all()):
        name = str(dtype).removeprefix("torch.")
        hint = " (try --model_dtype float32)" if dtype != torch.float32 else ""
        raise NonFiniteOutputError(
            f"the generator produced non-finite values (inf or NaN) first at {where}, in {name}{hint}; "
            "the checkpoint's statistics or the --z_mul/--class_mul scale overflow; nothing was written"
        )
