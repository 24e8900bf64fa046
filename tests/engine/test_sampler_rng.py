"""ResumableSampler (order, sharding, mid-epoch start, augmentation seeds) and the RNG capture/restore helpers."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from visionzoo.engine import ResumableSampler, capture_rng_state, preserved_rng, restore_rng_state
from visionzoo.engine import samplers as samplers_module
from visionzoo.engine.checkpoint import load_checkpoint_file
from visionzoo.engine.rng import sample_seed


def test_order_is_a_seeded_permutation_per_epoch():
    s = ResumableSampler(range(7), shuffle=True, seed=3)
    first = list(s)
    assert sorted(i for i, _ in first) == list(range(7)) and list(s) == first
    s.set_epoch(1)
    assert [i for i, _ in s] != [i for i, _ in first]
    assert len({seed for _, seed in first}) == 7, "every draw gets its own augmentation seed"


def test_set_start_skips_exactly_the_trained_draws_once():
    s = ResumableSampler(range(6), seed=0)
    s.set_epoch(2)
    full = list(s)
    s.set_start(4)
    assert list(s) == full[4:]
    assert list(s) == full, "the skip applies to one pass only"
    with pytest.raises(ValueError, match="draws per epoch"):
        s.set_start(7)


def test_ranks_share_out_one_padded_permutation(monkeypatch):
    per_rank = []
    for rank in (0, 1):
        monkeypatch.setattr(samplers_module, "get_dist_info", lambda r=rank: (r, 2))
        s = ResumableSampler(range(5), seed=1)
        per_rank.append(list(s))
        assert len(s) == 3
    indices = [i for draws in per_rank for i, _ in draws]
    assert len(indices) == 6 and set(indices) == set(range(5))
    monkeypatch.setattr(samplers_module, "get_dist_info", lambda: (0, 1))
    single = list(ResumableSampler(range(5), seed=1))
    assert per_rank[0][0] == single[0], "rank 0 takes positions 0, 2, 4 of the same permutation"


def test_sample_seed_is_a_pure_function():
    assert sample_seed(0, 1, 2) == sample_seed(0, 1, 2)
    assert len({sample_seed(0, e, p) for e in range(3) for p in range(3)}) == 9


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    torch.save({"rng": capture_rng_state()}, tmp_path / "rng.pth")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_checkpoint_file(tmp_path / "rng.pth")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_preserved_rng_hides_draws_inside_the_block():
    torch.manual_seed(0)
    with preserved_rng():
        torch.rand(5), np.random.rand(3), random.random()
    after = torch.rand(1).item()
    torch.manual_seed(0)
    assert torch.rand(1).item() == after
