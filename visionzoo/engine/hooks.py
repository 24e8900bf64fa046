"""Hooks: crash-safe checkpointing (`AtomicCheckpointHook`) and exact-resume state (`ResumeStateHook`)."""
from __future__ import annotations

import contextlib
import os.path as osp
from collections import deque
from pathlib import Path

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook

from .checkpoint import atomic_symlink, atomic_write_text, is_temp_path, plain_message_hub, restore_message_hub, to_plain
from .registry import HOOKS
from .rng import capture_rng_state

__all__ = ["AtomicCheckpointHook", "ResumeStateHook", "LATEST_LINK"]

LATEST_LINK = "latest.pth"


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` whose saves can be killed at any instant without losing the latest good checkpoint.

    The checkpoint file itself is written atomically by `VisionzooRunner.save_checkpoint`; this hook then
    moves the ``last_checkpoint`` pointer (and the ``latest.pth`` link) with an atomic replace, and only
    afterwards deletes checkpoints beyond ``max_keep_ckpts`` (mmengine deletes first, so a crash during
    the next save could leave the pointer naming a deleted file). Leftover temporary files of a killed
    writer are removed when training starts.
    """

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and osp.isdir(str(self.out_dir)):
            for leftover in Path(str(self.out_dir)).iterdir():
                if is_temp_path(leftover) and leftover.is_file():
                    runner.logger.info(f"removing {leftover.name}, left by an interrupted checkpoint write")
                    with contextlib.suppress(OSError):
                        leftover.unlink()

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        kept_before = deque(self.keep_ckpt_ids) if self.max_keep_ckpts > 0 else None
        stale = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            kept = deque(self.keep_ckpt_ids)
            kept.append(step)
            while len(kept) > self.max_keep_ckpts:
                stale.append(kept.popleft())
            self._set_kept(runner, kept)  # before saving, so the checkpoint records it

        filename = self.filename_tmpl.format(step)
        previous = self.last_ckpt
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info("last_ckpt", self.last_ckpt)
        try:
            runner.save_checkpoint(
                self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                backend_args=self.backend_args, **self.args,
            )
        except BaseException:
            self.last_ckpt = previous  # the failed file never existed: keep pointing at the last good one
            runner.message_hub.update_info("last_ckpt", previous)
            if kept_before is not None:
                self._set_kept(runner, kept_before)
            raise
        if not is_main_process():
            return
        atomic_write_text(osp.join(runner.work_dir, "last_checkpoint"), str(self.last_ckpt))
        if osp.isdir(str(self.out_dir)):
            atomic_symlink(osp.join(str(self.out_dir), LATEST_LINK), filename)
        for old in stale:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)

    def _set_kept(self, runner, kept: deque) -> None:
        self.keep_ckpt_ids = deque(kept, self.max_keep_ckpts)
        runner.message_hub.update_info("keep_ckpt_ids", list(self.keep_ckpt_ids))


@HOOKS.register_module()
class ResumeStateHook(Hook):
    """Stores what exact resume needs beyond mmengine's checkpoint, and hands it back on ``--resume``.

    Saving: the global RNG states (python, numpy, torch, CUDA) go under ``checkpoint["resume_state"]``, and
    the MessageHub's log buffers are stored as tensors (see `visionzoo.engine.checkpoint`) so the file loads
    with ``weights_only=True``. Loading: the buffers are rebuilt, and when resuming, the RNG states are
    given to the train loop, which restores them right before its next step. The sampler order and each
    sample's augmentation are functions of (seed, epoch, position) and need no state.
    """

    priority = "VERY_HIGH"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if "message_hub" in checkpoint:
            checkpoint["message_hub"] = plain_message_hub(checkpoint["message_hub"])
        checkpoint["meta"] = to_plain(checkpoint.get("meta", {}))
        checkpoint["resume_state"] = {"version": 1, "rng": capture_rng_state()}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if isinstance(checkpoint.get("message_hub"), dict):
            restore_message_hub(checkpoint["message_hub"])
        state = checkpoint.get("resume_state")
        loop = getattr(runner, "_train_loop", None)
        if state and getattr(runner, "_resume", False) and hasattr(loop, "set_resume_state"):
            loop.set_resume_state(state)
