"""Huge pages for torch's large CPU tensors, requested before torch is imported.

A 3D network's full-size activations are hundreds of MB each, and every one is a fresh mapping that the kernel
faults in 4 KiB at a time: in bf16 Swin UNETR inference on 2 cores, a quarter of the time went to those page
faults. Torch backs its allocations of 2 MiB and more with transparent huge pages when ``THP_MEM_ALLOC_ENABLE=1``
is in the environment at its first allocation, which only code that runs before ``import torch`` can arrange.
(The allocator's other settings are in `visionzoo.utils.memory`; this module must not import torch.)
"""
from __future__ import annotations

import os
import sys
from collections.abc import Container, MutableMapping

__all__ = ["HUGE_PAGES_ENV", "request_huge_pages"]

HUGE_PAGES_ENV = "THP_MEM_ALLOC_ENABLE"


def request_huge_pages(
    environ: MutableMapping[str, str] = os.environ, modules: Container[str] = sys.modules, platform: str = sys.platform
) -> bool:
    """Set ``THP_MEM_ALLOC_ENABLE=1`` on Linux when torch is not imported yet and the user has not chosen
    (``THP_MEM_ALLOC_ENABLE=0`` opts out); True when this call set it."""
    if not platform.startswith("linux") or "torch" in modules or HUGE_PAGES_ENV in environ:
        return False
    environ[HUGE_PAGES_ENV] = "1"
    return True
