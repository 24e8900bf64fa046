"""tools/convert_checkpoint.py and tools/download_weights.py: one real subprocess run each, the rest in-process."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open

from tests.tool_modules import load_tool
import visionzoo as vz

from .conftest import TINY, VIT_TAG, fill_hub_cache, ssl_release, write_zip

REPO = Path(__file__).resolve().parents[2]
TINY_ARGS = ["--set", "feature_size=12", "--set", "depths=(1, 1, 1, 1)"]


def run_tool(args: list[str]) -> subprocess.CompletedProcess:
    """``python tools/...`` from the repository root, one torch thread, the current (monkeypatched) environment."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def _output(model, x):
    with torch.no_grad():
        return model.eval()(x)


def test_convert_checkpoint_cli_writes_an_equivalent_safetensors(tmp_path, tiny_release):
    src = tmp_path / "model.pt"
    src.write_bytes(tiny_release.model_pt)
    dst = tmp_path / "out" / "swin_unetr_brats_fold0.safetensors"
    proc = run_tool(["tools/convert_checkpoint.py", "swin_unetr_brats", str(src), str(dst), "--tag", "brats21_fold0", *TINY_ARGS])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {dst}" in proc.stdout
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]  # no temporary file left

    with safe_open(str(dst), framework="pt") as f:
        meta, keys = f.metadata(), set(f.keys())
    assert meta["visionzoo_layout"] == "visionzoo" and meta["model"] == "swin_unetr_brats" and meta["tag"] == "brats21_fold0"
    assert meta["converter_source"] == "monai" and meta["source_sha256"] == hashlib.sha256(tiny_release.model_pt).hexdigest()
    converted = vz.create_model("swin_unetr_brats", checkpoint_path=str(dst), **TINY)
    assert keys == set(converted.state_dict())
    original = vz.create_model("swin_unetr_brats", checkpoint_path=str(src), **TINY)
    out = _output(converted, tiny_release.x)
    assert torch.equal(out, _output(original, tiny_release.x))
    assert (out - tiny_release.expected).abs().max() <= 1e-4


def test_convert_checkpoint_refuses_another_variant_or_layout(tmp_path, tiny_release, capsys):
    tool = load_tool("convert_checkpoint")
    src = tmp_path / "model.pt"
    src.write_bytes(tiny_release.model_pt)
    dst = tmp_path / "out" / "wrong.safetensors"
    assert tool.main(["swin_unetr_brats", str(src), str(dst), "--set", "feature_size=24", "--set", "depths=(1, 1, 1, 1)"]) == 2
    err = capsys.readouterr().err
    assert "shape mismatches" in err and "encoder.patch_embed.proj.weight: checkpoint (12, 4, 2, 2, 2) vs model (24, 4, 2, 2, 2)" in err
    assert tool.main(["swin_unetr_brats", str(src), str(dst), "--source", "timm", *TINY_ARGS]) == 2
    assert "no converter from 'timm' checkpoints for swin_unetr models (known sources: monai, monai_ssl)" in capsys.readouterr().err
    assert tool.main(["swin_unetr_brats", str(src), str(tmp_path / "out.pth"), *TINY_ARGS]) == 2
    assert "must be a .safetensors file" in capsys.readouterr().err
    assert not dst.parent.exists() or list(dst.parent.iterdir()) == []


def test_convert_checkpoint_keeps_an_encoder_only_release_partial(tmp_path, capsys):
    tool = load_tool("convert_checkpoint")
    src, dst = tmp_path / "model_swinvit.pt", tmp_path / "ssl.safetensors"
    torch.save(ssl_release(), src)
    assert tool.main(["swin_unetr.ssl_swinvit", str(src), str(dst), *TINY_ARGS]) == 0
    assert "converter_source: monai_ssl" in capsys.readouterr().out
    with safe_open(str(dst), framework="pt") as f:
        meta, keys = f.metadata(), list(f.keys())
    assert meta["visionzoo_covers"] == "encoder." and meta["tag"] == "ssl_swinvit"
    assert keys and all(k.startswith("encoder.") for k in keys)  # no random decoder posing as pretrained
    a = vz.create_model("swin_unetr", checkpoint_path=str(dst), **TINY).encoder.state_dict()
    b = vz.create_model("swin_unetr", checkpoint_path=str(src), **TINY).encoder.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_download_weights_cli_prefills_the_cache_for_offline_use(vz_home, server, tiny_release, monkeypatch):
    name = "swin_unetr_brats.brats21_fold0"
    write_zip(server.root / "mirror.zip", {"fold0_f48_ep300_4gpu_dice0_8854/model.pt": tiny_release.model_pt})
    proc = run_tool(["tools/download_weights.py", name, "--url", server.url("mirror.zip"), "--no-progress"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    cached = vz_home / "checkpoints" / name / "model.pt"
    assert proc.stdout.strip() == f"{name}: {cached}"
    assert cached.read_bytes() == tiny_release.model_pt

    server.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = vz.create_model(name, pretrained=True, **TINY)  # the real catalog entry, served from the cache
    assert (_output(model, tiny_release.x) - tiny_release.expected).abs().max() <= 1e-4


def test_download_weights_list_hub_offline_and_errors(vz_home, tmp_path, monkeypatch, capsys, no_network):
    tool = load_tool("download_weights")
    snapshot_file = fill_hub_cache(tmp_path / "hf_home" / "hub", "timm/" + VIT_TAG, {"w": torch.zeros(1)})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    assert tool.main(["--list", "vit_tiny*"]) == 0
    lines = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert lines == {VIT_TAG: "cached", "vit_tiny_patch16_384.augreg_in21k_ft_in1k": "-"}

    assert tool.main([VIT_TAG]) == 0
    assert capsys.readouterr().out.strip() == f"{VIT_TAG}: {snapshot_file}"

    assert tool.main(["vit_tiny_patch16_384.augreg_in21k_ft_in1k"]) == 1
    missing = vz_home / "checkpoints" / "vit_tiny_patch16_384.augreg_in21k_ft_in1k" / "model.safetensors"
    assert f"Place the file at {missing}" in capsys.readouterr().err

    assert tool.main(["swin_unetr_brats.*", "--url", "http://127.0.0.1:9/x.zip"]) == 2
    assert "--url applies to one weight tag, got 5" in capsys.readouterr().err
    assert tool.main(["vit_tiny_patch16_244.augreg_in21k_ft_in1k"]) == 2
    assert "Did you mean: vit_tiny_patch16_224" in capsys.readouterr().err
