"""bf16 as an inference precision: every registered family under bf16 autocast stays within 2e-2 (relative to the
output's scale) of fp32 and finite; the task wrappers return fp32 outputs; unknown precisions name the choices."""
import pytest
import torch

import visionzoo as vz
from visionzoo.export.onnx import output_tensors
from visionzoo.registry import get_tiny_cfg
from visionzoo.utils import precision as precision_module
from visionzoo.utils.precision import autocast, check_precision, outputs_to_fp32, resolve_precision

BF16_RTOL = 2e-2


def test_unknown_precision_names_the_close_match():
    with pytest.raises(ValueError, match="unknown precision 'bf61'.*did you mean 'bf16'"):
        check_precision("bf61")


def test_auto_is_bf16_only_on_native_bf16_hardware(monkeypatch):
    monkeypatch.setattr(precision_module, "_cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision_module, "_cpu_flags", lambda: frozenset({"avx512f", "avx2"}))
    assert resolve_precision("auto", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    with autocast("auto"):
        assert not torch.is_autocast_enabled("cpu")


def test_outputs_to_fp32_casts_nested_floating_tensors_only():
    out = outputs_to_fp32({"a": torch.ones(2, dtype=torch.bfloat16), "b": [torch.ones(1, dtype=torch.float16)],
                           "n": torch.ones(1, dtype=torch.int64)})
    assert out["a"].dtype == torch.float32 and out["b"][0].dtype == torch.float32 and out["n"].dtype == torch.int64


@pytest.mark.parametrize("name", vz.list_models())
def test_bf16_autocast_stays_within_2e_2_of_fp32(name):
    cfg = get_tiny_cfg(name)
    torch.manual_seed(0)
    model = vz.create_model(name, **cfg["kwargs"]).eval()
    x = torch.randn(2, *cfg["input_size"])
    with torch.no_grad():
        ref = output_tensors(model(x))
        with autocast("bf16"):
            low = output_tensors(model(x))
    for a, b in zip(low, ref, strict=True):
        assert torch.isfinite(a).all(), name
        error = (a.float() - b).abs().max() / b.abs().max().clamp_min(1e-6)
        assert error <= BF16_RTOL, f"{name}: bf16 relative error {error:.2e}"


def test_fp32_autocast_is_a_no_op():
    torch.manual_seed(0)
    model = vz.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        with autocast("fp32"):
            assert not torch.is_autocast_enabled("cpu")
            assert torch.equal(model(x), ref)
        with autocast("bf16"):
            assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
            assert not torch.equal(model(x), ref)  # it did run in bf16


@pytest.mark.parametrize("inplace", [True, False])
def test_instance_norm_keeps_fp32_statistics_for_bf16_maps(inplace):
    """A bf16 map far from zero: a bf16 mean (steps of 0.5 at 100) would shift every output by up to 0.25 sigma."""
    from visionzoo.layers.conv_blocks import InstanceNorm, channels_last

    torch.manual_seed(0)
    x = channels_last(torch.randn(1, 8, 32, 32, 32) + 100.3).to(torch.bfloat16)
    ref = torch.nn.functional.instance_norm(x.float(), eps=1e-5)
    with torch.no_grad():
        out = InstanceNorm(inplace=inplace)(x.clone())
    assert out.dtype == torch.bfloat16 and (out.float() - ref).abs().max() < 0.05


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("offset, exact_path", [(0.5, False), (30.0, True)])
def test_low_precision_instance_norm_is_per_sample_and_channels_last(monkeypatch, dtype, offset, exact_path):
    """The no-grad path per sample of a batch, layout kept: torch's batch norm where |mean| / std is small, shifted
    fp32 sums where it is large; with a gradient the differentiable formula runs and agrees."""
    import visionzoo.layers.conv_blocks as conv_blocks
    from visionzoo.layers.conv_blocks import InstanceNorm, channels_last

    calls = []
    exact = conv_blocks._shifted_statistics
    monkeypatch.setattr(conv_blocks, "_shifted_statistics", lambda *a: calls.append(1) or exact(*a))
    torch.manual_seed(0)
    scale = torch.tensor([1.0, 4.0, 0.5]).view(3, 1, 1, 1, 1)
    x = channels_last(torch.randn(3, 6, 12, 10, 8) * scale + offset * scale).to(dtype)
    ref = torch.nn.functional.instance_norm(x.float(), eps=1e-5)
    tolerance = 3e-2 if dtype == torch.bfloat16 else 3e-3  # the output's rounding
    with torch.no_grad():
        fast = InstanceNorm(inplace=True)(x.clone())
    assert len(calls) == (3 if exact_path else 0)
    assert fast.dtype == dtype and fast.is_contiguous(memory_format=torch.channels_last_3d)
    assert (fast.float() - ref).abs().max() < tolerance
    leaf = x.clone().requires_grad_()
    slow = InstanceNorm()(leaf)
    assert (slow.float() - ref).abs().max() < tolerance
    slow.float().sum().backward()
    assert torch.isfinite(leaf.grad.float()).all()
