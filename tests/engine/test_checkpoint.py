"""Crash-safe checkpoint writes and loading that never runs pickled code."""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint

from visionzoo.engine import (
    AtomicCheckpointHook, CheckpointSecurityError, atomic_write, atomic_write_text, build_runner, load_checkpoint_file,
    load_config,
)
from visionzoo.engine.checkpoint import SAFE_GLOBALS, plain_message_hub, restore_message_hub
from visionzoo.weights.checkpoint import CheckpointError

from .conftest import TINY_CONFIG


class _Exploit:
    """Unpickling this runs code (here: creates a marker file) unless the loader refuses it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "last_checkpoint"
    atomic_write_text(target, "iter_4.pth")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("iter_")  # partial
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "iter_4.pth"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last_checkpoint"]


def test_malicious_checkpoint_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": _Exploit(marker)}, path)
    with pytest.raises(CheckpointSecurityError, match="refusing to load"):
        load_checkpoint_file(path)
    with pytest.raises(pickle.UnpicklingError):  # mmengine's own entry point refuses it too (torch's default)
        _load_checkpoint(str(path), map_location="cpu")
    assert not marker.exists()


def test_importing_the_engine_leaves_mmengine_global_loader_alone():
    """Weights-only loading is scoped to VisionzooRunner: other OpenMMLab models in the process keep mmengine's."""
    import visionzoo.engine  # noqa: F401
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

    assert CheckpointLoader._schemes[""] is load_from_local


def test_runner_refuses_a_malicious_checkpoint_for_load_from_and_resume(tmp_path, tiny_brats):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": _Exploit(marker)}, path)
    cfg = load_config(TINY_CONFIG, {"data_root": str(tiny_brats), "train_cfg.max_epochs": 1})
    runner = build_runner(cfg, work_dir=str(tmp_path / "work"))
    for load in (runner.load_checkpoint, runner.resume):
        with pytest.raises(CheckpointError, match="refusing to load"):
            load(str(path))
    assert not marker.exists()


def test_stock_history_buffer_is_refused_but_our_plain_form_round_trips(tmp_path):
    hub = MessageHub.get_instance("test_checkpoint_hub")
    hub.update_scalar("train/loss", 0.5)
    hub.update_scalar("train/loss", torch.tensor(0.25))
    hub.update_info("best_score", np.float64(0.75))
    # mmengine pickles HistoryBuffer with builtins.getattr (its statistics functions): not allowed, on purpose
    torch.save({"message_hub": hub.state_dict()}, tmp_path / "stock.pth")
    with pytest.raises(CheckpointSecurityError, match="HistoryBuffer"):
        load_checkpoint_file(tmp_path / "stock.pth")
    with torch.serialization.safe_globals([HistoryBuffer, *SAFE_GLOBALS]):  # allow-listing the class is not enough
        with pytest.raises(pickle.UnpicklingError, match="getattr"):
            torch.load(tmp_path / "stock.pth", weights_only=True)
    torch.save({"message_hub": plain_message_hub(hub.state_dict())}, tmp_path / "plain.pth")
    assert torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "plain.pth") == []
    state = restore_message_hub(load_checkpoint_file(tmp_path / "plain.pth")["message_hub"])
    buffer = state["log_scalars"]["train/loss"]
    assert isinstance(buffer, HistoryBuffer) and buffer.current() == 0.25 and buffer.mean() == pytest.approx(0.375)
    assert state["runtime_info"]["best_score"] == 0.75


def test_numpy_values_are_allow_listed(tmp_path):
    torch.save({"a": np.float32(1.5), "b": np.arange(3), "c": np.dtype("int16")}, tmp_path / "np.pth")
    loaded = load_checkpoint_file(tmp_path / "np.pth")
    assert loaded["a"] == 1.5 and loaded["b"].tolist() == [0, 1, 2]


def _write_half_then_fail_torch_save(real_save):
    def broken(obj, f, *args, **kwargs):
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError("simulated crash inside torch.save")
    return broken


def _write_half_then_fail_put(self, obj, filepath):
    with open(filepath, "wb") as f:
        f.write(obj[: len(obj) // 2])
    raise OSError("simulated crash while writing the file")


def test_crash_during_checkpoint_save_keeps_latest_valid(tmp_path, tiny_brats, monkeypatch):
    cfg = load_config(TINY_CONFIG, {
        "data_root": str(tiny_brats), "train_cfg.max_epochs": 1, "default_hooks.checkpoint.interval": 2,
        "val_dataloader": None, "val_cfg": None, "val_evaluator": None,
    })
    work = tmp_path / "work"
    runner = build_runner(cfg, work_dir=str(work))
    runner.train()
    assert (work / "last_checkpoint").read_text() == str(work / "iter_4.pth")
    hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))

    for crash in ("inside torch.save", "while writing the file"):
        with monkeypatch.context() as patch:
            if crash == "inside torch.save":
                patch.setattr(torch, "save", _write_half_then_fail_torch_save(torch.save))
            else:
                patch.setattr(LocalBackend, "put", _write_half_then_fail_put)
            with pytest.raises(OSError, match="simulated crash"):
                hook._save_checkpoint_with_step(runner, 5, dict(epoch=1, iter=5))
        assert (work / "last_checkpoint").read_text() == str(work / "iter_4.pth"), crash
        assert os.readlink(work / "latest.pth") == "iter_4.pth"
        assert not (work / "iter_5.pth").exists()
        assert not [p.name for p in work.iterdir() if ".tmp-" in p.name], "no partial temporary file may remain"
        assert load_checkpoint_file(work / "iter_4.pth")["meta"]["iter"] == 4
        assert runner.message_hub.get_info("last_ckpt") == str(work / "iter_4.pth")

    leftover = work / ".iter_9.pth.tmp-99999"  # what a writer killed mid-save leaves: never pointed to
    leftover.write_bytes(b"partial")
    hook.before_train(runner)
    assert not leftover.exists(), "leftovers of killed writers are removed when training starts"
    hook._save_checkpoint_with_step(runner, 6, dict(epoch=1, iter=6))  # the next save works and rotates
    assert (work / "last_checkpoint").read_text() == str(work / "iter_6.pth")
    assert sorted(p.name for p in work.glob("iter_*.pth")) == ["iter_4.pth", "iter_6.pth"]
