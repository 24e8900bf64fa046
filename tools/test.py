"""Evaluate a checkpoint on a config's test split: prints and saves the metrics table (Dice/HD95, COCO AP or top-1/top-5).

A thin wrapper over `visionzoo.cli.test` (the same as ``visionzoo test ...``); ``--help`` shows the options.
"""
import sys

from visionzoo.cli.test import main

if __name__ == "__main__":
    sys.exit(main())
