"""`ResumableEpochBasedTrainLoop`: mmengine's epoch loop, resumable mid-epoch with bit-identical results.

mmengine's own loops either restart the interrupted epoch (``EpochBasedTrainLoop``) or re-load and
re-augment every batch already trained on to skip it (``IterBasedTrainLoop``). This loop instead:

* tells the `ResumableSampler` to skip the batches of the current epoch that the checkpoint covers
  (nothing is loaded for them; augmentation is seeded per draw, so the rest are unchanged);
* builds DataLoader iterators and runs validation inside `preserved_rng`, so the global random streams
  advance only in training steps, wherever validation falls;
* restores the RNG states saved with the checkpoint right before the first resumed step.

Checkpoint by iteration (``AtomicCheckpointHook(by_epoch=False, interval=N)``) to resume mid-epoch.
"""
from __future__ import annotations

import logging

from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from .distributed import SetupError
from .registry import LOOPS
from .rng import preserved_rng, restore_rng_state

__all__ = ["ResumableEpochBasedTrainLoop"]


def _sampler_of(dataloader):
    sampler = getattr(dataloader, "sampler", None)
    batch_sampler = getattr(dataloader, "batch_sampler", None)
    if not hasattr(sampler, "set_start") and batch_sampler is not None:
        sampler = getattr(batch_sampler, "sampler", sampler)
    return sampler


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """Epoch-based training that resumes exactly from any iteration checkpoint (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._resume_state: dict | None = None

    def set_resume_state(self, state: dict) -> None:
        """Called by `ResumeStateHook` on resume: RNG states to restore before the next training step."""
        self._resume_state = state

    def run(self):
        """Train until `max_epochs`, validating every `val_interval` epochs without touching the training RNG."""
        self._sync_sampler_seed()
        self.runner.call_hook("before_train")
        while self._epoch < self._max_epochs and not self.stop_training:
            self.run_epoch()
            self._decide_current_val_interval()
            due = self._epoch % self.val_interval == 0 or self._epoch == self._max_epochs
            if self.runner.val_loop is not None and self._epoch >= self.val_begin and due:
                with preserved_rng():
                    self.runner.val_loop.run()
        self.runner.call_hook("after_train")
        return self.runner.model

    def run_epoch(self) -> None:
        """One epoch, or the rest of it when resuming from a checkpoint taken inside it."""
        self.runner.call_hook("before_train_epoch")
        self.runner.model.train()
        n_batches = len(self.dataloader)
        done = self._iter - self._epoch * n_batches
        if not 0 <= done <= n_batches:
            raise SetupError(
                f"checkpoint at iteration {self._iter}, epoch {self._epoch} does not fit {n_batches} batches per "
                f"epoch: resume with the batch size, dataset and number of processes it was saved with."
            )
        replay = self._skip(done)
        with preserved_rng():
            batches = iter(self.dataloader)
            for _ in range(replay):
                next(batches)
        if self._resume_state is not None:
            restore_rng_state(self._resume_state["rng"])
            self._resume_state = None
        for idx, data_batch in enumerate(batches, start=done):
            self.run_iter(idx, data_batch)
        self.runner.call_hook("after_train_epoch")
        self._epoch += 1

    def _sync_sampler_seed(self) -> None:
        """Use the run's seed, which a resume may have replaced by the checkpoint's after the sampler was built."""
        sampler = _sampler_of(self.dataloader)
        diff_rank_seed = (self.runner.cfg.get("randomness") or {}).get("diff_rank_seed", False)
        if hasattr(sampler, "set_start") and hasattr(sampler, "seed") and not diff_rank_seed:
            sampler.seed = int(self.runner.seed)

    def _skip(self, done: int) -> int:
        """Make the sampler skip `done` batches; returns how many must be loaded and dropped instead (other samplers)."""
        if done == 0:
            return 0
        sampler = _sampler_of(self.dataloader)
        if hasattr(sampler, "set_start"):
            batch_size = self.dataloader.batch_size or getattr(self.dataloader.batch_sampler, "batch_size", 1)
            sampler.set_start(min(done * batch_size, len(sampler)))
            print_log(f"resuming inside epoch {self._epoch + 1}: skipping its first {done} batch(es)", logger="current")
            return 0
        print_log(
            f"resuming inside epoch {self._epoch + 1} with {type(sampler).__name__}, which cannot skip: loading and "
            f"dropping {done} batch(es); augmentation will not repeat exactly (use ResumableSampler).",
            logger="current", level=logging.WARNING,
        )
        return done
