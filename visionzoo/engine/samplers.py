"""`ResumableSampler`: a seeded, rank-sharded shuffling sampler that can start mid-epoch and seeds augmentation.

Like mmengine's ``DefaultSampler`` (permutation seeded by seed + epoch, padded to a multiple of the
world size, rank ``r`` takes every ``world_size``-th index), but it yields ``(index, augmentation_seed)``
keys for `BratsSegDataset`, and `set_start` skips the draws of the current epoch that a resumed run has
already trained on, without loading them.
"""
from __future__ import annotations

from collections.abc import Iterator, Sized

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from .registry import DATA_SAMPLERS
from .rng import sample_seed

__all__ = ["ResumableSampler"]


@DATA_SAMPLERS.register_module()
class ResumableSampler(Sampler):
    """Yields ``(dataset_index, augmentation_seed)`` for this rank; see the module docstring."""

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None, round_up: bool = True) -> None:
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.round_up = round_up
        self.epoch = 0
        self._start = 0
        n = len(dataset)
        self.num_samples = -(-n // self.world_size) if round_up else -(-(n - self.rank) // self.world_size)
        self.total_size = self.num_samples * self.world_size if round_up else n

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose permutation (and augmentation seeds) the next iteration yields."""
        self.epoch = int(epoch)

    def set_start(self, n: int) -> None:
        """Skip this rank's first `n` draws in the next iteration only (a resumed, partly trained epoch)."""
        if not 0 <= n <= self.num_samples:
            raise ValueError(f"cannot start at draw {n}: this rank has {self.num_samples} draws per epoch.")
        self._start = int(n)

    def _indices(self) -> list[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        if self.round_up and self.total_size > n:
            order = (order * -(-self.total_size // n))[: self.total_size]
        return order

    def __iter__(self) -> Iterator[tuple[int, int]]:
        start, self._start = self._start, 0
        order = self._indices()
        positions = range(self.rank, len(order), self.world_size)
        for k, pos in enumerate(positions):
            if k >= start:
                yield order[pos], sample_seed(self.seed, self.epoch, pos)

    def __len__(self) -> int:
        return self.num_samples
