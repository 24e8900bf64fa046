"""Hooks the tool tests load into training subprocesses (``custom_imports``): a hard kill and a per-rank weight dump."""
from __future__ import annotations

import os
import signal

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from visionzoo.engine.registry import HOOKS


@HOOKS.register_module()
class KillAtIterationHook(Hook):
    """SIGKILL this process right before training iteration `at_iter` (0-based): no cleanup, no handlers."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter == self.at_iter:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class DumpWeightsHook(Hook):
    """After training, every rank saves its model weights to WORK_DIR/weights_rank{R}.pt."""

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save(model.state_dict(), os.path.join(runner.work_dir, f"weights_rank{get_rank()}.pt"))
