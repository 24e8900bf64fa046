"""Benchmark a visionzoo model (optionally against timm): params, GMACs, throughput, latency, peak memory.

A thin wrapper over `visionzoo.cli.benchmark` (the same as ``visionzoo benchmark ...``); ``--help`` shows the options.
"""
import sys

from visionzoo.cli.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
