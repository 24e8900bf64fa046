"""Pre-fill the weight cache (for air-gapped machines) and print where each file went.

A thin wrapper over `visionzoo.cli.download` (the same as ``visionzoo download ...``); ``--help`` shows the options.
"""
import sys

from visionzoo.cli.download import main

if __name__ == "__main__":
    sys.exit(main())
