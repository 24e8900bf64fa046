"""Multi-scale deformable attention against a naive loop (bilinear sampling written out per query, head, level and
point), forward and gradients; padding masks, box reference points, the paper's initialisation, the token-mixer
form and ONNX export."""
import math

import pytest
import torch

from visionzoo.layers.attention import (DeformableSelfAttention, MultiScaleDeformableAttention,
                                        multi_scale_deformable_attention)

SHAPES = [(4, 5), (3, 2), (1, 3)]


def naive_deformable_attention(value, shapes, locations, weights):
    """Zero-padded bilinear sampling with align_corners=False, one sample at a time (differentiable in all inputs)."""
    b, _, heads, head_dim = value.shape
    _, q, _, levels, points, _ = locations.shape
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = []
    for bi in range(b):
        rows = []
        for qi in range(q):
            per_head = []
            for hi in range(heads):
                acc = value.new_zeros(head_dim)
                for li, (h, w) in enumerate(shapes):
                    for pi in range(points):
                        x = locations[bi, qi, hi, li, pi, 0] * w - 0.5
                        y = locations[bi, qi, hi, li, pi, 1] * h - 0.5
                        x0, y0 = math.floor(x.item()), math.floor(y.item())
                        sample = value.new_zeros(head_dim)
                        for xi in (x0, x0 + 1):
                            for yi in (y0, y0 + 1):
                                if 0 <= xi < w and 0 <= yi < h:
                                    corner = (1 - (x - xi).abs()) * (1 - (y - yi).abs())
                                    sample = sample + corner * value[bi, starts[li] + yi * w + xi, hi]
                        acc = acc + weights[bi, qi, hi, li, pi] * sample
                per_head.append(acc)
            rows.append(torch.cat(per_head))
        out.append(torch.stack(rows))
    return torch.stack(out)


def _inputs(seed=0, b=2, q=5, heads=2, head_dim=3, points=2):
    g = torch.Generator().manual_seed(seed)
    s = sum(h * w for h, w in SHAPES)
    value = torch.randn(b, s, heads, head_dim, generator=g, dtype=torch.float64)
    locations = torch.rand(b, q, heads, len(SHAPES), points, 2, generator=g, dtype=torch.float64) * 1.4 - 0.2  # some outside
    weights = torch.rand(b, q, heads, len(SHAPES), points, generator=g, dtype=torch.float64)
    return value, locations, weights / weights.sum((-1, -2), keepdim=True)


def test_core_matches_the_naive_loop_forward_and_backward():
    inputs = [t.requires_grad_() for t in _inputs()]
    fast = multi_scale_deformable_attention(inputs[0], SHAPES, inputs[1], inputs[2])
    grad_out = torch.randn_like(fast)
    fast_grads = torch.autograd.grad(fast, inputs, grad_out)
    slow = naive_deformable_attention(inputs[0], SHAPES, inputs[1], inputs[2])
    slow_grads = torch.autograd.grad(slow, inputs, grad_out)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-10)
    for name, a, b in zip(("value", "locations", "weights"), fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9, msg=f"gradient of {name}")


def test_fp32_core_within_1e5_of_the_naive_loop():
    value, locations, weights = (t.float() for t in _inputs(seed=1))
    out = multi_scale_deformable_attention(value, torch.tensor(SHAPES), locations, weights)
    ref = naive_deformable_attention(value.double(), SHAPES, locations.double(), weights.double())
    assert (out.double() - ref).abs().max() <= 1e-5


def test_module_padding_mask_and_box_references():
    torch.manual_seed(0)
    attn = MultiScaleDeformableAttention(dim=16, num_heads=2, num_levels=3, num_points=2).double()
    for p in (attn.sampling_offsets.weight, attn.attention_weights.weight):
        torch.nn.init.normal_(p, std=0.1)
    s = sum(h * w for h, w in SHAPES)
    query, value = torch.randn(2, 5, 16, dtype=torch.float64), torch.randn(2, s, 16, dtype=torch.float64)
    points = torch.rand(2, 5, 3, 2, dtype=torch.float64)
    out = attn(query, points, value, SHAPES)
    # the same computation spelled out through the naive loop
    offsets = attn.sampling_offsets(query).view(2, 5, 2, 3, 2, 2)
    scale = torch.tensor([[w, h] for h, w in SHAPES], dtype=torch.float64).view(1, 1, 1, 3, 1, 2)
    weights = attn.attention_weights(query).view(2, 5, 2, 6).softmax(-1).view(2, 5, 2, 3, 2)
    locations = points[:, :, None, :, None, :] + offsets / scale
    ref = attn.output_proj(naive_deformable_attention(attn.value_proj(value).view(2, s, 2, 8), SHAPES, locations, weights))
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-10)
    # padding: masked values never contribute, whatever they hold
    mask = torch.zeros(2, s, dtype=torch.bool)
    mask[1, 7:20] = True
    noisy = value.clone()
    noisy[mask] = 1e6
    torch.testing.assert_close(attn(query, points, noisy, SHAPES, mask), attn(query, points, value, SHAPES, mask))
    assert not torch.allclose(attn(query, points, value, SHAPES, mask)[1], out[1])
    # (cx, cy, w, h) boxes: offsets scaled by half the box over the number of points
    boxes = torch.cat([points, torch.rand(2, 5, 3, 2, dtype=torch.float64) * 0.5], dim=-1)
    locations = boxes[:, :, None, :, None, :2] + offsets / 2 * boxes[:, :, None, :, None, 2:] * 0.5
    ref = attn.output_proj(naive_deformable_attention(attn.value_proj(value).view(2, s, 2, 8), SHAPES, locations, weights))
    torch.testing.assert_close(attn(query, boxes, value, SHAPES), ref, rtol=0, atol=1e-10)


def test_initialisation_points_each_head_its_own_way_with_equal_weights():
    attn = MultiScaleDeformableAttention(dim=32, num_heads=8, num_levels=2, num_points=3)
    bias = attn.sampling_offsets.bias.view(8, 2, 3, 2)
    assert torch.equal(bias[:, 0], bias[:, 1])  # the same on every level
    torch.testing.assert_close(bias[2, 0, 0], torch.tensor([0.0, 1.0]), atol=1e-6, rtol=0)  # head 2 of 8: 90 degrees
    torch.testing.assert_close(bias[0, 0], torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]))  # points 1, 2, 3 away
    assert not attn.attention_weights.weight.any() and not attn.attention_weights.bias.any()


def test_bad_shapes_are_one_clear_error():
    attn = MultiScaleDeformableAttention(dim=8, num_heads=2, num_levels=2, num_points=1)
    value = torch.randn(1, 20 + 6, 8)
    with pytest.raises(ValueError, match="2 levels, got spatial_shapes"):
        attn(torch.randn(1, 3, 8), torch.rand(1, 3, 2), value, [(4, 5)])
    with pytest.raises(ValueError, match="value has 26 tokens but the levels"):
        attn(torch.randn(1, 3, 8), torch.rand(1, 3, 2), value, [(4, 5), (2, 2)])
    with pytest.raises(ValueError, match="reference_points must be"):
        attn(torch.randn(1, 3, 8), torch.rand(1, 3, 3, 2), value, [(4, 5), (3, 2)])


def test_token_mixer_samples_around_each_token():
    """At initialisation offsets are whole tokens, so a point one token away reads that token exactly."""
    torch.manual_seed(0)
    mixer = DeformableSelfAttention(dim=8, num_heads=4, num_points=1)
    x = torch.randn(2, 6 * 7, 8)
    out = mixer(x, (6, 7))
    assert out.shape == x.shape
    values = mixer.value_proj(x).view(2, 6, 7, 4, 2)
    shifted = torch.zeros_like(values)  # head 0 reads the right neighbour (zero past the edge), head 1 the lower one
    shifted[:, :, :-1, 0] = values[:, :, 1:, 0]
    shifted[:, :-1, :, 1] = values[:, 1:, :, 1]
    shifted[:, :, 1:, 2] = values[:, :, :-1, 2]
    shifted[:, 1:, :, 3] = values[:, :-1, :, 3]
    torch.testing.assert_close(out, mixer.output_proj(shifted.reshape(2, 42, 8)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="2D token grids"):
        mixer(x, (6, 7, 1))


def test_exports_to_onnx_and_matches_in_onnxruntime(tmp_path):
    pytest.importorskip("onnxruntime")
    import visionzoo as vz

    class Pyramid(torch.nn.Module):  # two levels from one image: the decoder's use, with a padding mask
        def __init__(self):
            super().__init__()
            self.attn = MultiScaleDeformableAttention(dim=8, num_heads=2, num_levels=2, num_points=3)
            self.query = torch.nn.Parameter(torch.randn(5, 8))
            self.points = torch.nn.Parameter(torch.rand(5, 2))
            for p in (self.attn.sampling_offsets.weight, self.attn.attention_weights.weight):
                torch.nn.init.normal_(p, std=0.2)

        def forward(self, x, mask):
            coarse = torch.nn.functional.avg_pool2d(x, 2)
            value = torch.cat([x.flatten(2), coarse.flatten(2)], dim=2).transpose(1, 2)
            padding = torch.cat([mask.flatten(1), mask[:, ::2, ::2].flatten(1)], dim=1)
            b = x.shape[0]
            shapes = [tuple(x.shape[2:]), tuple(coarse.shape[2:])]
            return self.attn(self.query.expand(b, -1, -1), self.points.expand(b, -1, -1), value, shapes, padding)

    torch.manual_seed(0)
    model = Pyramid().eval()
    x = torch.randn(2, 8, 8, 10)
    mask = torch.zeros(2, 8, 10, dtype=torch.bool)
    mask[1, :, 6:] = True
    report = vz.export_onnx(model, tmp_path / "msda.onnx", x, extra_inputs={"mask": mask}, benchmark=False,
                            verbose=False, optimize=False, check_size=False)
    assert all(c["passed"] for c in report.checks)
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "msda.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy(), "mask": mask.numpy()})[0]
    with torch.no_grad():
        assert abs(got - model(x, mask).numpy()).max() < 1e-5
