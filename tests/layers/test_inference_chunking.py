"""Inference fast paths (row-chunked MLP, micro-batched stages) give the plain forward's result."""
import torch

import visionzoo as vz
from visionzoo.layers import Mlp, autograd_free, map_microbatches

from ..conftest import randomize_


def test_mlp_chunked_inference_equals_plain_forward():
    mlp = Mlp(32, 512).eval()
    x = torch.randn(3, 3000, 32)  # hidden 3*3000*512*4 B = 18 MB: above the chunking threshold
    with torch.no_grad():
        chunked = mlp(x)
    with torch.enable_grad():
        plain = mlp(x)
    assert plain.requires_grad and not chunked.requires_grad
    torch.testing.assert_close(chunked, plain.detach(), atol=1e-6, rtol=1e-5)


def test_map_microbatches_splits_only_without_autograd():
    calls = []

    def fn(chunk):
        calls.append(chunk.shape[0])
        return chunk * 2

    x = torch.randn(8, 1024, 512)  # 16 MB
    with torch.no_grad():
        assert autograd_free()
        torch.testing.assert_close(map_microbatches(fn, x), x * 2)
    assert len(calls) > 1 and sum(calls) == 8
    calls.clear()
    map_microbatches(fn, x)  # grad mode: one call
    assert calls == [8]


def test_swin_micro_batched_inference_equals_training_graph_forward():
    model = randomize_(vz.create_model("swin_tiny_patch4_window7_224", embed_dim=48, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8)))
    model.eval()
    x = torch.randn(8, 3, 224, 224)  # stage 1: 8 x 3136 x 48 floats = 4.8 MB per activation
    with torch.no_grad():
        fast = model(torch.cat([x, x]))  # 16 images: 9.6 MB, split into micro-batches
    slow = model(x)
    torch.testing.assert_close(fast[:8], slow.detach(), atol=1e-5, rtol=1e-5)


def test_mlp_matches_formula_and_timm_names():
    mlp = Mlp(6, 10, out_features=4).eval()
    x = torch.randn(2, 5, 6)
    expected = torch.nn.functional.gelu(x @ mlp.fc1.weight.T + mlp.fc1.bias) @ mlp.fc2.weight.T + mlp.fc2.bias
    torch.testing.assert_close(mlp(x), expected, atol=1e-6, rtol=1e-5)
    assert set(mlp.state_dict()) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
