"""ONNX export of every registered model, verified against eager PyTorch with onnxruntime."""
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

import visionzoo as vz
from visionzoo.export import OnnxExportError
from visionzoo.export.onnx import window_size_limits

REPO = Path(__file__).resolve().parents[2]

# Small variants (through **overrides) keep the suite fast; full-size exports are tested separately.
TINY = {
    "vit": (dict(depth=2), (3, 64, 64)),
    "swin": (dict(depths=(1, 1, 1, 1)), (3, 64, 64)),
    "swin_unetr": (dict(feature_size=12, depths=(1, 1, 1, 1)), None),
    "unetr": (dict(hidden_size=48, mlp_dim=96, num_heads=4, img_size=32), None),
    "resnet": (dict(layers=(1, 1, 1, 1)), (3, 64, 64)),
    "biformer": (dict(depths=(1, 1, 1, 1), embed_dims=(32, 64, 96, 128)), (3, 64, 64)),
    "flatten": (dict(depths=(1, 1, 1, 1)), (3, 64, 64)),
    "agent": (dict(depths=(1, 1, 1, 1)), (3, 64, 64)),
    "agent_deit": (dict(depth=2), (3, 64, 64)),  # sub-family entry: the DeiT-based agent models have no stages
    "pvt": (dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 48, 64), num_heads=(1, 2, 3, 4)), (3, 64, 64)),
    "twins": (dict(depths=(1, 1, 1, 1), embed_dims=(16, 32, 48, 64), num_heads=(1, 2, 3, 4)), (3, 64, 64)),
    "detr": (dict(backbone_kwargs=dict(layers=(1, 1, 1, 1)), hidden_dim=32, nheads=2, enc_layers=1, dec_layers=2,
                  dim_feedforward=64, num_queries=5), (3, 64, 64)),
}


def _tiny(name: str):
    family = vz.registry.model_family(name)
    kwargs, size = TINY.get(name.rsplit("_", 1)[0], TINY[family])  # a sub-family entry (e.g. agent_deit) wins
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


def test_window_size_limits_follow_each_stage_window_layout():
    swin = vz.create_model("swin_tiny_patch4_window7_224", depths=(1, 1, 1, 1)).eval()
    # at 224 the last stage (7x7 grid) is one unshifted window: sizes up to 224 keep that layout
    assert window_size_limits(swin, torch.randn(1, 3, 224, 224)) == [(113, 224), (113, 224)]
    # at 448 every stage is windowed: any larger size keeps the layout
    assert window_size_limits(swin, torch.randn(1, 3, 448, 448)) == [(225, None), (225, None)]
    assert window_size_limits(vz.create_model("vit_tiny_patch16_224", depth=1), torch.randn(1, 3, 32, 32)) == [(1, None)] * 2


@pytest.mark.slow
def test_swin_dynamic_spatial_export_runs_at_another_size(tmp_path):
    # one stage with W-MSA and SW-MSA blocks: the shift mask and window counts must stay symbolic
    model = vz.create_model("swin_tiny_patch4_window7_224", depths=(2,), num_heads=(3,))
    report = vz.export_onnx(
        model, tmp_path / "s.onnx", torch.randn(1, 3, 56, 56), dynamic_spatial=True, spatial_multiple=28,
        benchmark=False, verbose=False, optimize=False,
    )
    assert report.checks[1]["shape"] == (2, 3, 84, 84) and all(c["passed"] for c in report.checks)


def test_dynamic_spatial_refuses_a_size_with_no_other_window_layout(tmp_path):
    model = vz.create_model("swin_tiny_patch4_window7_224", depths=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="size 224 is the only multiple of 224 .*larger than its window"):
        vz.export_onnx(model, tmp_path / "s.onnx", torch.randn(1, 3, 224, 224), dynamic_spatial=True, spatial_multiple=224)


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
