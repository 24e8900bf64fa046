"""DETR head layers: sine position embedding with padding masks, transformer layers against torch's, box MLP, post-processing."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from visionzoo.heads.detr import MLP, DETRDecoderLayer, DETREncoderLayer, DETRTransformer, PositionEmbeddingSine, PostProcess, postprocess


def _naive_sine(valid_h, valid_w, h, w, feats, temperature=10000.0):
    """Embedding of pixel (y, x) of a valid_h x valid_w image inside an h x w padded canvas, written out per element."""
    pos = torch.zeros(2 * feats, h, w)
    for y in range(h):
        for x in range(w):
            cy = min(y + 1, valid_h) if x < valid_w else 0.0
            cx = min(x + 1, valid_w) if y < valid_h else 0.0
            ny = cy / (valid_h + 1e-6) * 2 * math.pi
            nx = cx / (valid_w + 1e-6) * 2 * math.pi
            for i in range(feats):
                div = temperature ** (2 * (i // 2) / feats)
                f = math.sin if i % 2 == 0 else math.cos
                pos[i, y, x] = f(ny / div)
                pos[feats + i, y, x] = f(nx / div)
    return pos


def test_sine_embedding_matches_formula_and_ignores_padding():
    feats = 6
    mask = torch.ones(2, 5, 7, dtype=torch.bool)
    mask[0, :5, :7] = False
    mask[1, :3, :4] = False  # second image: 3 x 4, padded bottom-right
    pos = PositionEmbeddingSine(feats)(torch.zeros(2, 1, 5, 7), mask)
    assert pos.shape == (2, 2 * feats, 5, 7)
    torch.testing.assert_close(pos[0], _naive_sine(5, 7, 5, 7, feats), atol=1e-5, rtol=0)
    naive = _naive_sine(3, 4, 5, 7, feats)
    torch.testing.assert_close(pos[1, :, :3, :4], naive[:, :3, :4], atol=1e-5, rtol=0)
    # the valid region equals the embedding of the image alone: padding does not shift positions
    alone = PositionEmbeddingSine(feats)(torch.zeros(1, 1, 3, 4))
    torch.testing.assert_close(pos[1:, :, :3, :4], alone, atol=1e-6, rtol=0)
    # no mask = all valid
    torch.testing.assert_close(PositionEmbeddingSine(feats)(torch.zeros(2, 1, 5, 7)), pos[:1].expand(2, -1, -1, -1))


def test_sine_embedding_errors():
    with pytest.raises(ValueError, match="mask must have shape"):
        PositionEmbeddingSine(4)(torch.zeros(2, 1, 5, 7), torch.zeros(2, 5, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="normalize=True"):
        PositionEmbeddingSine(4, normalize=False, scale=1.0)


def _torch_mha(ours):
    """torch.nn.MultiheadAttention holding the same weights as our MultiHeadAttention (packed in_proj)."""
    dim = ours.q_proj.in_features
    mha = nn.MultiheadAttention(dim, ours.num_heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
        mha.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        mha.out_proj.load_state_dict(ours.proj.state_dict())
    return mha


def _randomise(module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.3)


def test_encoder_layer_matches_reference_formula():
    torch.manual_seed(0)
    layer = DETREncoderLayer(16, 4, 32, dropout=0.1).eval()
    _randomise(layer)
    mha = _torch_mha(layer.self_attn).eval()
    src, pos = torch.randn(2, 9, 16), torch.randn(2, 9, 16)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[1, 6:] = True
    ref = layer.norm1(src + mha(src + pos, src + pos, src, key_padding_mask=pad)[0])
    ref = layer.norm2(ref + layer.mlp.fc2(F.relu(layer.mlp.fc1(ref))))
    torch.testing.assert_close(layer(src, pos, pad), ref, atol=1e-5, rtol=0)


def test_decoder_layer_matches_reference_formula():
    torch.manual_seed(1)
    layer = DETRDecoderLayer(16, 4, 32, dropout=0.1).eval()
    _randomise(layer)
    self_mha, cross_mha = _torch_mha(layer.self_attn).eval(), _torch_mha(layer.cross_attn).eval()
    tgt, query_pos = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    memory, pos = torch.randn(2, 9, 16), torch.randn(2, 9, 16)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[0, 4:] = True
    x = layer.norm1(tgt + self_mha(tgt + query_pos, tgt + query_pos, tgt)[0])
    x = layer.norm2(x + cross_mha(x + query_pos, memory + pos, memory, key_padding_mask=pad)[0])
    ref = layer.norm3(x + layer.mlp.fc2(F.relu(layer.mlp.fc1(x))))
    torch.testing.assert_close(layer(tgt, memory, pos, query_pos, pad), ref, atol=1e-5, rtol=0)


def test_transformer_shapes_intermediates_and_init():
    torch.manual_seed(0)
    tr = DETRTransformer(32, 4, 2, 3, 64).eval()
    src, pos = torch.randn(2, 32, 3, 5), torch.randn(2, 32, 3, 5)
    hs, memory = tr(src, None, torch.randn(7, 32), pos)
    assert hs.shape == (3, 2, 7, 32) and memory.shape == (2, 32, 3, 5)
    # every intermediate went through the final LayerNorm
    torch.testing.assert_close(hs.mean(-1), torch.zeros(3, 2, 7), atol=1e-5, rtol=0)
    # official init: attention biases zero, q/k/v drawn with the packed (3C, C) Xavier bound
    attn = tr.encoder.layers[0].self_attn
    assert attn.q_proj.bias.abs().sum() == 0 and attn.proj.bias.abs().sum() == 0
    assert attn.q_proj.weight.abs().max() <= math.sqrt(6 / (4 * 32))
    with pytest.raises(ValueError, match="d_model=32"):
        tr(torch.randn(1, 16, 2, 2), None, torch.randn(7, 32), torch.randn(1, 16, 2, 2))


def test_box_mlp():
    mlp = MLP(8, 16, 4, 3)
    assert [(m.in_features, m.out_features) for m in mlp.layers] == [(8, 16), (16, 16), (16, 4)]
    x = torch.randn(5, 8)
    ref = mlp.layers[2](F.relu(mlp.layers[1](F.relu(mlp.layers[0](x)))))
    torch.testing.assert_close(mlp(x), ref)


def test_postprocess_scales_boxes_and_skips_no_object():
    logits = torch.tensor([[[0.0, 3.0, 5.0], [2.0, 1.0, 0.0]]])  # query 0: no-object most likely, still scored by class 1
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.4], [0.25, 0.75, 0.5, 0.5]]])
    (res,) = postprocess({"pred_logits": logits, "pred_boxes": boxes}, torch.tensor([[100, 200]]))
    prob = logits.softmax(-1)[0]
    assert res["labels"].tolist() == [1, 0]
    torch.testing.assert_close(res["scores"], torch.stack([prob[0, 1], prob[1, 0]]))
    torch.testing.assert_close(res["boxes"], torch.tensor([[80.0, 30.0, 120.0, 70.0], [0.0, 50.0, 100.0, 100.0]]))
    res2 = PostProcess()({"pred_logits": logits.repeat(2, 1, 1), "pred_boxes": boxes.repeat(2, 1, 1)}, torch.tensor([[100, 200], [10, 20]]))
    torch.testing.assert_close(res2[1]["boxes"], res["boxes"] / 10)
    with pytest.raises(ValueError, match=r"target_sizes must be \(B, 2\)"):
        postprocess({"pred_logits": logits, "pred_boxes": boxes}, torch.tensor([100, 200]))
