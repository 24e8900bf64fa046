"""UNETR: exact parity with MONAI's UNETR (2D/3D, full ViT-B width), any input size."""
import pytest
import torch
from monai.networks.nets import UNETR as MonaiUNETR

import visionzoo as vz

from .monai_parity import max_abs_diff, monai_and_ours

SMALL = dict(hidden_size=96, mlp_dim=192, num_heads=4)


def test_unetr_3d_matches_monai():
    ref = MonaiUNETR(in_channels=4, out_channels=3, img_size=64, **SMALL)
    ref, ours = monai_and_ours(ref, "unetr", in_chans=4, num_classes=3, img_size=64, **SMALL)
    assert max_abs_diff(ref, ours, torch.randn(1, 4, 64, 64, 64)) <= 1e-4


def test_unetr_default_vit_b_matches_monai():
    ref, ours = monai_and_ours(MonaiUNETR(in_channels=1, out_channels=2, img_size=(64, 64, 32)), "unetr", img_size=(64, 64, 32))
    used = [p for n, p in ref.named_parameters() if "cross_attn" not in n]  # MONAI builds unused cross-attn norms
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in used)
    assert max_abs_diff(ref, ours, torch.randn(1, 1, 64, 64, 32)) <= 1e-4


def test_unetr_2d_matches_monai():
    ref = MonaiUNETR(in_channels=3, out_channels=2, img_size=(64, 96), spatial_dims=2, **SMALL)
    ref, ours = monai_and_ours(ref, "unetr", in_chans=3, num_classes=2, img_size=(64, 96), spatial_dims=2, **SMALL)
    assert max_abs_diff(ref, ours, torch.randn(2, 3, 64, 96)) <= 1e-4


def test_unetr_runs_at_other_sizes():
    model = vz.create_model("unetr", in_chans=4, num_classes=3, img_size=64, **SMALL).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 4, 80, 48, 50)).shape == (1, 3, 80, 48, 50)


def test_unetr_config_errors():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        vz.create_model("unetr", hidden_size=100, num_heads=12)
