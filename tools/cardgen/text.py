"""Text helpers of the cards: sizes, rates, metrics and markdown tables, so every table formats numbers alike."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def size_text(spatial: Iterable[int]) -> str:
    """``(224, 224)`` -> ``224²``, ``(96, 96, 96)`` -> ``96³``, else ``128×64×64``."""
    dims = list(spatial)
    if len(set(dims)) == 1 and len(dims) in (2, 3):
        return f"{dims[0]}{'²' if len(dims) == 2 else '³'}"
    return "×".join(map(str, dims))


def input_text(input_size: Iterable[int]) -> str:
    """``(3, 224, 224)`` -> ``3×224²`` (channels × spatial size)."""
    chans, *spatial = list(input_size)
    return f"{chans}×{size_text(spatial)}"


def num(value: float) -> str:
    """A measured rate with three significant figures, never in scientific notation."""
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def metric_text(metrics: dict[str, float]) -> str:
    """``{"top1": 75.5}`` -> ``top1 75.5``; an em dash when there are none."""
    return ", ".join(f"{k} {v:g}" for k, v in metrics.items()) if metrics else "—"


def _cell(text: Any) -> str:
    """Text safe inside one markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table of `rows` under `header`, each cell escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
