"""Swin UNETR gradient checkpointing (`use_checkpoint`, MONAI's name): the same loss, gradients and outputs."""
import pytest
import torch

import visionzoo as vz
from visionzoo.backbones import base


@pytest.fixture
def checkpoint_calls(monkeypatch) -> list[dict]:
    """The keyword arguments of every ``torch.utils.checkpoint.checkpoint`` call made through the shared rule."""
    calls = []
    real = base.checkpoint
    monkeypatch.setattr(base, "checkpoint", lambda *a, **k: calls.append(k) or real(*a, **k))
    return calls


def _pair(spatial_dims: int, **kwargs) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Two tiny models with the same weights, the second built with ``use_checkpoint=True``."""
    cfg = dict(in_chans=2, num_classes=3, feature_size=12, depths=(2, 1, 1, 1), spatial_dims=spatial_dims, **kwargs)
    plain = vz.create_model("swin_unetr", **cfg)
    checkpointed = vz.create_model("swin_unetr", use_checkpoint=True, **cfg)
    checkpointed.load_state_dict(plain.state_dict())
    return plain, checkpointed


def _step(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> tuple[float, dict[str, torch.Tensor]]:
    """Loss (soft Dice + BCE, as BraTS training) and every parameter gradient of one training step."""
    model.train().zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same dropout / stochastic-depth draws in both runs
    logits = model(x)
    probs = logits.sigmoid()
    dice = 1 - (2 * (probs * target).sum() + 1) / (probs.sum() + target.sum() + 1)
    loss = dice + torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize(
    "spatial_dims,size,kwargs",
    [
        (3, (64, 32, 32), {}),
        (3, (64, 32, 32), dict(use_v2=True, downsample="mergingv2", drop_rate=0.1, attn_drop_rate=0.1,
                               drop_path_rate=0.2)),  # dropout is replayed by the recomputation
        (2, (64, 96), dict(use_v2=True)),
    ],
)
def test_use_checkpoint_gives_same_loss_and_gradients(spatial_dims, size, kwargs, checkpoint_calls):
    plain, checkpointed = _pair(spatial_dims, **kwargs)
    calls = checkpoint_calls
    x, target = torch.randn(2, 2, *size), torch.rand(2, 3, *size)

    loss, grads = _step(plain, x, target)
    assert not calls
    loss_ckpt, grads_ckpt = _step(checkpointed, x, target)
    assert len(calls) == 5 and all(k == {"use_reentrant": False} for k in calls)  # one per Swin block
    assert abs(loss_ckpt - loss) <= 1e-6 * abs(loss)
    assert grads.keys() == grads_ckpt.keys() == dict(plain.named_parameters()).keys()
    for name, grad in grads.items():
        assert torch.isfinite(grad).all(), name
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=1e-6, atol=1e-7, msg=name)


def test_eval_output_state_dict_and_switch_unchanged(checkpoint_calls):
    plain, checkpointed = _pair(3)
    assert list(checkpointed.state_dict()) == list(plain.state_dict())
    calls = checkpoint_calls
    x = torch.randn(2, 2, 64, 32, 32)
    with torch.no_grad():
        expected = plain.eval()(x)
        assert torch.equal(checkpointed.eval()(x), expected)
        assert not calls  # eval: checkpointing is a training-only switch
        checkpointed.train(), plain.train()
        torch.testing.assert_close(checkpointed(x), plain(x), rtol=0, atol=0)  # train mode without autograd too
    assert calls
    checkpointed.set_grad_checkpointing(False)
    assert not any(stage.grad_checkpointing for stage in checkpointed.encoder.stages)
    plain.set_grad_checkpointing()
    assert all(stage.grad_checkpointing for stage in plain.encoder.stages)


def test_brats_entrypoint_passes_use_checkpoint():
    model = vz.create_model("swin_unetr_brats", feature_size=12, depths=(1, 1, 1, 1), use_checkpoint=True)
    assert all(stage.grad_checkpointing for stage in model.encoder.stages)
    default = vz.create_model("swin_unetr_brats", feature_size=12, depths=(1, 1, 1, 1))
    assert not any(stage.grad_checkpointing for stage in default.encoder.stages)
