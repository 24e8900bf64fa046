"""The self-supervised Swin ViT release: encoder loaded strictly (checked against MONAI's own load_from), decoder fresh."""
from __future__ import annotations

import logging

import pytest
import torch
from monai.networks.nets import SwinUNETR as MonaiSwinUNETR

import visionzoo as vz
from visionzoo.weights import CheckpointError, WeightEntry

from .conftest import TINY, ssl_release


@pytest.fixture
def weight_logs():
    """Log records of visionzoo.weights (the suite runs with -p no:logging, so no caplog)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger("visionzoo.weights")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_ssl_encoder_tag_loads_encoder_and_leaves_decoder_fresh(vz_home, server, add_weights, weight_logs):
    torch.save(ssl_release(), server.root / "model_swinvit.pt")
    entry = WeightEntry(source="monai_ssl", url=server.url("model_swinvit.pt"), num_classes=None,
                        input_size=(1, 64, 32, 32), mean=None, std=None, crop_pct=None, interpolation=None)
    name = add_weights("swin_unetr", "ssl_test", entry)
    torch.manual_seed(5)
    fresh = vz.create_model("swin_unetr", num_classes=5, **TINY).state_dict()
    torch.manual_seed(5)
    model = vz.create_model(name, pretrained=True, num_classes=5, **TINY).eval()

    loaded = model.state_dict()
    decoder = [k for k in loaded if k.startswith("decoder.")]
    assert decoder and all(torch.equal(loaded[k], fresh[k]) for k in decoder)
    assert not torch.equal(loaded["encoder.patch_embed.proj.weight"], fresh["encoder.patch_embed.proj.weight"])

    monai = MonaiSwinUNETR(in_channels=1, out_channels=5, feature_size=12, depths=(1, 1, 1, 1)).eval()
    monai.load_from(torch.load(server.root / "model_swinvit.pt", weights_only=True))
    x = torch.randn(1, 1, 64, 32, 32)
    with torch.no_grad():
        for ours, ref in zip(model.encoder(x), monai.swinViT(x, normalize=True), strict=True):
            assert (ours - ref).abs().max() <= 1e-4

    messages = [r.getMessage() for r in weight_logs if r.levelno == logging.WARNING]
    assert any("partial load" in m and "holds only encoder.*" in m and "decoder.* (" in m for m in messages), messages


def test_ssl_file_through_checkpoint_path_and_strictness(tmp_path):
    path = tmp_path / "model_swinvit.pt"
    release = ssl_release()
    torch.save(release, path)
    model = vz.create_model("swin_unetr", checkpoint_path=str(path), **TINY)
    expected = release["state_dict"]["module.layers2.0.blocks.0.mlp.fc1.weight"]
    torch.testing.assert_close(model.encoder.stages[1].blocks[0].mlp.fc1.weight, expected, rtol=0, atol=0)

    del release["state_dict"]["module.layers3.0.downsample.reduction.weight"]
    torch.save(release, path)
    with pytest.raises(CheckpointError, match=r"(?s)\(its encoder\. part\).*missing from the checkpoint: encoder\.merges\.2\.reduction\.weight"):
        vz.create_model("swin_unetr", checkpoint_path=str(path), **TINY)
    with pytest.raises(CheckpointError, match=r"shape mismatches: encoder\.patch_embed\.proj\.weight"):
        torch.save(ssl_release(), path)
        vz.create_model("swin_unetr", checkpoint_path=str(path), in_chans=4, **TINY)


def test_catalog_entries_describe_the_releases():
    brats = vz.get_pretrained_cfg("swin_unetr_brats.brats21_fold3")
    assert brats["url"].endswith("/0.8.1/fold3_f48_ep300_4gpu_dice0_8924.zip") and brats["archive_member"] == "model.pt"
    assert brats["metrics"] == {"brats21_val_mean_dice": 0.8924} and brats["sha256"] is None
    assert brats["channel_names"] == ("flair", "t1ce", "t1", "t2") and brats["class_names"] == ("TC", "WT", "ET")
    assert brats["input_size"] == (4, 128, 128, 128) and brats["license"] == "apache-2.0" and "2201.01266" in brats["paper"]
    assert vz.list_pretrained("swin_unetr_brats*") == [f"swin_unetr_brats.brats21_fold{k}" for k in range(5)]
    ssl = vz.get_pretrained_cfg("swin_unetr.ssl_swinvit")
    assert ssl["source"] == "monai_ssl" and ssl["url"].endswith("/0.8.1/model_swinvit.pt") and ssl["num_classes"] is None
