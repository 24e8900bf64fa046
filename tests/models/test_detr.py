"""DETR assembly: parity with transformers' DetrForObjectDetection through the official checkpoint layout, backbones, inputs."""
import re

import pytest
import torch
from torchvision.ops import FrozenBatchNorm2d

import visionzoo as vz
from visionzoo.models.detr import DETR
from visionzoo.weights import hub
from visionzoo.weights.converters import convert_state_dict, detect_source
from visionzoo.weights.pretrained import weight_entry


TINY = dict(num_classes=5, num_queries=7, hidden_dim=64, nheads=4, enc_layers=2, dec_layers=2, dim_feedforward=128)


def hf_to_official(state_dict):
    """transformers' DETR state dict -> the facebookresearch/detr layout (what the released .pth files hold).

    ``model.backbone.model.*`` -> ``backbone.0.body.*``; ``model.input_projection`` -> ``input_proj``;
    ``model.query_position_embeddings`` -> ``query_embed``; per layer ``{self_attn,encoder_attn}.{q,k,v}_proj``
    -> packed ``{self_attn,multihead_attn}.in_proj_{weight,bias}`` (q, k, v rows), ``o_proj`` -> ``out_proj``,
    ``mlp.fc1/fc2`` -> ``linear1/linear2``, layer norms -> ``norm1..3`` in order of use;
    ``model.decoder.layernorm`` -> ``transformer.decoder.norm``; ``class_labels_classifier`` -> ``class_embed``;
    ``bbox_predictor`` -> ``bbox_embed``.
    """
    norms = {"encoder": {"self_attn_layer_norm": "norm1", "final_layer_norm": "norm2"},
             "decoder": {"self_attn_layer_norm": "norm1", "encoder_attn_layer_norm": "norm2", "final_layer_norm": "norm3"}}
    out, packed = {}, {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        m = re.match(r"model\.(encoder|decoder)\.layers\.(\d+)\.(.+)$", key)
        if m:
            part, i, rest = m.groups()
            prefix = f"transformer.{part}.layers.{i}."
            a = re.match(r"(self_attn|encoder_attn)\.([qkvo])_proj\.(weight|bias)$", rest)
            if a:
                attn = "multihead_attn" if a.group(1) == "encoder_attn" else "self_attn"
                if a.group(2) == "o":
                    out[f"{prefix}{attn}.out_proj.{a.group(3)}"] = value
                else:
                    packed.setdefault(f"{prefix}{attn}.in_proj_{a.group(3)}", {})[a.group(2)] = value
                continue
            n = re.match(r"(\w+_layer_norm)\.(weight|bias)$", rest)
            if n:
                out[f"{prefix}{norms[part][n.group(1)]}.{n.group(2)}"] = value
                continue
            out[prefix + rest.replace("mlp.fc1.", "linear1.").replace("mlp.fc2.", "linear2.")] = value
            continue
        for old, new in (("model.backbone.model.", "backbone.0.body."), ("model.input_projection.", "input_proj."),
                         ("model.query_position_embeddings.", "query_embed."), ("model.decoder.layernorm.", "transformer.decoder.norm."),
                         ("class_labels_classifier.", "class_embed."), ("bbox_predictor.", "bbox_embed.")):
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            raise KeyError(f"unmapped transformers key {key}")
    for key, parts in packed.items():
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def _hf_detr(seed=0, **cfg):
    """transformers' DETR (timm ResNet-50, frozen BN, no pretrained download) with seeded random weights and statistics."""
    from transformers import DetrConfig, DetrForObjectDetection  # test-only reference: the [dev] extra

    torch.manual_seed(seed)
    config = DetrConfig(use_timm_backbone=True, use_pretrained_backbone=False, backbone="resnet50", auxiliary_loss=False, **cfg)
    model = DetrForObjectDetection(config).eval()
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.normal_(0, 0.1)
            elif "norm" in name or ".bn" in name or "downsample.1" in name:  # norm weights around 1
                t.normal_(1, 0.1)
            elif "query_position" in name:
                t.normal_(0, 1)
            elif t.ndim >= 2 and "backbone" not in name:  # unit-gain weights: attention far from uniform
                t.normal_(0, t[0].numel() ** -0.5)
    return model


def _hf_kwargs(config_args):
    return dict(num_labels=config_args["num_classes"], num_queries=config_args["num_queries"], d_model=config_args["hidden_dim"],
                encoder_attention_heads=config_args["nheads"], decoder_attention_heads=config_args["nheads"],
                encoder_layers=config_args["enc_layers"], decoder_layers=config_args["dec_layers"],
                encoder_ffn_dim=config_args["dim_feedforward"], decoder_ffn_dim=config_args["dim_feedforward"])


def _official_checkpoint(hf, path):
    torch.save({"model": hf_to_official(hf.state_dict()), "epoch": 499}, path)
    return path


def test_parity_with_transformers_on_two_differently_sized_images(tmp_path):
    hf = _hf_detr(**_hf_kwargs(TINY))
    ckpt = _official_checkpoint(hf, tmp_path / "detr.pth")
    ours = vz.create_model("detr", backbone="resnet50", checkpoint_path=str(ckpt), **TINY).eval()
    torch.manual_seed(1)
    images = [torch.randn(3, 96, 128), torch.randn(3, 128, 72)]
    pixel_values = torch.zeros(2, 3, 128, 128)
    pixel_mask = torch.zeros(2, 128, 128, dtype=torch.long)
    for i, img in enumerate(images):
        pixel_values[i, :, : img.shape[1], : img.shape[2]] = img
        pixel_mask[i, : img.shape[1], : img.shape[2]] = 1
    with torch.no_grad():
        ref = hf(pixel_values=pixel_values, pixel_mask=pixel_mask)
        out = ours(images)
        out_tensor = ours(pixel_values, mask=pixel_mask == 0)
    scale = max(1.0, ref.logits.abs().max().item())
    assert (out["pred_logits"] - ref.logits).abs().max().item() / scale <= 1e-4
    assert (out["pred_boxes"] - ref.pred_boxes).abs().max().item() <= 1e-4
    assert torch.equal(out["pred_logits"], out_tensor["pred_logits"])  # a list is the padded batch with its mask
    # the mask matters: treating the padding as image changes the result
    with torch.no_grad():
        unmasked = ours(pixel_values)
    assert (unmasked["pred_logits"] - out["pred_logits"]).abs().max() > 1e-2
    assert out["pred_logits"].std(dim=1).min() > 1e-2  # queries differ: the comparison is not dominated by biases


def test_official_full_size_release_loads_strictly_and_matches(tmp_path, monkeypatch):
    """An official-layout DETR-R50 file placed in the cache loads through pretrained=True (the catalog entry)."""
    monkeypatch.setenv("VISIONZOO_HOME", str(tmp_path))
    name_tag, entry = weight_entry("detr_r50")
    hf = _hf_detr(seed=2, num_labels=91)
    ckpt = hub.cached_weight_path(name_tag, entry)
    ckpt.parent.mkdir(parents=True)
    _official_checkpoint(hf, ckpt)
    assert ckpt.name == "detr-r50-e632da11.pth"
    official = torch.load(ckpt, weights_only=True)["model"]
    assert "transformer.encoder.layers.5.self_attn.in_proj_weight" in official and "bbox_embed.layers.2.bias" in official
    model = vz.create_model("detr_r50", pretrained=True).eval()
    assert detect_source(model, official) == "facebookresearch"
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        ref, out = hf(pixel_values=x), model(x)
    assert out["pred_logits"].shape == (1, 100, 92) and len(out["aux_outputs"]) == 5
    assert (out["pred_logits"] - ref.logits).abs().max().item() / max(1.0, ref.logits.abs().max().item()) <= 1e-4
    assert (out["pred_boxes"] - ref.pred_boxes).abs().max().item() <= 1e-4
    # another class count keeps a fresh class head and loads everything else
    three = vz.create_model("detr_r50", pretrained=True, num_classes=3)
    assert three.class_embed.out_features == 4
    assert torch.equal(three.bbox_embed.layers[2].weight, official["bbox_embed.layers.2.weight"])


def test_wrong_variant_checkpoint_lists_mismatches(tmp_path):
    hf = _hf_detr(**_hf_kwargs(TINY))
    ckpt = _official_checkpoint(hf, tmp_path / "detr.pth")
    with pytest.raises((RuntimeError, ValueError), match="transformer.decoder.layers.2"):
        vz.create_model("detr", backbone="resnet50", checkpoint_path=str(ckpt), **{**TINY, "dec_layers": 3})


def test_aux_outputs_are_the_shallower_decoders_outputs():
    torch.manual_seed(0)
    model = vz.create_model("detr", backbone="resnet18", **{**TINY, "dec_layers": 3}).eval()
    shallow = vz.create_model("detr", backbone="resnet18", **{**TINY, "dec_layers": 2}).eval()
    shallow.load_state_dict({k: v for k, v in model.state_dict().items() if "decoder.layers.2." not in k})
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out, ref = model(x), shallow(x)
    assert len(out["aux_outputs"]) == 2
    torch.testing.assert_close(out["aux_outputs"][1]["pred_logits"], ref["pred_logits"], atol=1e-5, rtol=0)
    torch.testing.assert_close(out["aux_outputs"][0]["pred_boxes"], ref["aux_outputs"][0]["pred_boxes"], atol=1e-5, rtol=0)
    no_aux = vz.create_model("detr", backbone="resnet18", aux_loss=False, **TINY)
    assert "aux_outputs" not in no_aux(x)


def test_resnet_backbone_frozen_bn_and_frozen_stem():
    model = vz.create_model("detr", backbone="resnet18", **TINY)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert isinstance(model.backbone.bn1, FrozenBatchNorm2d) and model.backbone.bn1.eps == 1e-5
    grads = {n: p.requires_grad for n, p in model.backbone.named_parameters()}
    assert not grads["conv1.weight"] and not grads["layer1.0.conv1.weight"]
    assert grads["layer2.0.conv1.weight"] and grads["layer4.1.conv2.weight"]
    assert all(p.requires_grad for n, p in model.named_parameters() if not n.startswith("backbone."))
    out = model([torch.randn(3, 64, 48), torch.randn(3, 40, 64)])
    sum(v.sum() for k, v in out.items() if k != "aux_outputs").backward()
    assert model.backbone.conv1.weight.grad is None and model.backbone.layer2[0].conv1.weight.grad is not None
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"trainable parameters without gradient (DDP would need find_unused_parameters): {unused}"
    frozen = vz.create_model("detr", backbone="resnet18", train_backbone=False, frozen_bn=False, **TINY)
    assert isinstance(frozen.backbone.bn1, torch.nn.BatchNorm2d)
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    scratch = vz.create_model("detr", backbone="resnet18", frozen_bn=False, **TINY)  # trains every layer and BN
    assert all(p.requires_grad for p in scratch.backbone.parameters()) and isinstance(scratch.backbone.bn1, torch.nn.BatchNorm2d)
    bn_only = vz.create_model("detr", backbone="resnet18", freeze_stem=False, **TINY)
    assert isinstance(bn_only.backbone.bn1, FrozenBatchNorm2d) and bn_only.backbone.conv1.weight.requires_grad


def test_swin_backbone():
    model = vz.create_model("detr", backbone="swin_tiny_patch4_window7_224", backbone_kwargs=dict(depths=(1, 1, 1, 1)), **TINY)
    assert model.num_channels == 768
    assert all(p.requires_grad for p in model.backbone.parameters())  # no BN to freeze, nothing frozen
    out = model([torch.randn(3, 80, 64), torch.randn(3, 64, 96)])
    assert out["pred_logits"].shape == (2, 7, 6) and out["pred_boxes"].shape == (2, 7, 4)
    gray = vz.create_model("detr", backbone="swin_tiny_patch4_window7_224", in_chans=1, backbone_kwargs=dict(depths=(1, 1, 1, 1)), **TINY)
    assert gray.backbone.in_chans == 1 and gray(torch.randn(1, 1, 64, 64))["pred_boxes"].shape == (1, 7, 4)
    assert ((out["pred_boxes"] > 0) & (out["pred_boxes"] < 1)).all()


def test_r50_r101_configs():
    model = vz.create_model("detr_r50")
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n == 41_302_368  # the official training log's n_parameters for DETR-R50
    assert model.query_embed.weight.shape == (100, 256) and model.class_embed.out_features == 92
    assert len(model.transformer.encoder.layers) == 6 and len(model.transformer.decoder.layers) == 6
    with pytest.raises(ValueError, match="resnet50 backbone"):
        vz.create_model("detr_r50", backbone="resnet18")
    assert vz.get_pretrained_cfg("detr_r101.fb_coco")["metrics"]["coco_val2017_box_ap"] == 43.5


@pytest.mark.parametrize(
    "images, mask, match",
    [
        (torch.randn(2, 1, 32, 32), None, "3 input channels"),
        (torch.randn(3, 32, 32), None, "4D input"),
        ([torch.randn(3, 32, 32), torch.randn(1, 32, 32)], None, r"image 1 of the list must be a \(3, H, W\)"),
        ([], None, "empty list"),
        ([torch.randn(3, 32, 32)], torch.zeros(1, 32, 32, dtype=torch.bool), "only with a batch tensor"),
        (torch.randn(2, 3, 32, 32), torch.zeros(2, 32, 31, dtype=torch.bool), "mask must be a bool tensor of shape"),
        (torch.randn(2, 3, 32, 32), torch.zeros(2, 32, 32), "mask must be a bool tensor"),
    ],
)
def test_bad_input(images, mask, match):
    model = vz.create_model("detr", backbone="resnet18", **TINY)
    with pytest.raises(ValueError, match=match):
        model(images, mask=mask)


def test_bad_configuration():
    with pytest.raises(ValueError, match="divisible"):
        DETR("resnet18", hidden_dim=30, nheads=4)
    with pytest.raises(ValueError, match="forward_intermediates"):
        DETR(torch.nn.Conv2d(3, 8, 3))


def test_converter_splits_packed_projections_and_own_checkpoints_round_trip(tmp_path):
    model = vz.create_model("detr", backbone="resnet18", **TINY)
    packed = torch.arange(3 * 64 * 64, dtype=torch.float32).view(192, 64)
    official = {"transformer.decoder.layers.1.multihead_attn.in_proj_weight": packed,
                "transformer.decoder.layers.1.multihead_attn.in_proj_bias": torch.arange(192.0),
                "transformer.encoder.layers.0.linear2.weight": torch.zeros(64, 128),
                "backbone.0.body.layer1.0.bn1.running_var": torch.ones(64)}
    out = convert_state_dict(model, official)
    assert sorted(out) == sorted([
        "transformer.decoder.layers.1.cross_attn.q_proj.weight", "transformer.decoder.layers.1.cross_attn.k_proj.weight",
        "transformer.decoder.layers.1.cross_attn.v_proj.weight", "transformer.decoder.layers.1.cross_attn.q_proj.bias",
        "transformer.decoder.layers.1.cross_attn.k_proj.bias", "transformer.decoder.layers.1.cross_attn.v_proj.bias",
        "transformer.encoder.layers.0.mlp.fc2.weight", "backbone.layer1.0.bn1.running_var"])
    assert torch.equal(out["transformer.decoder.layers.1.cross_attn.k_proj.weight"], packed[64:128])
    assert torch.equal(out["transformer.decoder.layers.1.cross_attn.v_proj.bias"], torch.arange(128.0, 192.0))
    # visionzoo's own state dict is recognised as such and loads unchanged
    torch.save(model.state_dict(), tmp_path / "ours.pth")
    assert detect_source(model, model.state_dict()) == "visionzoo"
    again = vz.create_model("detr", backbone="resnet18", checkpoint_path=str(tmp_path / "ours.pth"), **TINY)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_train_step_benchmark_reports_phases():
    from visionzoo.cli.benchmarking.detr import time_train_step
    from visionzoo.heads.detr import SetCriterion

    model = vz.create_model("detr", backbone="resnet18", **TINY)
    criterion = SetCriterion(TINY["num_classes"])
    result = time_train_step(model, batch_size=2, img_size=(64, 64), runs=1, warmup=0, threads=1, criterion=criterion)
    assert result["step_ms"] > 0 and 0 < result["matcher_ms"] < result["step_ms"]
    assert result["forward_ms"] + result["backward_ms"] < result["step_ms"] + 1e-6
    assert "forward" not in vars(criterion.matcher)  # the timing wrapper is removed again
