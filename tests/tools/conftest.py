"""Fixtures of the tool tests: run tools/*.py in subprocesses (1 torch thread each) and share one training run.

The uninterrupted tiny training run is computed once per test session and shared by the pytest-xdist
workers through a file lock, since the end-to-end, resume and test-tool tests all need it.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.tool_modules import load_tool  # noqa: F401  (re-exported for the tool tests)

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / "tests" / "tools" / "configs" / "tiny_swin_unetr_brats.py"


def tool_env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore")
    env.pop("LOCAL_WORLD_SIZE", None)
    return env


def run_tool(args: list[str], timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` from the repository root; on failure (with `check`) show the output's tail."""
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def write_config(path: Path, lines: list[str]) -> Path:
    """A config that inherits the tiny test config and adds `lines`."""
    path.write_text("\n".join([f"_base_ = [{str(TINY_CONFIG)!r}]", *lines]) + "\n")
    return path


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "visionzoo_tool_runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def once(root: Path, name: str, make: Callable[[Path], None]) -> Path:
    """``make(root/name)`` the first time any worker asks for `name`; later callers wait for it and reuse it."""
    out = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / ".done").exists():
            out.mkdir(parents=True, exist_ok=True)
            make(out)
            (out / ".done").touch()
    return out


def _train_uninterrupted(out: Path) -> None:
    proc = run_tool(["tools/train.py", str(TINY_CONFIG), "--work-dir", str(out / "work")])
    (out / "stdout.txt").write_text(proc.stdout + proc.stderr)


def trained_run_dir(shared_root: Path) -> Path:
    """Work dir of the tiny config trained for 2 epochs x 4 iterations (synthetic data generated in it)."""
    return once(shared_root, "uninterrupted", _train_uninterrupted) / "work"


@pytest.fixture(scope="session")
def trained_run(shared_root) -> Path:
    """`trained_run_dir` as a fixture."""
    return trained_run_dir(shared_root)


TINY_CLS_CONFIG = REPO / "tests" / "tools" / "configs" / "tiny_cls.py"


def _train_cls(out: Path) -> None:
    from tests.tools.cls_files import make_image_folder

    make_image_folder(out / "data")
    proc = run_tool(["tools/train.py", str(TINY_CLS_CONFIG), "--work-dir", str(out / "work"),
                     "--cfg-options", f"data_root={out / 'data'}"])
    (out / "stdout.txt").write_text(proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def trained_cls_run(shared_root) -> Path:
    """Folder with ``data`` (a 3-class ImageFolder, `tests.tools.cls_files`) and ``work``: the tiny classification
    config trained on it for 2 epochs (EMA on), shared by the workers."""
    return once(shared_root, "classification", _train_cls)
