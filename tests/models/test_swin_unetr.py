"""Swin UNETR: exact parity with MONAI's SwinUNETR (v1/v2, both merge orders, 2D/3D), checkpoints, any size."""
import pytest
import torch
from monai.networks.nets import SwinUNETR as MonaiSwinUNETR

import visionzoo as vz

from .monai_parity import max_abs_diff, monai_and_ours


@pytest.mark.parametrize(
    "size,use_v2,downsample",
    [
        (64, False, "merging"),  # last stage at 4^3 < window: MONAI's truncated bias index
        (96, False, "merging"),  # 6^3 in the last stage
        ((128, 64, 64), False, "merging"),  # last stage 8x4x4: depth padded and shifted, height/width shrunk
        (64, True, "mergingv2"),
    ],
)
def test_swin_unetr_3d_matches_monai(size, use_v2, downsample):
    ref = MonaiSwinUNETR(in_channels=4, out_channels=3, feature_size=12, use_v2=use_v2, downsample=downsample)
    ref, ours = monai_and_ours(ref, "swin_unetr", in_chans=4, num_classes=3, feature_size=12, use_v2=use_v2, downsample=downsample)
    size = (size,) * 3 if isinstance(size, int) else size
    assert max_abs_diff(ref, ours, torch.randn(1, 4, *size)) <= 1e-4


def test_swin_unetr_brats_full_width_matches_monai():
    ref, ours = monai_and_ours(MonaiSwinUNETR(in_channels=4, out_channels=3, feature_size=48), "swin_unetr_brats")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert max_abs_diff(ref, ours, torch.randn(1, 4, 64, 64, 64)) <= 1e-4


def test_swin_unetr_2d_matches_monai():
    ref = MonaiSwinUNETR(in_channels=3, out_channels=2, feature_size=24, spatial_dims=2, use_v2=True)
    ref, ours = monai_and_ours(ref, "swin_unetr", in_chans=3, num_classes=2, feature_size=24, spatial_dims=2, use_v2=True)
    assert max_abs_diff(ref, ours, torch.randn(2, 3, 96, 64)) <= 1e-4


def test_swin_unetr_train_step_matches_monai():
    ref = MonaiSwinUNETR(in_channels=2, out_channels=2, feature_size=12, depths=(1, 1, 1, 1))
    ref, ours = monai_and_ours(ref, "swin_unetr", in_chans=2, num_classes=2, feature_size=12, depths=(1, 1, 1, 1))
    ref.train(), ours.train()
    x, target = torch.randn(1, 2, 64, 64, 64), torch.rand(1, 2, 64, 64, 64)  # instance norm needs > 1 voxel at 1/32
    losses = [torch.nn.functional.binary_cross_entropy_with_logits(m(x), target) for m in (ref, ours)]
    for loss in losses:
        loss.backward()
    assert abs(losses[0].item() - losses[1].item()) <= 1e-5
    ref_grads = {n: p.grad for n, p in ref.named_parameters()}
    from visionzoo.weights.converters import convert_state_dict

    converted = convert_state_dict(ours, ref_grads)
    for name, p in ours.named_parameters():
        assert torch.isfinite(p.grad).all(), name
        torch.testing.assert_close(p.grad, converted[name], atol=1e-4, rtol=1e-3, msg=name)


def test_brats21_release_layout_loads(tmp_path):
    """research-contributions BRATS21: {"epoch", "best_acc", "state_dict": MONAI keys}."""
    ref = MonaiSwinUNETR(in_channels=4, out_channels=3, feature_size=12)
    ref, _ = monai_and_ours(ref, "swin_unetr", in_chans=4, num_classes=3, feature_size=12)
    path = tmp_path / "model.pt"
    torch.save({"epoch": 299, "best_acc": 0.9059, "state_dict": ref.state_dict()}, path)
    ours = vz.create_model("swin_unetr", checkpoint_path=str(path), in_chans=4, num_classes=3, feature_size=12).eval()
    assert max_abs_diff(ref, ours, torch.randn(1, 4, 64, 64, 64)) <= 1e-4


def test_any_input_size_is_padded_and_cropped():
    model = vz.create_model("swin_unetr", in_chans=1, num_classes=2, feature_size=12, depths=(1, 1, 1, 1)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 40, 35, 50))
    assert out.shape == (1, 2, 40, 35, 50)


def test_bad_input_and_config_errors():
    model = vz.create_model("swin_unetr_brats", feature_size=12, depths=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="expected 4 input channels, got 1"):
        model(torch.randn(1, 1, 32, 32, 32))
    with pytest.raises(ValueError, match=r"5D input \(B, C, D, H, W\)"):
        model(torch.randn(4, 32, 32, 32))
    with pytest.raises(ValueError, match="too small for Swin UNETR.*at least 64 voxels"):
        model(torch.randn(1, 4, 32, 32, 32))
    with pytest.raises(ValueError, match="multiple of 12"):
        vz.create_model("swin_unetr", feature_size=20)
    with pytest.raises(ValueError, match="downsample must be one of"):
        vz.create_model("swin_unetr", feature_size=12, downsample="pooling")


def test_deprecated_img_size_warns_and_is_ignored():
    with pytest.warns(DeprecationWarning, match="img_size is deprecated"):
        model = vz.create_model("swin_unetr", feature_size=12, depths=(1, 1, 1, 1), img_size=(96, 96, 96))
    assert model(torch.randn(1, 1, 64, 32, 32)).shape == (1, 2, 64, 32, 32)
