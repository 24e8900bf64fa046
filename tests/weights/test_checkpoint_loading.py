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


# ---- what tools/train.py writes: mmengine checkpoints of the engine wrappers (network under `net.`) ----

from visionzoo.weights.checkpoint import (  # noqa: E402
    checkpoint_meta,
    is_training_checkpoint,
    prepare_state_dict,
    trained_model_name,
    unwrap_state_dict,
)

_CFG_TEXT = (  # mmengine's pretty_text of a config: sorted keys, nested dicts indented
    "default_scope = 'visionzoo'\n"
    "model = dict(\n    depth=1,\n    kw=dict(name='inner'),\n    name='vit_tiny_patch16_224')\n"
    "other = dict(name='x')\n"
)


def _t(value: float) -> torch.Tensor:
    return torch.full((2,), value)


def _keys_and_values(sd):
    return {k: float(v[0]) for k, v in sd.items()}


@pytest.mark.parametrize(
    "obj,expected",
    [
        # mmengine training checkpoint of a Detector: the criterion's buffer and the preprocessor's are the wrapper's
        ({"meta": {"epoch": 2}, "state_dict": {"net.a": _t(1), "net.b.c": _t(2), "criterion.empty_weight": _t(9),
                                               "data_preprocessor.mean": _t(9)},
          "optimizer": {"state": {}}, "message_hub": {}}, {"a": 1, "b.c": 2}),
        # in a training checkpoint everything outside net. is the wrapper's, whatever its name
        ({"meta": {}, "state_dict": {"net.a": _t(1), "head_of_wrapper.w": _t(9)}}, {"a": 1}),
        # EMA (mmengine EMAHook): state_dict holds the averaged weights, ema_state_dict the raw ones
        ({"meta": {}, "state_dict": {"net.a": _t(5)},
          "ema_state_dict": {"steps": torch.tensor(3), "module.net.a": _t(1)}},
         {"a": 5}),
        # DDP prefix on top of the wrapper
        ({"meta": {}, "state_dict": {"module.net.a": _t(1), "module.loss_fn.w": _t(9)}}, {"a": 1}),
        # a bare torch.save(wrapper.state_dict()): net. plus only the wrapper's known parts
        ({"net.a": _t(1), "loss_fn.weight": _t(9), "criterion.empty_weight": _t(9)}, {"a": 1}),
        ({"net.a": _t(1)}, {"a": 1}),
        # a bare torch.save(network.state_dict())
        ({"a": _t(1), "b.c": _t(2)}, {"a": 1, "b.c": 2}),
        # not a wrapper: a network that has a `net` child next to others keeps its keys
        ({"net.a": _t(1), "head.w": _t(2)}, {"net.a": 1, "head.w": 2}),
        # another framework's mmengine checkpoint (mmdet-style keys) is left to the converters / strict loading
        ({"meta": {}, "state_dict": {"backbone.a": _t(1), "neck.b": _t(2)}}, {"backbone.a": 1, "neck.b": 2}),
    ],
)
def test_unwrap_takes_exactly_the_networks_weights(obj, expected):
    assert _keys_and_values(unwrap_state_dict(obj)) == expected


def test_training_checkpoint_is_recognised_by_meta_and_net_keys():
    assert is_training_checkpoint({"meta": {}, "state_dict": {"net.a": _t(1)}})
    assert is_training_checkpoint({"meta": {}, "state_dict": {"module.net.a": _t(1)}})
    assert not is_training_checkpoint({"state_dict": {"net.a": _t(1)}})  # no mmengine meta
    assert not is_training_checkpoint({"meta": {}, "state_dict": {"backbone.a": _t(1)}})
    kept = unwrap_state_dict({"meta": {}, "state_dict": {"net.a": _t(1)}}, network_prefix=None)
    assert _keys_and_values(kept) == {"net.a": 1}


def test_a_network_with_its_own_net_child_keeps_the_prefix():
    model = torch.nn.Module()
    model.net = torch.nn.Linear(2, 2)
    sd, layout, covers = prepare_state_dict(model, {"state_dict": model.state_dict()})
    assert set(sd) == {"net.weight", "net.bias"} and layout == "visionzoo" and covers == ()


def test_trained_model_name_reads_the_configs_model_dict():
    assert trained_model_name({"cfg": _CFG_TEXT}) == "vit_tiny_patch16_224"
    assert trained_model_name({"cfg": "model = dict(type='X', net=dict(name='inner'))\nname = 'top'\n"}) is None
    assert trained_model_name({"cfg": "model = dict(name='detr', num_classes=3)\n"}) == "detr"
    assert trained_model_name({}) is None and trained_model_name({"cfg": "x = 1\n"}) is None


def test_training_checkpoint_loads_and_its_meta_is_readable(tmp_path):
    net = vz.create_model("vit_tiny_patch16_224", depth=1)
    meta = {"cfg": _CFG_TEXT, "dataset_meta": {"classes": ("cat", "dog")}, "epoch": 2}
    path = tmp_path / "iter_8.pth"
    torch.save({"meta": meta, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()},
                "optimizer": {"state": {}, "param_groups": []}, "message_hub": {"log_scalars": {}}}, path)
    loaded = vz.create_model("vit_tiny_patch16_224", depth=1, checkpoint_path=str(path))
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert checkpoint_meta(path) == meta

    bare = tmp_path / "bare.pth"
    torch.save(net.state_dict(), bare)
    assert checkpoint_meta(bare) == {}
    with pytest.raises(FileNotFoundError):
        checkpoint_meta(tmp_path / "nope.pth")


def test_training_checkpoint_of_another_model_says_so_in_one_line(tmp_path):
    path = tmp_path / "latest.pth"
    net = vz.create_model("vit_tiny_patch16_224", depth=1)
    torch.save({"meta": {"cfg": _CFG_TEXT}, "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    with pytest.raises(CheckpointError) as err:
        vz.create_model("swin_tiny_patch4_window7_224", checkpoint_path=str(path), **SMALL_SWIN)
    first, *rest = str(err.value).splitlines()
    assert re.fullmatch(r".*latest\.pth \(a training checkpoint of vit_tiny_patch16_224\) does not fit "
                        r"swin_tiny_patch4_window7_224: \d+ keys missing, \d+ unexpected keys(, \d+ shape mismatches)?",
                        first), first
    assert any("unexpected keys in the checkpoint: " in line and "blocks.0.attn.qkv.weight" in line for line in rest)
