"""Run a trained (or named) model on new images or BraTS cases with its config's own preprocessing.

A thin wrapper over `visionzoo.cli.infer` (the same as ``visionzoo infer ...``); ``--help`` shows the options.
"""
import sys

from visionzoo.cli.infer import main

if __name__ == "__main__":
    sys.exit(main())
