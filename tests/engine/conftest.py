"""Fixtures of the engine tests: a tiny synthetic BraTS set and the tiny test config pointed at it."""
from __future__ import annotations

from pathlib import Path

import pytest

from visionzoo.data import write_synthetic_brats

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "tests" / "tools" / "configs" / "tiny_swin_unetr_brats.py"


@pytest.fixture(scope="session")
def tiny_brats(tmp_path_factory) -> Path:
    """5 synthetic BraTS 2021 cases of 40 x 40 x 32 voxels with a 5-fold brats21_folds.json."""
    root = tmp_path_factory.mktemp("tiny_brats")
    write_synthetic_brats(root, n_cases=5, size=40, depth=32, seed=0, n_folds=5)
    return root
