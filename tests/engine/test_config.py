"""Configs: strict --cfg-options, the published recipe's values, and the data_root key of every BraTS config."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from visionzoo.engine import (
    SetupError, UnknownConfigKeyError, build_runner, check_cfg_options, config_keys, load_config, resolve_data_root,
)

from .conftest import REPO, TINY_CONFIG

CONFIGS = sorted((REPO / "configs").glob("*.py"))


def test_unknown_key_names_the_key_and_its_closest_keys():
    cfg = load_config(REPO / "configs" / "swin_unetr_brats.py")
    with pytest.raises(UnknownConfigKeyError) as err:
        check_cfg_options(cfg, {"model.feture_size": 24})
    message = str(err.value)
    assert "'model.feture_size'" in message and "model.feature_size" in message and "+model.feture_size" in message
    with pytest.raises(UnknownConfigKeyError, match="optim_wrapper.optimizer.lr"):
        load_config(REPO / "configs" / "swin_unetr_brats.py", {"optim_wrapper.optimiser.lr": 1e-3})


def test_known_keys_list_indices_and_explicit_additions():
    cfg = load_config(REPO / "configs" / "swin_unetr_brats.py", {
        "model.feature_size": 24, "param_scheduler.1.eta_min": 1e-6, "+model.drop_path_rate": 0.1, "data_root": "/d",
    })
    assert cfg.model == {"name": "swin_unetr_brats", "feature_size": 24, "drop_path_rate": 0.1}
    assert cfg.param_scheduler[1].eta_min == 1e-6 and cfg.data_root == "/d"
    with pytest.raises(UnknownConfigKeyError, match="not a dict"):
        check_cfg_options(cfg, {"+nothing.here": 1})
    assert "train_dataloader.dataset.pipeline.roi_size" in config_keys(cfg)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="configs/"):
        load_config(tmp_path / "nope.py")


def test_published_swin_unetr_recipe():
    cfg = Config.fromfile(str(REPO / "configs" / "swin_unetr_brats.py"))
    assert cfg.model == {"name": "swin_unetr_brats", "feature_size": 48}
    assert cfg.segmenter.loss == {"type": "DiceLoss", "to_onehot_y": False, "sigmoid": True}
    inference = cfg.segmenter.inference
    assert inference.roi_size == (128, 128, 128) and inference.overlap == 0.5 and inference.threshold == 0.5
    train = cfg.train_dataloader
    assert train.batch_size == 1 and cfg.fold == 0 and train.sampler.type == "ResumableSampler"
    pipe = train.dataset.pipeline
    assert (pipe.mode, pipe.roi_size, pipe.flip_prob, pipe.intensity_scale, pipe.intensity_shift) == (
        "train", (128, 128, 128), 0.5, 0.1, 0.1)
    assert cfg.optim_wrapper.optimizer == {"type": "AdamW", "lr": 1e-4, "weight_decay": 1e-5}
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.begin, warmup.end) == ("LinearLR", 0, 50)
    assert (cosine.type, cosine.begin, cosine.end, cosine.T_max, cosine.eta_min) == ("CosineAnnealingLR", 50, 300, 250, 0.0)
    assert cfg.train_cfg.max_epochs == 300 and cfg.default_hooks.checkpoint.save_best == "mean_dice"
    assert {b.type for b in cfg.visualizer.vis_backends} == {"LocalVisBackend", "TensorboardVisBackend"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads_and_has_a_top_level_data_root(path: Path):
    cfg = load_config(path)
    assert "data_root" in cfg and cfg.default_scope == "visionzoo"
    assert "data_root" not in cfg.train_dataloader.dataset, "datasets take data_root from the top-level key"


def test_data_root_reaches_every_split(tmp_path):
    cfg = load_config(TINY_CONFIG, {"data_root": str(tmp_path), "fold": 2})
    cfg.work_dir = str(tmp_path / "work")
    assert resolve_data_root(cfg) is None  # real data: no synthetic banner
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert cfg[key].dataset.data_root == str(tmp_path) and cfg[key].dataset.fold == 2


def test_missing_data_root_without_synthetic_default_is_an_error(tmp_path):
    cfg = load_config(REPO / "configs" / "swin_unetr_brats.py", {"data_root": None})
    cfg.work_dir = str(tmp_path)
    with pytest.raises(FileNotFoundError, match="make_synthetic_brats.py"):
        resolve_data_root(cfg)


def test_amp_is_bf16_autocast_on_cpu(tmp_path, monkeypatch):
    from visionzoo.engine import Bf16OptimWrapper

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    cfg = load_config(TINY_CONFIG, {"data_root": str(tmp_path)})
    runner = build_runner(cfg, work_dir=str(tmp_path / "work"), amp=True)
    assert cfg.optim_wrapper.type == "Bf16OptimWrapper"
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    assert isinstance(wrapper, Bf16OptimWrapper)
    net = torch.nn.Linear(4, 4)
    with wrapper.optim_context(net):
        assert net(torch.randn(2, 4)).dtype == torch.bfloat16
    assert net(torch.randn(2, 4)).dtype == torch.float32


def test_cuda_only_options_fail_clearly_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(SetupError, match="torchrun"):
        build_runner(load_config(TINY_CONFIG), work_dir=str(tmp_path / "work"), launcher="slurm")


@pytest.mark.parametrize("path", [p for p in CONFIGS if "brats" in p.name], ids=lambda p: p.name)
def test_every_config_builds_its_segmenter(path: Path):
    from visionzoo.engine import VolumeSegmenter

    cfg = load_config(path)
    segmenter = {k: v for k, v in cfg.segmenter.items() if k != "type"}
    model = VolumeSegmenter(net=cfg.model, **segmenter)
    assert model.inference.roi_size == tuple(cfg.segmenter.inference.roi_size)
    assert model.net.num_classes == 3 and model.net.in_chans == 4


def test_config_types_reach_every_depth_of_a_loaded_config():
    from mmengine.config import Config

    from visionzoo.engine.config import config_types

    cfg = Config(dict(model=dict(type="A"), hooks=[dict(type="B", inner=dict(type="C"))], other=dict(kind="D")))
    assert config_types(cfg) == {"A", "B", "C"}


def test_an_unregistered_config_type_names_the_missing_task_extra(monkeypatch):
    """With a task unavailable, a type no registry knows is explained by that task's missing extra."""
    from mmengine.config import Config

    from visionzoo.engine import tasks
    from visionzoo.utils.extras import MissingDependencyError

    cfg = Config(dict(train_dataloader=dict(dataset=dict(type="NoSuchDataset"))))
    tasks.check_config_types(cfg, "ImageClassifier")  # every task available: left to mmengine
    missing = MissingDependencyError('BraTS segmentation needs monai: pip install "visionzoo[medical]"')
    monkeypatch.setitem(tasks.UNAVAILABLE_TASKS, "medical", missing)
    with pytest.raises(MissingDependencyError, match=r"NoSuchDataset is not registered.*visionzoo\[medical\]"):
        tasks.check_config_types(cfg, "ImageClassifier")
