"""visionzoo.utils.memory: glibc's malloc thresholds raised once per process (in a child, so the suite is untouched)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHILD = """
import ctypes, visionzoo.utils.memory as m
print(m.keep_freed_memory(), m.keep_freed_memory())
"""


def _run(env_extra: dict[str, str]) -> str:
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120,
                          check=True).stdout.split()


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_keep_freed_memory_tunes_glibc_once_and_can_be_switched_off():
    assert _run({}) == ["True", "True"]
    assert _run({"VISIONZOO_MALLOC_TUNING": "0"}) == ["False", "False"]
