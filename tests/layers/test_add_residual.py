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


def test_transformer_blocks_leave_hooked_outputs_alone():
    """Feature and attention-map tools keep the mixer's output from a forward hook: the residual add must not
    write into it (the conv blocks' in-place add follows MONAI, whose blocks update their outputs in place)."""
    import visionzoo as vz

    torch.manual_seed(0)
    model = vz.create_model("vit_tiny_patch16_224", depth=2, embed_dim=32, num_heads=2, img_size=32).eval()
    kept = {}
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        for module in (model.blocks[0].attn, model.blocks[0].attn.proj, model.blocks[1].mlp.fc2):
            kept.clear()
            handle = module.register_forward_hook(lambda m, i, o: kept.update(out=o, copy=o.clone()) or None)
            assert torch.equal(model(x), reference)  # and the in-place path (no hooks) gave the same logits
            handle.remove()
            assert torch.equal(kept["out"], kept["copy"]), module
