"""Confusion-matrix PNG of an `Accuracy` evaluation: counts, row-normalised colours, class names on both axes."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write

__all__ = ["save_confusion_matrix_png"]


def save_confusion_matrix_png(confusion: np.ndarray, classes: Sequence[str], path: str | Path,
                              title: str = "confusion matrix") -> Path:
    """Draw `confusion` (rows: true class, columns: predicted) to `path`; written atomically.

    Colours are each row's fraction (recall per class), the numbers the raw counts; beyond 30 classes the
    numbers and tick labels are left out so the picture stays readable.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    n = confusion.shape[0]
    fractions = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    size = min(4 + 0.45 * n, 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), dpi=100)
    try:
        im = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
        if n <= 30:
            ticks = np.arange(n)
            ax.set_xticks(ticks, [str(c) for c in classes[:n]], rotation=45 if n > 10 else 0, ha="right" if n > 10 else "center")
            ax.set_yticks(ticks, [str(c) for c in classes[:n]])
            for i in range(n):
                for j in range(n):
                    if confusion[i, j]:
                        ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center", fontsize=8,
                                color="white" if fractions[i, j] > 0.5 else "black")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        acc = np.trace(confusion) / max(confusion.sum(), 1) * 100
        ax.set_title(f"{title}: {int(confusion.sum())} images, top-1 {acc:.2f}%")
        fig.tight_layout()
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return Path(path)
