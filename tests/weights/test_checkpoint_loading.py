"""checkpoint_path=: publishers' layouts converted strictly, unsafe or broken files refused with clear errors."""
import re

import pytest
import torch
from safetensors.torch import save_file

import visionzoo as vz
from visionzoo.weights import CheckpointError

from ..backbones.timm_parity import timm_and_ours

SMALL_SWIN = dict(embed_dim=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8))


def _to_microsoft_layout(timm_state):
    """timm Swin -> the original release's names: merge at the end of the previous stage, plain `head`."""
    out = {}
    for key, value in timm_state.items():
        key = re.sub(r"^layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) - 1}.downsample", key)
        out[key.replace("head.fc.", "head.")] = value
    for key in list(out):  # the release also stored the recomputable buffers
        if key.endswith("relative_position_bias_table"):
            out[key.replace("relative_position_bias_table", "relative_position_index")] = torch.zeros(49, 49, dtype=torch.long)
    return out


def test_microsoft_swin_release_layout_loads_exactly(tmp_path):
    ref, _ = timm_and_ours("swin_tiny_patch4_window7_224", timm_kwargs=SMALL_SWIN, ours_kwargs=SMALL_SWIN)
    path = tmp_path / "swin_tiny_patch4_window7_224.pth"
    torch.save({"model": _to_microsoft_layout(ref.state_dict()), "epoch": 300}, path)
    ours = vz.create_model("swin_tiny_patch4_window7_224", checkpoint_path=str(path), **SMALL_SWIN).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() <= 1e-4


def test_timm_training_checkpoint_with_ddp_prefix_loads(tmp_path):
    kwargs = dict(depth=2)
    ref, _ = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=kwargs, ours_kwargs=kwargs)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}, "optimizer": {}}, path)
    ours = vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(path), **kwargs).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (ours(x) - ref(x)).abs().max() <= 1e-4


def test_safetensors_checkpoint_loads(tmp_path):
    ref, _ = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=dict(depth=1), ours_kwargs=dict(depth=1))
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    ours = vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(path), depth=1)
    torch.testing.assert_close(ours.pos_embed, ref.pos_embed)


def test_224_weights_into_384_model_resample_pos_embed(tmp_path):
    ref, _ = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=dict(depth=1), ours_kwargs=dict(depth=1))
    path = tmp_path / "vit224.pth"
    torch.save(ref.state_dict(), path)
    ours = vz.create_model("vit_tiny_patch16_384", checkpoint_path=str(path), depth=1)
    assert ours.pos_embed.shape == (1, 1 + 24 * 24, 192)


def test_checkpoint_for_another_variant_lists_keys_and_shapes(tmp_path):
    small = vz.create_model("vit_small_patch16_224", depth=2)
    path = tmp_path / "vit_small.pth"
    torch.save(small.state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(path), depth=3)
    message = str(err.value)
    assert "shape mismatches" in message and "cls_token: checkpoint (1, 1, 384) vs model (1, 1, 192)" in message
    assert "keys missing from the checkpoint" in message and "blocks.2.norm1.weight" in message
    assert "another architecture" in message


def test_checkpoint_for_another_family_is_refused(tmp_path):
    path = tmp_path / "swin.pth"
    torch.save({"model": vz.create_model("swin_tiny_patch4_window7_224", **SMALL_SWIN).state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"unexpected keys in the checkpoint: .*layers\.0\.blocks\.0"):
        vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(path), depth=1)


class _Exploit:
    """Unpickling this would create a marker file: a stand-in for arbitrary code execution."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_tampered_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    state = vz.create_model("vit_tiny_patch16_224", depth=1).state_dict()
    torch.save({"model": state, "payload": _Exploit(str(marker))}, path)
    with pytest.raises(CheckpointError, match="would run code"):
        vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(path), depth=1)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content,match",
    [(b"", "empty"), (b"this is a README, not weights\n" * 10, "not a PyTorch checkpoint"), (b"PK\x03\x04truncated", "corrupt")],
)
def test_files_that_are_not_checkpoints(tmp_path, content, match):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(path), depth=1)


def test_checkpoint_without_tensors(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"epoch": 3, "config": {"lr": 0.1}}, path)
    with pytest.raises(CheckpointError, match="holds no tensors"):
        vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(path), depth=1)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        vz.create_model("vit_tiny_patch16_224", checkpoint_path=str(tmp_path / "nope.pth"))
