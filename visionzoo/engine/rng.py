"""Capture, restore and isolate the global random streams (python, numpy, torch CPU and CUDA).

Exact resume stores these streams in each checkpoint and puts them back before the next training step;
`preserved_rng` keeps work that is not training (validation, building a DataLoader iterator) from
advancing them, so where validation runs never changes what training draws.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng_state", "restore_rng_state", "preserved_rng", "sample_seed", "SeededTransform"]


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states as plain data (tuples, ints, tensors) that `torch.load(weights_only=True)` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what `capture_rng_state` returned (CUDA states only where this process has the same devices)."""
    random.setstate(_as_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _as_tuples(value: Any) -> Any:
    """random.setstate needs tuples; a round trip through some serialisers turns them into lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without advancing any global random stream (they are restored on exit)."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    """A 32-bit augmentation seed for draw `position` of `epoch`: a pure function, so workers and resumes agree."""
    return int(np.random.SeedSequence([int(seed) % 2**63, int(epoch), int(position)]).generate_state(1)[0])


class SeededTransform:
    """Calls a pipeline (MONAI, albumentations), re-seeding it first when `next_seed` is set (then clears it).

    Deliberately has no ``set_random_state``, so `BratsDataset` does not re-seed it per DataLoader worker.
    """

    def __init__(self, pipeline: Callable[[dict], Any]) -> None:
        self.pipeline = pipeline
        self.next_seed: int | None = None

    def __call__(self, *data: Any) -> Any:
        if self.next_seed is not None and hasattr(self.pipeline, "set_random_state"):
            self.pipeline.set_random_state(seed=self.next_seed)
        self.next_seed = None
        return self.pipeline(*data)
