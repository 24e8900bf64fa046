"""Convert an official checkpoint into a visionzoo .safetensors file (strict, with provenance metadata).

A thin wrapper over `visionzoo.cli.convert` (the same as ``visionzoo convert ...``); ``--help`` shows the options.
"""
import sys

from visionzoo.cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
