"""Train a model from a config (mmengine Runner): checkpoints, logs, TensorBoard and the resolved config go to the work dir.

A thin wrapper over `visionzoo.cli.train` (the same as ``visionzoo train ...``); ``--help`` shows the options.
"""
import sys

from visionzoo.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
