"""Time one DETR training step (forward, matching + set loss, backward, AdamW) split into its phases.

``tools/benchmark.py`` times classifiers with a cross-entropy step; DETR's step needs targets and the
Hungarian matcher, so it is timed here: ``time_train_step(create_model("detr_r50"), img_size=(320, 320))``.
"""
from __future__ import annotations

import statistics
import time
from typing import Any

import torch
import torch.nn as nn

from visionzoo.heads.detr import SetCriterion

__all__ = ["random_targets", "time_train_step"]


def random_targets(batch_size: int, boxes_per_image: int, num_classes: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Random labels and normalised cx, cy, w, h boxes that lie inside the image."""
    g = torch.Generator().manual_seed(seed)
    targets = []
    for _ in range(batch_size):
        wh = torch.rand(boxes_per_image, 2, generator=g) * 0.4 + 0.05
        c = wh / 2 + torch.rand(boxes_per_image, 2, generator=g) * (1 - wh)
        targets.append({"labels": torch.randint(0, num_classes, (boxes_per_image,), generator=g), "boxes": torch.cat([c, wh], 1)})
    return targets


def time_train_step(
    model: nn.Module,
    batch_size: int = 2,
    img_size: tuple[int, int] = (320, 320),
    boxes_per_image: int = 5,
    runs: int = 5,
    warmup: int = 1,
    threads: int | None = None,
    criterion: SetCriterion | None = None,
) -> dict[str, Any]:
    """Median milliseconds per training step and per phase (forward, matcher, rest of the loss, backward + AdamW).

    `model` is a DETR (``num_classes`` attribute, dict output); the criterion defaults to the official one.
    """
    criterion = criterion or SetCriterion(model.num_classes, aux_loss=getattr(model, "aux_loss", True))
    x = torch.randn(batch_size, 3, *img_size)
    targets = random_targets(batch_size, boxes_per_image, model.num_classes)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4)
    matcher_time = [0.0]
    match = criterion.matcher.forward

    def timed_match(*args: Any, **kwargs: Any):
        start = time.perf_counter()
        try:
            return match(*args, **kwargs)
        finally:
            matcher_time[0] += time.perf_counter() - start

    criterion.matcher.forward = timed_match  # instance attribute: only this criterion is instrumented
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    phases: dict[str, list[float]] = {"step_ms": [], "forward_ms": [], "matcher_ms": [], "loss_ms": [], "backward_ms": []}
    model.train()
    try:
        for i in range(warmup + runs):
            matcher_time[0] = 0.0
            t0 = time.perf_counter()
            out = model(x)
            t1 = time.perf_counter()
            loss = sum(criterion(out, targets).values())
            t2 = time.perf_counter()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 0.1)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            t3 = time.perf_counter()
            if i >= warmup:
                for key, value in (("step_ms", t3 - t0), ("forward_ms", t1 - t0), ("matcher_ms", matcher_time[0]),
                                   ("loss_ms", t2 - t1 - matcher_time[0]), ("backward_ms", t3 - t2)):
                    phases[key].append(value * 1e3)
    finally:
        del criterion.matcher.forward
        torch.set_num_threads(previous_threads)
    result: dict[str, Any] = {k: statistics.median(v) for k, v in phases.items()}
    result.update(batch_size=batch_size, img_size=list(img_size), boxes_per_image=boxes_per_image, threads=used_threads, runs=runs)
    return result
