"""Export a visionzoo model (by name or from a config) to ONNX and verify it with onnxruntime.

A thin wrapper over `visionzoo.cli.export` (the same as ``visionzoo export ...``); ``--help`` shows the options.
"""
import sys

from visionzoo.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
