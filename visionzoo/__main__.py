"""``python -m visionzoo COMMAND ...``: the ``visionzoo`` command (`visionzoo.cli.main`)."""
import sys

from visionzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
