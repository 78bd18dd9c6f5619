"""The sync operator: every feature becomes the mean of the features that land on the
same canvas point in all views.

It is linear in the features and fixed for a given (canvas, h, w, device), so it is
built once as a sparse (V*h*w) x (V*h*w) matrix and applied to a whole batch with one
sparse product. Sphere and plane canvases differ only in the samples they feed to
:meth:`SyncOperator.from_samples`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SyncOperator:
    """``operator(features)`` maps (B, C, h, w) to the same shape, B a multiple of ``num_views``
    (several canvases of ``num_views`` consecutive views each)."""

    matrix: torch.Tensor  # sparse CSR, (V*h*w, V*h*w), float32
    num_views: int
    height: int
    width: int

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
        matrix = torch.sparse_coo_tensor(
            torch.stack((rows[keep], columns[keep])), values[keep].float(), (size, size), check_invariants=True
        ).coalesce()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            csr = matrix.to_sparse_csr().to(device)
        return cls(csr, num_views, height, width)

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        if (height, width) != (self.height, self.width) or batch % self.num_views:
            raise ValueError(
                f"sync operator built for (k*{self.num_views}, C, {self.height}, {self.width}), "
                f"got {tuple(features.shape)}"
            )
        canvases = batch // self.num_views
        # (N*V, C, h, w) -> (V*h*w, N*C): one sparse product syncs every canvas and channel.
        stacked = (
            features.float()
            .view(canvases, self.num_views, channels, height * width)
            .permute(1, 3, 0, 2)
            .reshape(self.num_views * height * width, canvases * channels)
        )
        synced = torch.sparse.mm(self.matrix, stacked)
        synced = synced.view(self.num_views, height * width, canvases, channels).permute(2, 0, 3, 1)
        return synced.reshape(batch, channels, height, width).to(features.dtype)
