"""ONNX export of every registered model, verified against eager PyTorch with onnxruntime."""
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

import visionzoo as vz
from visionzoo.export import OnnxExportError

REPO = Path(__file__).resolve().parents[2]

# Small variants (through **overrides) keep the suite fast; full-size exports are tested separately.
TINY = {
    "vit": (dict(depth=2), (3, 64, 64)),
    "swin": (dict(depths=(1, 1, 1, 1)), (3, 64, 64)),
    "swin_unetr": (dict(feature_size=12, depths=(1, 1, 1, 1)), None),
    "unetr": (dict(hidden_size=48, mlp_dim=96, num_heads=4, img_size=32), None),
    "resnet": (dict(layers=(1, 1, 1, 1)), (3, 64, 64)),
}


def _tiny(name: str):
    family = vz.registry.model_family(name)
    kwargs, size = TINY[family]
    model = vz.create_model(name, **kwargs)
    if size is None:
        size = (model.in_chans, 64, 32, 32) if family == "swin_unetr" else (model.in_chans, 32, 32, 32)
    return model, torch.randn(1, *size)


@pytest.mark.parametrize("name", vz.list_models())
def test_every_registered_model_exports_and_matches(name, tmp_path):
    model, x = _tiny(name)
    report = vz.export_onnx(model, tmp_path / f"{name}.onnx", x, benchmark=False, verbose=False, optimize=False)
    assert [c["passed"] for c in report.checks] == [True, True]
    assert report.checks[1]["shape"][0] == 2  # the second check ran a larger batch through the dynamic axis
    onnx.checker.check_model(str(tmp_path / f"{name}.onnx"))


@pytest.mark.parametrize("name", ["vit_small_patch16_224", "swin_tiny_patch4_window7_224"])
def test_full_size_classifier_export(name, tmp_path):
    model = vz.create_model(name)
    report = vz.export_onnx(model, tmp_path / "m.onnx", torch.randn(1, 3, 224, 224), verbose=False)
    assert all(c["rel_diff"] <= 1e-4 for c in report.checks)
    assert report.torch_ms > 0 and report.onnxruntime_ms > 0
    assert "onnxruntime" in report.table()


def test_full_width_swin_unetr_export(tmp_path):
    model = vz.create_model("swin_unetr_brats")
    report = vz.export_onnx(model, tmp_path / "s.onnx", torch.randn(1, 4, 64, 32, 32), benchmark=False, verbose=False, optimize=False)
    assert all(c["passed"] for c in report.checks)


def test_vit_dynamic_spatial_export(tmp_path):
    model = vz.create_model("vit_tiny_patch16_224", depth=1)
    report = vz.export_onnx(
        model, tmp_path / "v.onnx", torch.randn(1, 3, 64, 64), dynamic_spatial=True, spatial_multiple=16, benchmark=False,
        verbose=False, optimize=False,
    )
    assert report.checks[1]["shape"] == (2, 3, 80, 80) and all(c["passed"] for c in report.checks)


def test_export_failure_names_the_operator(tmp_path):
    class Unsupported(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.eig(x)[0].real  # no ONNX translation for eig

    with pytest.raises(OnnxExportError, match="failed at operator aten.*eig"):
        vz.export_onnx(Unsupported(), tmp_path / "bad.onnx", torch.randn(1, 3, 3), verbose=False)


def test_export_cli(tmp_path):
    out = tmp_path / "vit.onnx"
    cmd = [sys.executable, "tools/export_onnx.py", "vit_tiny_patch16_224", "--set", "depth=1", "--input-size", "3", "32", "32",
           "--output", str(out)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.is_file() and "max|diff|" in result.stdout
