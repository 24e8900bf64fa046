"""Bad input, table-driven: every tool answers a user error with one ``error: ...`` line and exit code 2, no
traceback, and leaves nothing half-written; the API raises one clear exception naming the problem and the fix.

The tool cases run in-process (``main(argv)`` of the script in tools/, the same function ``visionzoo <command>``
calls), so the table stays fast; `test_process_level_errors_have_no_traceback` runs a few as real processes.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import visionzoo as vz
from tests.tool_modules import load_tool

from .cls_files import make_image_folder
from .conftest import REPO, TINY_CONFIG, tool_env

TINY_CLS = REPO / "tests" / "tools" / "configs" / "tiny_cls.py"


class _Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The bad (and some good) inputs the table refers to by name."""
    d = tmp_path_factory.mktemp("bad_inputs")
    out: dict[str, Path] = {"dir": d}
    (d / "syntax.py").write_text("model = dict(name='resnet18'\nx = 1\n")
    out["syntax"] = d / "syntax.py"
    (d / "unknown_model.py").write_text(f"_base_ = [{str(TINY_CLS)!r}]\nmodel = dict(name='resnet18_cbamm')\n")
    out["unknown_model"] = d / "unknown_model.py"
    (d / "corrupt.pth").write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    out["corrupt"] = d / "corrupt.pth"
    (d / "empty.pth").write_bytes(b"")
    out["empty"] = d / "empty.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": _Exploit()}, d / "evil.pth")
    out["evil"] = d / "evil.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, d / "other_arch.pth")
    out["other_arch"] = d / "other_arch.pth"
    (d / "notes.txt").write_text("not an image")
    out["not_image"] = d / "notes.txt"
    (d / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    out["truncated_jpg"] = d / "truncated.jpg"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(d / "ok.png")
    out["ok_png"] = d / "ok.png"
    folder = make_image_folder(d / "cls", n_train=2, n_val=1, size=32)
    out["cls"] = folder
    empty = make_image_folder(d / "cls_empty_class", n_train=2, n_val=1, size=32)
    (empty / "train" / "zz_empty").mkdir()
    out["cls_empty_class"] = empty
    (d / "no_onnx.onnx").write_bytes(b"not a model")
    out["bad_onnx"] = d / "no_onnx.onnx"
    return out


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    tool: str
    argv: tuple[str, ...]
    message: str  # a substring of the error line, case-insensitive
    not_written: tuple[str, ...] = ()  # paths (under the case's tmp dir, "{tmp}") that must not exist afterwards


def _c(id: str, tool: str, argv: str, message: str, *not_written: str) -> Case:
    return Case(id, tool, tuple(argv.split()), message, tuple(not_written))


CASES = [
    # configs
    _c("train-config-missing", "train", "{tmp}/nope.py --work-dir {tmp}/wd", "nope.py", "{tmp}/wd"),
    _c("train-config-syntax", "train", "{syntax} --work-dir {tmp}/wd", "syntax.py", "{tmp}/wd"),
    _c("train-unknown-model", "train", "{unknown_model} --work-dir {tmp}/wd --cfg-options data_root={cls}",
       "resnet18_cbam", "{tmp}/wd/latest.pth"),
    _c("train-bad-cfg-option", "train", f"{TINY_CLS} --work-dir {{tmp}}/wd --cfg-options optim_wrapper.optimiser.lr=1",
       "optim_wrapper.optimizer", "{tmp}/wd"),
    _c("train-cfg-option-no-value", "train", f"{TINY_CLS} --work-dir {{tmp}}/wd --cfg-options data_root",
       "data_root", "{tmp}/wd/latest.pth"),
    # data
    _c("train-brats-no-data-root", "train", "configs/swin_unetr_brats.py --work-dir {tmp}/wd", "data_root",
       "{tmp}/wd/latest.pth"),
    _c("train-data-root-missing", "train", f"{TINY_CLS} --work-dir {{tmp}}/wd --cfg-options data_root={{tmp}}/nodata",
       "nodata", "{tmp}/wd/latest.pth"),
    _c("train-empty-class-folder", "train",
       f"{TINY_CLS} --work-dir {{tmp}}/wd --cfg-options data_root={{cls_empty_class}}", "zz_empty",
       "{tmp}/wd/latest.pth"),
    _c("train-num-classes-mismatch", "train",
       f"{TINY_CLS} --work-dir {{tmp}}/wd --cfg-options data_root={{cls}} model.num_classes=7", "7",
       "{tmp}/wd/latest.pth"),
    # checkpoints
    _c("train-resume-corrupt", "train", f"{TINY_CLS} --work-dir {{tmp}}/wd --cfg-options data_root={{cls}} "
       "--resume {corrupt}", "corrupt", "{tmp}/wd/latest.pth"),
    _c("train-resume-malicious", "train", f"{TINY_CLS} --work-dir {{tmp}}/wd --cfg-options data_root={{cls}} "
       "--resume {evil}", "refusing to load", "{tmp}/wd/latest.pth"),
    _c("test-checkpoint-missing", "test", f"{TINY_CLS} {{tmp}}/none.pth --cfg-options data_root={{cls}} "
       "--work-dir {tmp}/wd", "none.pth"),
    _c("test-checkpoint-empty", "test", f"{TINY_CLS} {{empty}} --cfg-options data_root={{cls}} --work-dir {{tmp}}/wd",
       "empty"),
    _c("test-checkpoint-other-arch", "test", f"{TINY_CLS} {{other_arch}} --cfg-options data_root={{cls}} "
       "--work-dir {tmp}/wd", "does not fit"),
    # inference
    _c("infer-input-missing", "infer", f"{TINY_CLS} --out {{tmp}}/out {{tmp}}/missing.png", "missing.png",
       "{tmp}/out/predictions.csv"),
    _c("infer-not-an-image", "infer", f"{TINY_CLS} --out {{tmp}}/out {{not_image}}", "notes.txt",
       "{tmp}/out/predictions.csv"),
    _c("infer-corrupt-jpeg", "infer", f"{TINY_CLS} --out {{tmp}}/out {{truncated_jpg}}", "truncated.jpg",
       "{tmp}/out/predictions.csv"),
    _c("infer-onnx-missing", "infer", "--onnx {tmp}/missing.onnx --out {tmp}/out {ok_png}", "missing.onnx",
       "{tmp}/out"),
    _c("infer-onnx-not-a-model", "infer", "--onnx {bad_onnx} --out {tmp}/out {ok_png}", "no_onnx.onnx", "{tmp}/out"),
    _c("infer-onnx-precision", "infer", "--onnx {bad_onnx} --precision bf16 --out {tmp}/out {ok_png}",
       "--precision is for PyTorch inference", "{tmp}/out"),
    # export
    _c("export-unknown-model", "export_onnx", "swin_tiny_patch4_window8 --output {tmp}/m.onnx",
       "swin_tiny_patch4_window7_224", "{tmp}/m.onnx"),
    _c("export-input-rank", "export_onnx", "resnet18 --input-size 32 32 32 --output {tmp}/m.onnx", "input",
       "{tmp}/m.onnx"),
    _c("export-checkpoint-missing", "export_onnx", "resnet18 --checkpoint {tmp}/none.pth --output {tmp}/m.onnx",
       "none.pth", "{tmp}/m.onnx"),
    _c("export-checkpoint-other-arch", "export_onnx", "resnet18 --checkpoint {other_arch} --output {tmp}/m.onnx",
       "does not fit", "{tmp}/m.onnx"),
    _c("export-bad-set", "export_onnx", "resnet18 --set layerz=(1,1,1,1) --output {tmp}/m.onnx", "layerz",
       "{tmp}/m.onnx"),
    _c("export-batch-size-zero", "export_onnx", "resnet18 --batch-size 0 --output {tmp}/m.onnx", "batch",
       "{tmp}/m.onnx"),
    # benchmark, weights
    _c("benchmark-unknown-model", "benchmark", "vit_smal_patch16_224", "vit_small_patch16_224"),
    _c("benchmark-batch-size-zero", "benchmark", "resnet18 --batch-size 0", "batch"),
    _c("download-unknown-tag", "download_weights", "vit_small_patch16_224.no_such_tag", "no_such_tag"),
    _c("download-unknown-model", "download_weights", "vit_smal_patch16_224.augreg_in21k_ft_in1k",
       "vit_small_patch16_224"),
    _c("convert-src-missing", "convert_checkpoint", "resnet18 {tmp}/none.pth {tmp}/out.safetensors", "none.pth",
       "{tmp}/out.safetensors"),
    _c("convert-src-corrupt", "convert_checkpoint", "resnet18 {corrupt} {tmp}/out.safetensors", "corrupt",
       "{tmp}/out.safetensors"),
    _c("convert-src-malicious", "convert_checkpoint", "resnet18 {evil} {tmp}/out.safetensors", "refusing to load",
       "{tmp}/out.safetensors"),
    # data generators, visualisation
    _c("synthetic-brats-zero-cases", "make_synthetic_brats", "{tmp}/brats --cases 0", "cases", "{tmp}/brats"),
    _c("synthetic-coco-zero-images", "make_synthetic_coco", "{tmp}/coco --num-train 0", "--num-train", "{tmp}/coco"),
    _c("digits-size-zero", "make_digits_folder", "{tmp}/digits --size 0", "size", "{tmp}/digits"),
    _c("visualize-image-missing", "visualize_attention", "resnet50_cbam {tmp}/none.jpg --out {tmp}/maps.png",
       "none.jpg", "{tmp}/maps.png"),
]


def _format(argv: tuple[str, ...], files: dict[str, Path], tmp: Path) -> list[str]:
    names = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp)}
    return [a.format(**names) for a in argv]


def _fresh_loggers() -> None:
    """mmengine's loggers keep the stream they were made with: an earlier test's (closed) capture in-process."""
    from mmengine.logging import MMLogger

    MMLogger._instance_dict.clear()


def _run_main(tool: str, argv: list[str]) -> int:
    try:
        rc = load_tool(tool).main(argv)
    except SystemExit as e:  # argparse's own usage errors exit 2 by raising
        rc = e.code
    return rc


def test_the_table_covers_at_least_30_bad_inputs():
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_one_clear_line_and_exit_2(case: Case, files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("VISIONZOO_HOME", str(tmp_path / "vz_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fresh_loggers()
    rc = _run_main(case.tool, _format(case.argv, files, tmp_path))
    err = capsys.readouterr().err
    assert rc == 2, f"exit code {rc}, stderr:\n{err[-2000:]}"
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith(("error:", f"{Path(case.tool).name}: error:"))
              or ": error: " in line]
    assert len(errors) == 1, f"expected one error line, got:\n{err[-2000:]}"
    assert case.message.lower() in errors[0].lower(), errors[0]
    for path in _format(case.not_written, files, tmp_path):
        assert not Path(path).exists(), f"{path} was written although the command failed"
    leftovers = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or p.suffix == ".partial"]
    assert not leftovers, f"half-written files left: {leftovers}"


# --- the API: one exception naming the problem and the fix ------------------------------------------------------

def _tiny_resnet():
    return vz.create_model("resnet18", layers=(1, 1, 1, 1), num_classes=3)


API_CASES = [
    ("unknown-model", lambda: vz.create_model("vit_smal_patch16_224"), ValueError, "vit_small_patch16_224"),
    ("negative-num-classes", lambda: vz.create_model("resnet18", num_classes=-1), ValueError, "num_classes"),
    ("drop-rate-out-of-range", lambda: vz.create_model("vit_tiny_patch16_224", drop_rate=1.5), ValueError,
     "drop_rate"),
    ("heads-do-not-divide-width", lambda: vz.create_model("vit_tiny_patch16_224", num_heads=5), ValueError, "heads"),
    ("wrong-channels", lambda: _tiny_resnet()(torch.randn(1, 1, 32, 32)), ValueError, "channel"),
    ("wrong-rank", lambda: _tiny_resnet()(torch.randn(3, 32, 32)), ValueError, "(B, C, H, W)"),
    ("checkpoint-missing", lambda: vz.create_model("resnet18", checkpoint_path="/nonexistent/w.pth"),
     FileNotFoundError, "/nonexistent/w.pth"),
]


@pytest.mark.parametrize("make,error,message", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_bad_input_raises_one_clear_error(make, error, message):
    with pytest.raises(error) as info:
        make()
    assert message.lower() in str(info.value).lower(), str(info.value)


def test_process_level_errors_have_no_traceback(files, tmp_path):
    """The same errors as real processes: the wrappers in tools/ and ``python -m visionzoo`` exit 2, one line."""
    for argv in (["tools/train.py", str(files["syntax"]), "--work-dir", str(tmp_path / "wd")],
                 ["-m", "visionzoo", "export", "no_such_model", "--output", str(tmp_path / "m.onnx")],
                 ["tools/make_synthetic_brats.py", str(tmp_path / "brats"), "--cases", "0"]):
        proc = subprocess.run([sys.executable, *argv], cwd=REPO, env=tool_env(), capture_output=True, text=True,
                              timeout=240)
        assert proc.returncode == 2, (argv, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr and proc.stderr.count("error:") == 1, (argv, proc.stderr[-2000:])
    assert not (tmp_path / "wd").exists() and not (tmp_path / "m.onnx").exists() and not (tmp_path / "brats").exists()
