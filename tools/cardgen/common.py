"""Paths, the user-error type and path display shared by every module of the card generator."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CARDS_DIR = REPO / "model_cards"
TEMPLATES_DIR = CARDS_DIR / "_templates"
MEASUREMENTS = CARDS_DIR / "measurements.json"
CONFIGS_DIR = REPO / "configs"


class CardError(Exception):
    """A problem with templates, configs or measurements that the user must fix; the message says how."""


def rel(path: Path) -> str:
    """`path` relative to the repository when it is inside it (for messages and generated text)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)
