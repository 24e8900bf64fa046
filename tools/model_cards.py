"""Generate the model cards (model_cards/<card>.md) from hand-written templates, the registry and measured numbers.

A thin wrapper over the package ``tools/cardgen`` (usage in `cardgen.cli`); ``--help`` shows the options:
``--check`` compares the committed cards with a fresh render, ``--measure [PATTERN ...]`` times models on this CPU.
"""
import sys
from pathlib import Path

_TOOLS = str(Path(__file__).resolve().parent)  # cardgen lives next to this file, also when it is imported by path
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from cardgen.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
