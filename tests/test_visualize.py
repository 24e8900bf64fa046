"""Attention maps through forward hooks (CNN gates, ViT softmax attention, rollout) and the visualize_attention tool."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.tool_modules import load_tool
import visionzoo as vz
from visionzoo.visualize import (
    attention_maps,
    attention_rollout,
    detr_cross_attention,
    overlay_maps,
    register_attention_extractor,
)

from .backbones.test_resnet import perturb_batchnorms_

REPO = Path(__file__).resolve().parents[1]


def test_cnn_maps_are_the_applied_spatial_gates_per_stage():
    model = perturb_batchnorms_(vz.create_model("resnet18_cbam"))
    x = torch.randn(2, 3, 64, 96)
    applied = {}
    hook = model.layer3[1].attn.spatial.register_forward_hook(lambda m, i, o: applied.setdefault("gate", o))
    maps = attention_maps(model, x)
    hook.remove()
    assert list(maps) == ["layer1.1.attn", "layer2.1.attn", "layer3.1.attn", "layer4.1.attn"]
    assert [tuple(m.shape) for m in maps.values()] == [(2, 16, 24), (2, 8, 12), (2, 4, 6), (2, 2, 3)]
    torch.testing.assert_close(maps["layer3.1.attn"], applied["gate"][:, 0])  # the gate the forward pass multiplied by
    for m in maps.values():
        assert 0 <= m.min() and m.max() <= 1 and m.std() > 0
    assert len(attention_maps(model, x, per_stage=False)) == 8
    assert model.training, "the model's mode is restored"


def test_triplet_maps_and_models_without_spatial_gates():
    model = perturb_batchnorms_(vz.create_model("resnet18_triplet"))
    maps = attention_maps(model, torch.randn(1, 3, 32, 32))
    assert [tuple(m.shape) for m in maps.values()] == [(1, 8, 8), (1, 4, 4), (1, 2, 2), (1, 1, 1)]
    assert attention_maps(vz.create_model("resnet18"), torch.randn(1, 3, 32, 32)) == {}
    assert attention_maps(vz.create_model("resnet50_se", layers=(1, 1, 1, 1)), torch.randn(1, 3, 32, 32)) == {}


def test_vit_class_token_attention_and_rollout():
    model = vz.create_model("vit_tiny_patch16_224", depth=2, img_size=64)
    x = torch.randn(1, 3, 64, 80)
    block_inputs = {}
    hook = model.blocks[1].attn.register_forward_hook(lambda m, i, o: block_inputs.setdefault("x", i[0]))
    maps = attention_maps(model, x, per_stage=False)
    hook.remove()
    assert list(maps) == ["blocks.0.attn", "blocks.1.attn"]
    # class-token row over the 4x5 patches, recomputed from the block's qkv by hand, averaged over heads
    attn = model.blocks[1].attn
    q, k, _ = attn.qkv(block_inputs["x"]).reshape(1, 21, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    probs = ((q @ k.transpose(-2, -1)) * attn.scale).softmax(-1).mean(1)
    torch.testing.assert_close(maps["blocks.1.attn"], probs[:, 0, 1:].reshape(1, 4, 5), atol=1e-6, rtol=1e-5)
    rollout = attention_rollout(model, x)
    assert rollout.shape == (1, 4, 5) and rollout.max() == 1 and rollout.min() > 0
    with pytest.raises(ValueError, match="no SelfAttention blocks"):
        attention_rollout(vz.create_model("resnet18"), torch.randn(1, 3, 32, 32))


def test_swin_window_attention_maps_return_to_the_grid():
    model = vz.create_model("swin_tiny_patch4_window7_224", depths=(2, 2, 2, 2))
    maps = attention_maps(model, torch.randn(1, 3, 56, 56), per_stage=False)
    assert [tuple(maps[f"layers.{i}.blocks.1.attn"].shape) for i in range(4)] == [(1, 14, 14), (1, 7, 7), (1, 4, 4), (1, 2, 2)]
    first = maps["layers.0.blocks.0.attn"][0]  # unshifted 7x7 windows on a 14x14 grid: each window's tokens share one unit
    sums = first.reshape(2, 7, 2, 7).sum(dim=(1, 3))
    torch.testing.assert_close(sums, torch.ones(2, 2))
    shifted = maps["layers.0.blocks.1.attn"][0]
    torch.testing.assert_close(shifted.sum(), torch.tensor(4.0))  # four windows again, after undoing the shift


def test_extractors_are_pluggable():
    calls = []

    class Gate(torch.nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x.mean(1, keepdim=True))

    register_attention_extractor(Gate, lambda m, inputs, out, sm: calls.append(1) or torch.sigmoid(inputs[0].mean(1)))
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), Gate())
    maps = attention_maps(model, torch.randn(1, 3, 5, 6))
    assert list(maps) == ["1"] and maps["1"].shape == (1, 5, 6) and calls == [1]


def test_overlay_grid():
    rgb = np.full((40, 50, 3), 128, np.uint8)
    grid = overlay_maps(rgb, {"a": torch.rand(5, 6), "b": torch.rand(3, 3)}, columns=2)
    assert grid.shape == (80, 100, 3) and grid.dtype == np.uint8
    assert not np.array_equal(grid[40:, :50], grid[:40, :50]), "the map panel differs from the input panel"
    with pytest.raises(ValueError, match=r"must be \(h, w\)"):
        overlay_maps(rgb, {"batched": torch.rand(2, 5, 6)})


@pytest.fixture()
def tool():
    module = load_tool("visualize_attention")
    yield module
    sys.modules.pop(module.__name__, None)


def test_visualize_attention_tool_writes_png(tool, tmp_path, capsys):
    yy, xx = np.mgrid[0:48, 0:64]
    image = np.stack([xx * 4, yy * 5, (xx + yy) * 2], axis=-1).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), image)
    out = tmp_path / "maps" / "maps.png"
    assert tool.main(["resnet18_cbam", str(tmp_path / "img.png"), "--out", str(out), "--size", "64"]) == 0
    written = cv2.imread(str(out))
    assert written.shape == (128, 256, 3)  # input + 4 stage panels of 64x64, 4 per row
    assert "layer4.1.attn (2, 2)" in capsys.readouterr().out
    assert tool.main(["resnet18", str(tmp_path / "img.png"), "--out", str(out)]) == 2
    assert "no attention module with a spatial map" in capsys.readouterr().err
    assert tool.main(["resnet18_cbam", str(tmp_path / "missing.png"), "--out", str(out)]) == 2


def test_detr_cross_attention_maps_are_the_decoder_probabilities_on_the_feature_grid():
    model = vz.create_model("detr", backbone_kwargs=dict(layers=(1, 1, 1, 1)), hidden_dim=32, nheads=2, enc_layers=1,
                            dec_layers=2, dim_feedforward=64, num_queries=5)
    x = torch.randn(2, 3, 96, 64)
    maps, out = detr_cross_attention(model, x)
    assert maps.shape == (2, 5, 3, 2)  # stride-32 grid of a 96x64 image
    torch.testing.assert_close(maps.sum(dim=(-2, -1)), torch.ones(2, 5))  # each query's attention is a distribution
    with torch.no_grad():
        torch.testing.assert_close(out["pred_boxes"], model.eval()(x)["pred_boxes"])
    with pytest.raises(ValueError, match="not a DETR-style model"):
        detr_cross_attention(vz.create_model("resnet18"), x)
