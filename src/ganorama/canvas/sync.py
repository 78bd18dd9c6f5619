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

import torch
import torch.nn.functional as F


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
        samples_per_target = torch.bincount(target, minlength=size).to(torch.float64)
        divisor = 1.0 + samples_per_target
        taps = source.shape[1]
        rows = torch.cat((torch.arange(size), target.repeat_interleave(taps)))
        columns = torch.cat((torch.arange(size), source.reshape(-1)))
        values = torch.cat((torch.ones(size, dtype=torch.float64), tap_weight.reshape(-1).to(torch.float64)))
        values = values / divisor[rows]
        keep = values != 0
        # Coalescing sorts the entries by row and sums the taps that read one feature twice.
        matrix = torch.sparse_coo_tensor(
            torch.stack((rows[keep], columns[keep])), values[keep].float(), (size, size), check_invariants=True
        ).coalesce()
        row_of, column_of = matrix.indices()
        offsets = torch.zeros(size + 1, dtype=torch.int64)
        offsets[1:] = torch.bincount(row_of, minlength=size).cumsum(0)
        return cls(offsets.to(device), column_of.to(device), matrix.values().to(device), num_views, height, width)

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
