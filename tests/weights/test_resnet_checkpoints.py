"""ResNet checkpoints in the publishers' layouts (CBAM, triplet attention, torchvision) load strictly and reproduce outputs.

The official models are re-created here from the repositories' descriptions, with their module names
(Jongchan/attention-module ``MODELS/cbam.py``: ``ChannelGate.mlp`` = Flatten, Linear, ReLU, Linear and
``SpatialGate.spatial`` = conv + bn; landskape-ai/triplet-attention ``MODELS/triplet_attention.py``:
``ChannelGateH``/``ChannelGateW``/``SpatialGate``), placed in torchvision's blocks the way their
``model_resnet.py``/``resnet.py`` do (after the last BN, before the addition), and saved the way their
``train_imagenet.py`` does (``{"state_dict": DataParallel state dict, "epoch", "optimizer", ...}``).
"""
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

import visionzoo as vz
from visionzoo.weights import CheckpointError

from ..backbones.test_resnet import perturb_batchnorms_
from ..conftest import max_rel_diff


class _ConvBN(nn.Module):
    """The official ``BasicConv`` without ReLU: ``conv`` (2 -> 1, no bias) and ``bn`` (eps 1e-5, momentum 0.01)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=(k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01)

    def forward(self, x):
        return self.bn(self.conv(x))


def _max_mean(x):
    return torch.cat([x.max(1)[0].unsqueeze(1), x.mean(1).unsqueeze(1)], dim=1)


class _OfficialSpatialGate(nn.Module):
    def __init__(self, k: int = 7) -> None:
        super().__init__()
        self.spatial = _ConvBN(k)

    def forward(self, x):
        return x * torch.sigmoid(self.spatial(_max_mean(x)))


class _OfficialChannelGate(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(c, c // 16), nn.ReLU(), nn.Linear(c // 16, c))

    def forward(self, x):
        h, w = x.shape[2:]
        att = self.mlp(F.avg_pool2d(x, (h, w), stride=(h, w))) + self.mlp(F.max_pool2d(x, (h, w), stride=(h, w)))
        return x * torch.sigmoid(att)[:, :, None, None]


class _OfficialCBAM(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.ChannelGate = _OfficialChannelGate(c)
        self.SpatialGate = _OfficialSpatialGate()

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))


class _OfficialTriplet(nn.Module):
    def __init__(self, k: int = 7) -> None:
        super().__init__()
        self.ChannelGateH = _OfficialSpatialGate(k)
        self.ChannelGateW = _OfficialSpatialGate(k)
        self.SpatialGate = _OfficialSpatialGate(k)

    def forward(self, x):
        a = self.ChannelGateH(x.permute(0, 2, 1, 3).contiguous()).permute(0, 2, 1, 3).contiguous()
        b = self.ChannelGateW(x.permute(0, 3, 2, 1).contiguous()).permute(0, 3, 2, 1).contiguous()
        return 1 / 3 * (self.SpatialGate(x) + a + b)


def _official_block(base, attr: str, make):
    """torchvision's block with the official attention module `attr`, applied after the last BN, before the addition."""

    class Block(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            setattr(self, attr, make((self.bn3 if hasattr(self, "bn3") else self.bn2).num_features))

        def forward(self, x):
            residual = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if hasattr(self, "bn3"):
                out = self.bn3(self.conv3(self.relu(out)))
            out = getattr(self, attr)(out)
            return self.relu(out + residual)

    return Block


def official_model(depth: int, attr: str, make) -> nn.Module:
    """An official ResNet + attention re-creation with seeded weights and perturbed BatchNorms, in eval mode."""
    base, layers = {18: (BasicBlock, [2, 2, 2, 2]), 50: (Bottleneck, [3, 4, 6, 3])}[depth]
    model = ResNet(_official_block(base, attr, make), layers)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if re.search(r"\.(ChannelGate\w?|SpatialGate)\.", name) and p.ndim > 1:
                p.copy_(torch.randn(p.shape) * 0.3)
    return perturb_batchnorms_(model).eval()


def save_official(model: nn.Module, path, rename=None) -> None:
    """Save like the official train_imagenet.py: DataParallel keys under ``state_dict`` with training metadata."""
    sd = {f"module.{rename(k) if rename else k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 100, "arch": "resnet", "best_prec1": 77.6, "state_dict": sd,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.0, "params": [0, 1]}]}}, path)


def _outputs_match(official: nn.Module, ours: nn.Module, size=(64, 80)) -> float:
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        return max_rel_diff(ours.eval()(x), official(x))


def test_cbam_release_layout_loads_strictly_and_matches(tmp_path):
    official = official_model(18, "cbam", _OfficialCBAM)
    assert "layer1.0.cbam.ChannelGate.mlp.1.weight" in official.state_dict()
    assert "layer4.1.cbam.SpatialGate.spatial.bn.running_var" in official.state_dict()
    save_official(official, tmp_path / "RESNET18_CBAM.pth")
    ours = vz.create_model("resnet18_cbam", checkpoint_path=tmp_path / "RESNET18_CBAM.pth")
    assert _outputs_match(official, ours) <= 1e-4


def test_cbam_resnet50_release_keys_map_one_to_one(tmp_path):
    """The released architecture (bottleneck CBAM over planes*4 channels): every key converts, strictly."""
    official = official_model(50, "cbam", _OfficialCBAM)
    save_official(official, tmp_path / "RESNET50_CBAM_new_name_wrap.pth")
    ours = vz.create_model("resnet50_cbam", checkpoint_path=tmp_path / "RESNET50_CBAM_new_name_wrap.pth")
    assert len(ours.state_dict()) == len(official.state_dict())
    torch.testing.assert_close(ours.layer4[2].attn.channel_gate.fc2.weight, official.layer4[2].cbam.ChannelGate.mlp[3].weight)
    assert _outputs_match(official, ours, size=(64, 64)) <= 1e-4


# the spellings the triplet-attention releases use: MODELS/ names with block module triplet_attention or pcam,
# and the root file's cw/hc/hw gates with conv.{conv,bn} under "triplet"
_ROOT_NAMES = {"ChannelGateH": "cw", "ChannelGateW": "hc", "SpatialGate": "hw"}
TRIPLET_SPELLINGS = {
    "models_folder": None,
    "pcam": lambda k: k.replace(".triplet_attention.", ".pcam."),
    "root_file": lambda k: re.sub(
        r"\.triplet_attention\.(\w+)\.spatial\.", lambda m: f".triplet.{_ROOT_NAMES[m.group(1)]}.conv.", k),
}


@pytest.mark.parametrize("spelling", list(TRIPLET_SPELLINGS))
def test_triplet_release_layouts_load_strictly_and_match(tmp_path, spelling):
    official = official_model(18, "triplet_attention", lambda c: _OfficialTriplet())
    assert "layer1.0.triplet_attention.ChannelGateH.spatial.conv.weight" in official.state_dict()
    save_official(official, tmp_path / "model_best.pth.tar", rename=TRIPLET_SPELLINGS[spelling])
    ours = vz.create_model("resnet18_triplet", checkpoint_path=tmp_path / "model_best.pth.tar")
    assert _outputs_match(official, ours) <= 1e-4


def test_triplet_kernel_3_release_needs_a_kernel_3_model(tmp_path):
    official = official_model(18, "triplet_attention", lambda c: _OfficialTriplet(k=3))
    save_official(official, tmp_path / "k3.pth.tar")
    with pytest.raises(ValueError, match=r"kernel_size=3"):
        vz.create_model("resnet18_triplet", checkpoint_path=tmp_path / "k3.pth.tar")
    ours = vz.create_model("resnet18", block_attn=dict(type="triplet", kernel_size=3), checkpoint_path=tmp_path / "k3.pth.tar")
    assert _outputs_match(official, ours) <= 1e-4


def test_attention_checkpoint_into_the_wrong_variant_names_the_right_one(tmp_path):
    save_official(official_model(18, "cbam", _OfficialCBAM), tmp_path / "cbam.pth")
    with pytest.raises(ValueError, match=r"ResNet with CBAM.*model has no block attention.*resnet50_cbam"):
        vz.create_model("resnet18", checkpoint_path=tmp_path / "cbam.pth")
    with pytest.raises(ValueError, match=r"ResNet with CBAM.*model has TripletAttention"):
        vz.create_model("resnet18_triplet", checkpoint_path=tmp_path / "cbam.pth")


def test_torchvision_file_without_batchnorm_counters_loads(tmp_path):
    """torchvision's V1 files predate num_batches_tracked; the converter adds the counters and nothing else."""
    ref = perturb_batchnorms_(torchvision.models.resnet18(weights=None)).eval()
    sd = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, tmp_path / "resnet18-f37072fd.pth")
    ours = vz.create_model("resnet18", checkpoint_path=tmp_path / "resnet18-f37072fd.pth")
    assert _outputs_match(ref, ours) <= 1e-4
    del sd["layer2.0.downsample.1.running_mean"]  # a genuinely missing tensor stays an error
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"2 keys missing.*layer2\.0\.downsample\.1\.running_mean"):
        vz.create_model("resnet18", checkpoint_path=tmp_path / "broken.pth")


def test_weight_tags_record_the_published_figures():
    cfg = vz.get_pretrained_cfg("resnet50_cbam.official_in1k")
    assert cfg["source"] == "cbam" and cfg["metrics"] == {"imagenet_top1": 77.622, "imagenet_top5": 93.948}
    assert cfg["url"].startswith("https://www.dropbox.com/") and cfg["sha256"] is None
    assert vz.get_pretrained_cfg("resnet50_triplet")["metrics"]["imagenet_top1"] == 77.48
    assert vz.get_pretrained_cfg("resnet18_triplet")["metrics"]["imagenet_top1"] == 71.09
    tv2 = vz.get_pretrained_cfg("resnet50.tv2_in1k")
    assert tv2["hf_hub_id"] == "timm/resnet50.tv2_in1k" and tv2["metrics"]["imagenet_top1"] == 80.858
    assert vz.list_pretrained("resnet50.*") == ["resnet50.tv_in1k", "resnet50.tv2_in1k"]
