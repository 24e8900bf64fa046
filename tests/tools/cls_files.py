"""A tiny ImageFolder for the classification tool tests: coloured shapes that a small net separates in a few steps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("blue_square", "green_disc", "red_bar")


def _draw(cls: int, rng: np.random.Generator, size: int) -> np.ndarray:
    img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    c = size // 2 + rng.integers(-3, 4, 2)
    if cls == 0:
        mask = (abs(yy - c[0]) < size // 4) & (abs(xx - c[1]) < size // 4)
    elif cls == 1:
        mask = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 < (size // 4) ** 2
    else:
        mask = abs(yy - c[0]) < size // 8
    img[mask] = np.roll(np.array([40, 40, 220], dtype=np.uint8), -cls)  # blue, green, red
    return img


def make_image_folder(root: Path, n_train: int = 6, n_val: int = 3, size: int = 40, seed: int = 0) -> Path:
    """root/{train,val}/<class>/<i>.png for `CLASSES`; returns `root`."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.fromarray(_draw(k, rng, size)).save(folder / f"{i}.png")
    return root
