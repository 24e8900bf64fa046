"""ResNet: parity with torchvision (eval and train step) and timm's SE-ResNet, attention placement, timm interface, errors."""
import pytest
import timm
import torch
import torchvision

import visionzoo as vz
import visionzoo.cli.benchmarking as bm
from visionzoo.layers import CBAM, CONV_ATTENTION_TYPES, SqueezeExcite, TripletAttention
from visionzoo.weights.converters import convert_state_dict

from ..conftest import max_rel_diff
from .timm_parity import assert_grad_checkpointing_is_exact, assert_train_step_matches


def perturb_batchnorms_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Seeded BatchNorm affine parameters and running statistics around their defaults, so eval mode uses them all."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(n, generator=gen))
            elif isinstance(m, torch.nn.Linear) and m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
    return model


def reference_and_ours(ref: torch.nn.Module, name: str, **kwargs) -> tuple[torch.nn.Module, torch.nn.Module]:
    """`ref` (random init, perturbed BN) and our `name` loaded from its state dict through the converter, both eval."""
    perturb_batchnorms_(ref)
    ours = vz.create_model(name, **kwargs)
    ours.load_state_dict(convert_state_dict(ours, ref.state_dict()), strict=True)
    return ref.eval(), ours.eval()


@pytest.mark.parametrize("name,size", [("resnet18", (64, 64)), ("resnet18", (72, 96)), ("resnet50", (64, 64))])
def test_matches_torchvision(name, size):
    ref, ours = reference_and_ours(torchvision.models.get_model(name, weights=None), name)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert list(ours.state_dict()) == list(ref.state_dict()), "parameter names must be torchvision's, in order"
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert max_rel_diff(got, expected) <= 1e-4


def test_train_step_matches_torchvision():
    ref, ours = reference_and_ours(torchvision.models.resnet18(weights=None), "resnet18")
    assert_train_step_matches(ref, ours, torch.randn(4, 3, 64, 64), torch.tensor([1, 5, 7, 900]))
    for (name, a), b in zip(ref.named_buffers(), ours.buffers()):  # BN statistics moved alike
        torch.testing.assert_close(b, a, msg=name)


def test_se_variant_matches_timm_seresnet50():
    ref, ours = reference_and_ours(timm.create_model("seresnet50", pretrained=False), "resnet50_se")
    assert all(isinstance(b.attn, SqueezeExcite) for stage in ours.stages for b in stage)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert max_rel_diff(ours(x), ref(x)) <= 1e-4


def test_attention_sits_before_the_shortcut_addition():
    """With an attention that zeroes its input, a block without downsampling passes its (non-negative) input through."""
    CONV_ATTENTION_TYPES["zero"] = lambda channels: _Zero()
    try:
        model = vz.create_model("resnet18", block_attn="zero").eval()
    finally:
        del CONV_ATTENTION_TYPES["zero"]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        stem = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        torch.testing.assert_close(model.layer1(stem), stem)  # attention after the addition would give zeros


class _Zero(torch.nn.Module):
    def forward(self, x):
        return x * 0


@pytest.mark.parametrize(
    "name,kind,expansion",
    [("resnet18_cbam", CBAM, 1), ("resnet50_cbam", CBAM, 4), ("resnet18_triplet", TripletAttention, 1),
     ("resnet50_se", SqueezeExcite, 4)],
)
def test_named_variants_put_attention_in_every_block(name, kind, expansion):
    model = vz.create_model(name)
    blocks = [b for stage in model.stages for b in stage]
    assert all(isinstance(b.attn, kind) for b in blocks)
    if kind is CBAM:  # reduction 16 over the block's output channels
        widths = [b.attn.channel_gate.fc1 for b in blocks]
        assert [(f.in_features, f.out_features) for f in widths][:: len(blocks) - 1] == [
            (64 * expansion, 4 * expansion), (512 * expansion, 32 * expansion)]
    assert model(torch.randn(1, 3, 40, 56)).shape == (1, 1000)


def test_block_attn_override_equals_named_variant():
    a = vz.create_model("resnet50", block_attn=dict(type="cbam", reduction=16))
    b = vz.create_model("resnet50_cbam")
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    plain = vz.create_model("resnet18_cbam", block_attn=None)
    assert all(blk.attn is None for stage in plain.stages for blk in stage)


def test_timm_interface():
    model = vz.create_model("resnet18_cbam", num_classes=5).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (2, 512, 2, 3)
        assert model.forward_head(feats, pre_logits=True).shape == (2, 512)
        torch.testing.assert_close(model.forward_head(feats), model(x))
        final, inter = model.forward_intermediates(x)
        torch.testing.assert_close(final, feats)
        assert [t.shape[1:] for t in inter] == [(64, 16, 24), (128, 8, 12), (256, 4, 6), (512, 2, 3)]
        assert len(model.forward_intermediates(x, indices=[1, 3], intermediates_only=True)) == 2
    assert model.get_classifier().out_features == 5
    model.reset_classifier(0)
    assert model(x).shape == (2, 512)
    model.reset_classifier(7, global_pool="max")
    assert model(x).shape == (2, 7)
    cfg = model.pretrained_cfg
    assert (cfg["first_conv"], cfg["classifier"], cfg["input_size"]) == ("conv1", "fc", (3, 224, 224))
    assert isinstance(model.get_submodule(cfg["first_conv"]), torch.nn.Conv2d)
    assert model.no_weight_decay() == set()
    assert model.feature_info.reduction() == [4, 8, 16, 32]


def test_features_only():
    model = vz.create_model("resnet50_triplet", features_only=True, out_indices=(1, 2))
    maps = model(torch.randn(1, 3, 64, 80))
    assert [m.shape for m in maps] == [(1, 512, 8, 10), (1, 1024, 4, 5)]
    assert model.feature_info.channels() == [512, 1024] and model.feature_info.reduction() == [8, 16]
    assert isinstance(model.model.layer4, torch.nn.Identity), "stages after the last requested one are pruned"


def test_grad_checkpointing_gives_same_gradients():
    model = perturb_batchnorms_(vz.create_model("resnet18_cbam", num_classes=10))
    assert_grad_checkpointing_is_exact(model, torch.randn(2, 3, 32, 32))


def test_bad_inputs_and_options_give_clear_errors():
    model = vz.create_model("resnet18")
    with pytest.raises(ValueError, match="expected 3 input channels, got 1.*in_chans=1"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"expected a 4D input.*unsqueeze\(0\)"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="known types: cbam, se, triplet"):
        vz.create_model("resnet18", block_attn=dict(type="bam"))
    with pytest.raises(ValueError, match="global_pool"):
        vz.create_model("resnet18", global_pool="token")
    assert vz.create_model("resnet18", in_chans=1).eval()(torch.randn(1, 1, 32, 32)).shape == (1, 1000)


def test_torchvision_reference_in_benchmark():
    r = bm.run_benchmark("resnet18", compare="torchvision", batch_size=1, img_size=32, warmup=0, runs=1, threads=1,
                         verbose=False)
    assert r["ratio"]["params_m"] == 1.0 and r["ratio"]["gmacs"] == pytest.approx(1.0, rel=1e-9)
    with pytest.raises(ValueError, match="ref_name='resnet50'"):
        bm.build_torchvision_reference("resnet50_cbam", img_size=(224, 224))
