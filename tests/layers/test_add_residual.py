"""add_residual writes into the branch only when nothing watches and the sum keeps the branch's dtype."""
import torch

from visionzoo.layers.microbatch import add_residual


def test_in_place_without_autograd_and_equal_values():
    x, branch = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    expected = x + branch
    with torch.no_grad():
        out = add_residual(branch, x)
    assert out is branch and torch.equal(out, expected)


def test_out_of_place_under_autograd_or_a_wider_residual_dtype():
    x = torch.randn(2, 5, 4, requires_grad=True)
    branch = torch.randn(2, 5, 4)
    out = add_residual(branch, x)
    assert out is not branch and out.requires_grad
    with torch.no_grad():
        low = torch.randn(2, 5, 4, dtype=torch.bfloat16)
        wide = add_residual(low, x.detach())  # bf16 branch on an fp32 stream: the sum stays fp32
    assert wide is not low and wide.dtype == torch.float32
