"""Patch embedding (2D/3D, padding, input checks) and position-embedding resampling."""
import pytest
import torch
import torch.nn.functional as F

from visionzoo.layers import PatchEmbed, resample_abs_pos_embed


def test_patch_embed_2d_is_a_strided_conv_over_patches():
    embed = PatchEmbed(patch_size=4, in_chans=3, embed_dim=5)
    x = torch.randn(2, 3, 8, 12)
    tokens, grid = embed(x)
    assert grid == (2, 3) and tokens.shape == (2, 6, 5)
    # token (row 1, col 2) is the projection of the pixel block [4:8, 8:12]
    block = x[:, :, 4:8, 8:12]
    expected = (block.flatten(1) @ embed.proj.weight.flatten(1).T) + embed.proj.bias
    torch.testing.assert_close(tokens[:, 1 * 3 + 2], expected, atol=1e-5, rtol=1e-5)


def test_patch_embed_pads_sizes_that_are_not_multiples():
    embed = PatchEmbed(patch_size=4, in_chans=1, embed_dim=3)
    x = torch.randn(1, 1, 9, 6)
    tokens, grid = embed(x)
    assert grid == (3, 2)
    padded, _ = embed(F.pad(x, (0, 2, 0, 3)))
    torch.testing.assert_close(tokens, padded)


def test_patch_embed_3d():
    embed = PatchEmbed(patch_size=2, in_chans=4, embed_dim=6, spatial_dims=3)
    tokens, grid = embed(torch.randn(1, 4, 4, 6, 8))
    assert grid == (2, 3, 4) and tokens.shape == (1, 24, 6)


@pytest.mark.parametrize(
    "x,match",
    [
        (torch.randn(3, 32, 32), "Add the batch dimension"),
        (torch.randn(1, 1, 32, 32), "expected 3 input channels, got 1.*in_chans=1"),
        (torch.randn(1, 32, 32, 3), "channels-last"),
        (torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), "floating-point"),
        (torch.randn(1, 3, 8, 32), "smaller than one patch"),
    ],
)
def test_patch_embed_bad_input_errors_name_the_fix(x, match):
    with pytest.raises(ValueError, match=match):
        PatchEmbed(patch_size=16, in_chans=3, embed_dim=8)(x)


def test_resample_2d_keeps_prefix_and_matches_timm():
    from timm.layers import resample_abs_pos_embed as timm_resample

    pos = torch.randn(1, 1 + 4 * 4, 8)
    out = resample_abs_pos_embed(pos, (6, 3), (4, 4), num_prefix_tokens=1)
    assert out.shape == (1, 1 + 18, 8)
    torch.testing.assert_close(out[:, :1], pos[:, :1])
    torch.testing.assert_close(out, timm_resample(pos, [6, 3], [4, 4], num_prefix_tokens=1))
    assert resample_abs_pos_embed(pos, (4, 4), (4, 4), 1) is pos


def test_resample_3d_trilinear_preserves_constants_and_shape():
    pos = torch.ones(1, 2 * 2 * 2, 4) * 3.0
    out = resample_abs_pos_embed(pos, (3, 4, 5), (2, 2, 2))
    assert out.shape == (1, 60, 4)
    torch.testing.assert_close(out, torch.full_like(out, 3.0))
