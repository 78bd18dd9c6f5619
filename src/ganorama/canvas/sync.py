"""The sync operator: every feature becomes the mean of the features that land on the
same canvas point in all views.

It is linear in the features and fixed for a given (canvas, h, w, device), so it is
built once as the rows of a sparse (V*h*w) x (V*h*w) matrix (CSR: which features each one
averages, with what weight) and applied to a whole batch as one weighted gather
(``embedding_bag``) over the features in channels-last order, the model's own layout: no
transposed copy, no zero-filled product, and half-precision features are read as they
are and summed in float32. Sphere and plane canvases differ only in the samples they feed
to :meth:`SyncOperator.from_samples`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Tuple

import torch
import torch.nn.functional as F

# (first, stop, target (K,), source (K, T), tap_weight (K, T)): the samples of the features
# first <= target < stop.
SampleBlock = Tuple[int, int, torch.Tensor, torch.Tensor, torch.Tensor]
# Bytes of the kept CSR matrix per entry (float32 value, int64 column) and per row (int64 offset).
_BYTES_PER_ENTRY, _BYTES_PER_ROW = 12, 8
# Bytes per entry alive while one block's rows are built: int64 rows and columns, float64
# values and their copies while sorting and summing (measured about 90 on a CPU).
_BUILD_BYTES_PER_ENTRY = 100


def operator_bytes(rows: int, entries_per_row: float, block_rows: int) -> tuple[int, int]:
    """Memory of one sync operator of ``rows`` rows with about ``entries_per_row`` entries
    each, built ``block_rows`` rows at a time: (bytes kept, bytes alive only while building:
    one block's working copies and the joining of the blocks)."""
    entries = rows * entries_per_row
    kept = int(entries * _BYTES_PER_ENTRY + rows * _BYTES_PER_ROW)
    building = int(block_rows * entries_per_row * _BUILD_BYTES_PER_ENTRY + entries * _BYTES_PER_ENTRY)
    return kept, building


def operators_bytes(sizes: Iterable[tuple[int, int]]) -> int:
    """Peak memory of a canvas's cached operators, from (kept, building) per operator: all
    kept at once, one built at a time."""
    sizes = list(sizes)
    return sum(kept for kept, _ in sizes) + max((building for _, building in sizes), default=0)


@dataclass(frozen=True)
class SyncOperator:
    """``operator(features)`` maps (B, C, h, w) to the same shape, B a multiple of ``num_views``
    (several canvases of ``num_views`` consecutive views each)."""

    offsets: torch.Tensor  # (V*h*w + 1,) int64: row t's entries are offsets[t]:offsets[t + 1]
    columns: torch.Tensor  # (nnz,) int64: the flat feature each entry reads
    weights: torch.Tensor  # (nnz,) float32: its weight; a row's weights sum to 1
    num_views: int
    height: int
    width: int
    # Per (number of canvases, dtype): the entries for a batch of that many canvases.
    _batched: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_samples(
        cls,
        num_views: int,
        height: int,
        width: int,
        target: torch.Tensor,
        source: torch.Tensor,
        tap_weight: torch.Tensor,
        device=None,
    ) -> "SyncOperator":
        """Build from samples of other views.

        target (K,): flat index ``view * h * w + row * w + column`` of the feature being
        replaced; source (K, T) and tap_weight (K, T): the T taps (e.g. 4 for bilinear,
        weights summing to 1) that make up one sample of another view at that canvas point.
        Each feature becomes (itself + sum of its samples) / (1 + number of samples).
        """
        size = num_views * height * width
        return cls.from_sample_blocks(num_views, height, width, [(0, size, target, source, tap_weight)], device)

    @classmethod
    def from_sample_blocks(cls, num_views: int, height: int, width: int, blocks: Iterable[SampleBlock],
                           device=None) -> "SyncOperator":  # fmt: skip
        """Build from samples given block by block, each block ``(first, stop, target,
        source, tap_weight)`` holding the samples (as in :meth:`from_samples`) of the targets
        ``first <= target < stop``, the blocks in order and together covering every feature.
        A lazy iterable of blocks (a view's samples each) keeps the build's memory near the
        operator's own: only one block's samples and working copies are alive at once."""
        size = num_views * height * width
        row_counts, columns, values = [], [], []
        expected_first = 0
        for first, stop, target, source, tap_weight in blocks:
            if first != expected_first or stop <= first:
                raise ValueError(f"sample block [{first}, {stop}) does not follow row {expected_first}")
            expected_first = stop
            counts, block_columns, block_values = _csr_rows(first, stop, size, target, source, tap_weight)
            row_counts.append(counts)
            columns.append(block_columns)
            values.append(block_values)
        if expected_first != size:
            raise ValueError(f"sample blocks cover rows [0, {expected_first}) of {size}")
        offsets = torch.cat((torch.zeros(1, dtype=torch.int64), torch.cat(row_counts).cumsum(0)))
        return cls(offsets.to(device), torch.cat(columns).to(device), torch.cat(values).to(device), num_views, height,
                   width)  # fmt: skip

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        if (height, width) != (self.height, self.width) or batch % self.num_views:
            raise ValueError(
                f"sync operator built for (k*{self.num_views}, C, {self.height}, {self.width}), "
                f"got {tuple(features.shape)}"
            )
        offsets, columns, weights = self._entries(batch // self.num_views, features.dtype)
        # (N*V, C, h, w) -> (N*V*h*w, C): a view of channels-last features, a copy otherwise.
        table = features.permute(0, 2, 3, 1).reshape(-1, channels)
        synced = F.embedding_bag(columns, table, offsets, mode="sum", per_sample_weights=weights,
                                 include_last_offset=True)  # fmt: skip
        return synced.view(batch, height, width, channels).permute(0, 3, 1, 2)

    def _entries(self, canvases: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The operator's entries repeated for ``canvases`` canvases, block by block, with
        weights in ``dtype`` (the gather's table and weights share a dtype); cached."""
        key = (canvases, dtype)
        if key not in self._batched:
            size, entries = self.offsets.numel() - 1, self.columns.numel()
            shift = torch.arange(canvases, device=self.columns.device)
            columns = (self.columns[None, :] + shift[:, None] * size).reshape(-1)
            offsets = torch.cat(((self.offsets[None, :-1] + shift[:, None] * entries).reshape(-1),
                                 self.offsets[-1:] * canvases))  # fmt: skip
            self._batched[key] = (offsets, columns, self.weights.to(dtype).repeat(canvases))
        return self._batched[key]


def _csr_rows(first: int, stop: int, size: int, target: torch.Tensor, source: torch.Tensor,
              tap_weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Rows ``first..stop`` of the sync matrix in CSR order: entries per row (stop - first,),
    their columns (int64) and values (float32), sorted by row then column, equal entries
    summed. Each row is (itself + its samples) / (1 + number of samples), in float64."""
    rows_here = stop - first
    local = target - first
    divisor = 1.0 + torch.bincount(local, minlength=rows_here).to(torch.float64)
    taps = source.shape[1]
    rows = torch.cat((torch.arange(rows_here), local.repeat_interleave(taps)))
    columns = torch.cat((torch.arange(first, stop), source.reshape(-1)))
    values = torch.cat((torch.ones(rows_here, dtype=torch.float64), tap_weight.reshape(-1).to(torch.float64)))
    values = values / divisor[rows]
    keep = values != 0
    keys, order = torch.sort(rows[keep] * size + columns[keep])
    keys, inverse = torch.unique_consecutive(keys, return_inverse=True)
    summed = torch.zeros(len(keys), dtype=torch.float64).index_add_(0, inverse, values[keep][order])
    rows_sorted = torch.div(keys, size, rounding_mode="floor")
    return torch.bincount(rows_sorted, minlength=rows_here), keys % size, summed.float()
