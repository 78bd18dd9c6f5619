"""Running a canvas's views through the generator in bounded memory.

A canvas needs all of its views together only where their features are synced. So the
runner keeps the batch as chunks of at most ``max_views`` views; after a synced block it
gathers the chunks, applies the canvas's sync operator once to the whole batch, and
splits again. After the last synced block each chunk goes straight through the remaining
(high-resolution, memory-hungry) blocks to its images before the next chunk starts. Peak
memory is then the synced features of all views plus the activations of one chunk,
whatever the number of views.

Blocks whose activations for the whole batch take no more memory than one chunk's in the
largest block (``Schedule.whole_blocks``: the low-resolution ones, where weights are large
and activations small) run on the whole batch at once: in chunks they would read their
weights once per chunk for nothing.

BigGAN-deep's batch norms use stored statistics and its attention is per image, so a
chunked run computes what one big batch computes; in float a different batch size rounds
differently in the last bits, so the chunk size is part of a result's recipe (recorded in
its sidecar) and never depends on the moment's free memory.

With one chunk the runner performs exactly the operations of the model's own forward with
:func:`ganorama.pipeline.sync_hooks` attached.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

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
    whole_blocks: frozenset = frozenset()  # blocks run on the whole batch at once

    @classmethod
    def for_batch(cls, block_view_bytes: Sequence[int], batch: int, start_layer: int, end_layer: int,
                  max_views: int) -> "Schedule":  # fmt: skip
        """The schedule for ``batch`` views: the first blocks run on the whole batch as long
        as that takes no more memory than ``max_views`` views in the most memory-hungry
        block (``block_view_bytes``: each block's peak bytes for one view)."""
        budget = max_views * max(block_view_bytes)
        whole = set()
        for index, size in enumerate(block_view_bytes):
            if size * batch > budget:
                break  # a prefix: after it, all views' outputs alone could exceed the budget
            whole.add(index)
        return cls(start_layer, end_layer, max_views, frozenset(whole))

    @property
    def last_synced(self) -> int:
        """Index of the last synced block, -1 when nothing is synced."""
        return self.end_layer - 1 if self.end_layer > self.start_layer else -1

    @property
    def depth_first_from(self) -> int:
        """The first block from which each chunk runs on to its images alone: after the
        last synced block and the last whole-batch block."""
        return max(self.last_synced, max(self.whole_blocks, default=-1)) + 1

    def is_synced(self, index: int) -> bool:
        return self.start_layer <= index < self.end_layer

    def chunks(self, batch: int) -> list[slice]:
        return [slice(first, min(first + self.max_views, batch)) for first in range(0, batch, self.max_views)]

    def steps(self, batch: int, num_blocks: int) -> int:
        chunked = sum(1 for index in range(num_blocks) if index not in self.whole_blocks)
        return chunked * len(self.chunks(batch)) + (num_blocks - chunked)


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
    features = list(generator.stem(condition).split(schedule.max_views))
    # Up to the last synced (or whole-batch) block, all views advance one block at a time.
    for index in range(schedule.depth_first_from):
        if index in schedule.whole_blocks:
            output = generator.run_block(index, _gathered(features), condition, truncation)
            features = list(output.split(schedule.max_views))
            step()
        else:
            features = [generator.run_block(index, x, condition[chunk], truncation) for x, chunk in zip(features, chunks)]
            for _ in features:
                step()
        if schedule.is_synced(index):
            gathered = _gathered(features)
            height, width = gathered.shape[-2:]
            features = list(sync_operator(height, width, gathered.device)(gathered).split(schedule.max_views))
        for x in features:
            _check_finite(x, _block_name(generator, index), x.dtype)
    # After them: each chunk runs to its images before the next one starts.
    images = []
    for position, chunk in enumerate(chunks):
        x = features[position]
        features[position] = None  # let the chunk's synced features go once used
        for index in range(schedule.depth_first_from, num_blocks):
            x = generator.run_block(index, x, condition[chunk], truncation)
            _check_finite(x, _block_name(generator, index), x.dtype)
            step()
        output = generator.head(x, truncation)
        _check_finite(output, "the output layer", output.dtype)
        images.append((output.float() + 1) / 2)  # tanh range -> [0, 1], keeping the dark half
    return torch.cat(images) if len(images) > 1 else images[0]


def _gathered(chunks: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(chunks) if len(chunks) > 1 else chunks[0]


def _block_name(generator, index: int) -> str:
    return f"block {index} ({type(generator.layers[index]).__name__})"


def _check_finite(x: torch.Tensor, where: str, dtype: torch.dtype) -> None:
    # NaN propagates through min and max and an inf is one of them: one read of x, where
    # isfinite(x).all() writes a mask as large as x first (20x slower on a CPU). Read in
    # memory order: reducing channels-last features as (B, C, H, W) is 15x slower again.
    in_memory_order = x.permute(0, 2, 3, 1) if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) else x
    extremes = torch.stack(torch.aminmax(in_memory_order.reshape(-1)))
    if not bool(torch.isfinite(extremes).all()):
        name = str(dtype).removeprefix("torch.")
        hint = " (try --model_dtype float32)" if dtype != torch.float32 else ""
        raise NonFiniteOutputError(
            f"the generator produced non-finite values (inf or NaN) first at {where}, in {name}{hint}; "
            "the checkpoint's statistics or the --z_mul/--class_mul scale overflow; nothing was written"
        )
