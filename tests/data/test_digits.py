"""The digits ImageFolder: scikit-learn's real 8x8 digits written as PNGs, stratified, idempotent; the tool's errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionzoo.data import ImageFolderDataset, write_digits_folder
from tests.tool_modules import load_tool
from visionzoo.data.digits import DIGITS_MARKER

pytest.importorskip("sklearn")

REPO = Path(__file__).resolve().parents[2]


def _run_tool(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "tools/make_digits_folder.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("digits") / "digits"
    return out, write_digits_folder(out, size=16, val_fraction=0.2, seed=0)


def test_writes_stratified_imagefolder(digits_dir):
    from sklearn.datasets import load_digits

    out, info = digits_dir
    assert info["written"] is True and info["classes"] == 10
    assert info["train"] + info["val"] == 1797 and info["val"] == 360  # ceil(0.2 * 1797)
    assert not list(out.parent.glob(f".{out.name}.tmp-*")), "no temporary folder may remain"
    train, val = ImageFolderDataset(out, "train"), ImageFolderDataset(out, "val")
    assert train.classes == val.classes == tuple(str(k) for k in range(10))
    assert len(train) == info["train"] and len(val) == info["val"]
    # stratified: every class keeps its share of the whole set in val (within one image)
    totals = np.bincount(load_digits().target, minlength=10)
    val_counts = np.bincount(val.targets, minlength=10)
    assert np.abs(val_counts - 0.2 * totals).max() <= 1
    assert {k: int(v) for k, v in enumerate(val_counts)} == {int(k): v for k, v in info["val_per_class"].items()}
    # train and val are disjoint and cover all 1,797 images (file name = index in scikit-learn's array)
    ids = [int(Path(p).stem) for p, _ in train.samples + val.samples]
    assert sorted(ids) == list(range(1797))


def test_images_are_upsampled_real_digits(digits_dir):
    from sklearn.datasets import load_digits

    out, _ = digits_dir
    digits = load_digits()
    i = int(sorted((out / "train" / "0").glob("*.png"))[0].stem)
    assert digits.target[i] == 0
    png = Image.open(out / "train" / "0" / f"{i}.png")
    assert png.mode == "L" and png.size == (16, 16)
    a = np.asarray(png).astype(float)
    assert a.max() >= 200 and a.min() <= 10  # 0..16 scaled to 0..255
    # downsampled back to 8x8 it matches the original scan
    small = np.asarray(png.resize((8, 8), Image.Resampling.BOX)).astype(float)
    assert np.abs(small - digits.images[i] * 255 / 16).mean() < 25


def test_idempotent_and_guarded(digits_dir, tmp_path):
    out, info = digits_dir
    marker = out / DIGITS_MARKER
    before = (marker.stat().st_mtime_ns, (out / "val" / "3").stat().st_mtime_ns)
    again = write_digits_folder(out, size=16, val_fraction=0.2, seed=0)
    assert again["written"] is False and again["train"] == info["train"] and again["val_per_class"] == info["val_per_class"]
    assert (marker.stat().st_mtime_ns, (out / "val" / "3").stat().st_mtime_ns) == before
    assert json.loads(marker.read_text())["params"] == {"size": 16, "val_fraction": 0.2, "seed": 0}
    with pytest.raises(ValueError, match="size': 16"):  # other parameters: never silently mixed
        write_digits_folder(out, size=32)
    half = tmp_path / "half"
    (half / "train" / "0").mkdir(parents=True)  # an interrupted or foreign folder has no marker
    with pytest.raises(FileExistsError, match="not a finished digits folder"):
        write_digits_folder(half)
    for bad in (dict(size=0), dict(val_fraction=1.5), dict(val_fraction=0.0), dict(seed=-1)):
        with pytest.raises(ValueError):
            write_digits_folder(tmp_path / "x", **bad)
    assert not (tmp_path / "x").exists()


def test_tool_writes_folder_and_rerun_leaves_it(tmp_path, capsys):
    out = tmp_path / "d"
    proc = _run_tool(str(out), "--size", "12", "--val-fraction", "0.25", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out}: 1347 train + 450 val images, 10 classes, 12px")
    info = json.loads((out / DIGITS_MARKER).read_text())
    assert info["params"] == {"size": 12, "val_fraction": 0.25, "seed": 3}  # the arguments reach the library
    counts = info["counts"]
    assert counts["train"] + counts["val"] == 1797 and counts["val"] == 450  # ceil(0.25 * 1797)
    assert sorted(p.name for p in (out / "val").iterdir()) == [str(k) for k in range(10)]
    assert sum(len(list((out / s / str(k)).glob("*.png"))) for s in ("train", "val") for k in range(10)) == 1797
    assert Image.open(next((out / "train" / "7").glob("*.png"))).size == (12, 12)
    # a rerun (in-process: the library import is what makes the subprocess slow) reports and rewrites nothing
    before = sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*"))
    assert load_tool("make_digits_folder").main([str(out), "--size", "12", "--val-fraction", "0.25", "--seed", "3"]) == 0
    assert capsys.readouterr().out.startswith(f"already complete, left as it is: {out}: {counts['train']} train")
    assert sorted((p, p.stat().st_mtime_ns) for p in out.rglob("*")) == before


@pytest.mark.parametrize("args, needle", [
    (["--size", "0"], "--size"),
    (["--val-fraction", "1.5"], "--val-fraction"),
    (["--size", "abc"], "--size"),
    (["FILE"], "is a file"),
    ([], "required"),
])
def test_tool_bad_input_exits_2_with_one_line(tmp_path, args, needle):
    a_file = tmp_path / "existing.txt"
    a_file.write_text("x")
    args = [str(a_file) if a == "FILE" else a for a in args]
    if args[:1] != [str(a_file)] and args:
        args = [str(tmp_path / "out"), *args]
    proc = _run_tool(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
