"""Fixtures of the weight tests: an isolated cache, a local publisher server, tiny releases in the publishers' layouts.

Nothing here touches the network or the real catalog: test-only weight tags are added to the registry
with `monkeypatch` (removed after each test), and every cache variable points into ``tmp_path``.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from monai.networks.nets import SwinUNETR as MonaiSwinUNETR

from visionzoo.registry import _WEIGHTS
from visionzoo.weights import WeightEntry, hub

from ..conftest import randomize_
from .weights_server import WeightsServer

TINY = dict(feature_size=12, depths=(1, 1, 1, 1))
"""Small overrides of the BraTS architecture (4.3 M parameters, ~17 MB file) that keep its full layout."""


@dataclass
class TinyRelease:
    """A seeded MONAI SwinUNETR (tiny BraTS architecture) and its research-contributions ``model.pt`` bytes."""

    monai: torch.nn.Module
    model_pt: bytes
    x: torch.Tensor
    expected: torch.Tensor


@pytest.fixture(scope="session")
def tiny_release() -> TinyRelease:
    ref = randomize_(MonaiSwinUNETR(in_channels=4, out_channels=3, feature_size=12, depths=(1, 1, 1, 1)), seed=1).eval()
    buffer = io.BytesIO()
    # research-contributions BRATS21 trainer.save_checkpoint layout
    torch.save({"epoch": 299, "best_acc": 0.9, "state_dict": ref.state_dict()}, buffer)
    x = torch.randn(1, 4, 64, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = ref(x)
    return TinyRelease(ref, buffer.getvalue(), x, expected)


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip archive holding `members` (name -> bytes), names stored exactly as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


@pytest.fixture
def vz_home(tmp_path, monkeypatch) -> Path:
    """An empty visionzoo cache and Hugging Face cache under tmp_path, online mode, no retry delay."""
    home = tmp_path / "vz_home"
    monkeypatch.setenv("VISIONZOO_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "VISIONZOO_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub, "_RETRY_DELAY", 0.0)
    return home


@pytest.fixture
def server(tmp_path):
    """A publisher on 127.0.0.1 serving ``tmp_path/"srv"``."""
    root = tmp_path / "srv"
    root.mkdir()
    with WeightsServer(root) as srv:
        yield srv


@pytest.fixture
def add_weights(monkeypatch):
    """``add_weights(arch, tag, entry)``: a test-only weight tag, removed after the test."""

    def add(arch: str, tag: str, entry: WeightEntry) -> str:
        monkeypatch.setitem(_WEIGHTS.setdefault(arch, {}), tag, entry)
        return f"{arch}.{tag}"

    return add


def brats_entry(url: str, sha256: str | None = None, member: str = "model.pt") -> WeightEntry:
    """A test-only entry shaped like the BraTS21 catalog entries, pointing at the local server."""
    return WeightEntry(
        source="monai", url=url, archive_member=member, sha256=sha256, num_classes=3, input_size=(4, 64, 32, 32),
        mean=None, std=None, crop_pct=None, interpolation=None,
    )


def files_under(root: Path) -> list[str]:
    """Every file below `root` (relative paths), for "nothing left in the cache" checks."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


VIT_TAG = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"


def fill_hub_cache(root: Path, repo_id: str, tensors: dict) -> Path:
    """The Hugging Face hub cache layout: models--org--name/{refs/main, snapshots/<rev>/model.safetensors}."""
    from safetensors.torch import save_file

    repo = root / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("ab" * 20)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("ab" * 20)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(snapshot / "model.safetensors"))
    return snapshot / "model.safetensors"


def _refuse(*args, **kwargs):
    raise AssertionError("network access in an offline test")


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection (urllib, httpx/huggingface_hub) fails the test."""
    import socket

    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)


def ssl_release(seed: int = 2) -> dict:
    """``model_swinvit.pt`` as MONAI's ``SwinUNETR.load_from`` reads it: ``state_dict`` of ``module.``-prefixed Swin ViT keys."""
    ref = randomize_(MonaiSwinUNETR(in_channels=1, out_channels=2, feature_size=12, depths=(1, 1, 1, 1)), seed=seed)
    state = {}
    for key, value in ref.state_dict().items():
        if key.startswith("swinViT."):
            key = key[len("swinViT."):].replace(".mlp.linear1.", ".mlp.fc1.").replace(".mlp.linear2.", ".mlp.fc2.")
            state["module." + key] = value
    state["module.rotation_head.weight"] = torch.randn(4, 192)  # a pre-training head: dropped by the converter
    return {"state_dict": state}
