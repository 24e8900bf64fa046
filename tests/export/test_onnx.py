"""ONNX export of every registered model, verified against eager PyTorch with onnxruntime."""
import functools
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
import torch

import visionzoo as vz
from visionzoo.export import OnnxExportError
from visionzoo.export.onnx import output_tensors, window_size_limits

REPO = Path(__file__).resolve().parents[2]


def _tiny(name: str):
    """The model's tiny configuration (declared beside its entrypoint) and an input for it."""
    cfg = vz.registry.get_tiny_cfg(name)
    return vz.create_model(name, **cfg["kwargs"]), torch.randn(1, *cfg["input_size"])


def _signature(model: torch.nn.Module, x: torch.Tensor) -> tuple:
    """What fixes the exported graph of a tiny model: its module tree (with hyper-parameters), parameter shapes, input."""
    shapes = tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
    return repr(model), shapes, tuple(x.shape)


@functools.lru_cache(maxsize=None)
def _representative(name: str) -> str:
    """The first registered model (by name) whose tiny configuration is architecturally identical to `name`'s.

    Named variants differ in widths and depths, which the tiny overrides replace; several then build the
    same network (e.g. ``pvt_v2_b0``..``b4``). Exporting one of them covers the rest, and each of the rest
    proves it is the same function (`test_every_registered_model_exports_and_matches`).
    """
    family = vz.registry.model_family(name)
    target = _signature(*_tiny(name))
    for other in vz.list_models():
        if other == name:
            return name
        if vz.registry.model_family(other) == family and _signature(*_tiny(other)) == target:
            return other
    return name


@pytest.mark.parametrize("name", vz.list_models())
def test_every_registered_model_exports_and_matches(name, tmp_path):
    model, x = _tiny(name)
    representative = _representative(name)
    if representative != name:
        # same tiny architecture as an exported model: with its weights, ours must compute the same function
        torch.manual_seed(0)
        twin, _ = _tiny(representative)
        model.load_state_dict(twin.state_dict())
        with torch.no_grad():
            ours, theirs = model.eval()(x), twin.eval()(x)
        for a, b in zip(output_tensors(ours), output_tensors(theirs)):
            assert torch.equal(a, b), f"{name} builds the same modules as {representative} but computes differently"
        return
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


def test_dynamic_spatial_traces_where_every_window_is_general():
    from visionzoo.export.onnx import _size_plan

    model = vz.create_model("swin_tiny_patch4_window7_224", depths=(1, 1, 1, 1), embed_dim=8, num_heads=(1, 1, 1, 1))
    model.eval()
    # at 224 the last stage is one unshifted window: the exporter traces at 448 and serves multiples of 224 from there
    plan = _size_plan(model, torch.randn(1, 3, 224, 224), 224, {})
    assert plan.trace == [448, 448] and plan.minimum == [448, 448]
    # with multiples of 32 it traces at 256, where every window also pads its grid (no crop is traced as a no-op)
    plan = _size_plan(model, torch.randn(1, 3, 224, 224), 32, {})
    assert plan.trace == [256, 256] and plan.minimum == [256, 256]


def test_detr_exports_with_its_padding_mask_as_a_second_input(tmp_path):
    model = vz.create_model("detr", **vz.registry.get_tiny_cfg("detr")["kwargs"])
    x = torch.randn(2, 3, 64, 64)
    mask = torch.zeros(2, 64, 64, dtype=torch.bool)
    mask[1, :, 24:] = True  # the second image is 24 px wide, padded to 64 (its right feature column is padding)
    report = vz.export_onnx(model, tmp_path / "d.onnx", x, extra_inputs={"mask": mask}, benchmark=False, verbose=False,
                            optimize=False)
    assert report.dynamic_axes == {"input": [0], "mask": [0]}
    assert [c["passed"] for c in report.checks] == [True, True]
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input", "mask"]
    padded, unpadded = (session.run(None, {"input": x.numpy(), "mask": m.numpy()})[0] for m in (mask, torch.zeros_like(mask)))
    assert abs(padded[1] - unpadded[1]).max() > 1e-3 and abs(padded[0] - unpadded[0]).max() < 1e-5  # the mask is live


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
