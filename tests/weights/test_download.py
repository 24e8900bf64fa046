"""pretrained=True over the network, without internet: a local publisher serving zip releases, resumes, bad files."""
from __future__ import annotations

import hashlib

import pytest
import torch

import visionzoo as vz
from visionzoo.weights import CheckpointError, WeightsNotFoundError, cached_weight_path, hub
from visionzoo.weights.pretrained import weight_entry

from .conftest import TINY, VIT_TAG, brats_entry, files_under, fill_hub_cache, write_zip


def _serve_release(server, tiny_release, name="fold0_tiny.zip", member="fold0_tiny/model.pt"):
    """The release zip on the server (member inside a folder, as the BraTS21 zips); returns (url, sha256)."""
    path = write_zip(server.root / name, {member: tiny_release.model_pt})
    return server.url(name), hashlib.sha256(path.read_bytes()).hexdigest()


def _output(model, x):
    with torch.no_grad():
        return model.eval()(x)


def test_fresh_download_checks_sha256_and_equals_checkpoint_path(vz_home, server, tiny_release, add_weights, capsys):
    url, sha = _serve_release(server, tiny_release)
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(url, sha))
    model = vz.create_model(name, pretrained=True, **TINY)

    assert "fold0_tiny.zip" in capsys.readouterr().err  # tqdm progress bar, named after the file
    cached = vz_home / "checkpoints" / name / "model.pt"
    assert files_under(vz_home) == [f"checkpoints/{name}/model.pt"]  # archive removed, no .part / temp left
    assert cached.read_bytes() == tiny_release.model_pt
    assert len(server.gets("fold0_tiny.zip")) == 1
    out = _output(model, tiny_release.x)
    assert (out - tiny_release.expected).abs().max() <= 1e-4  # MONAI reference with the same weights
    same_file = vz.create_model("swin_unetr_brats", checkpoint_path=str(cached), **TINY)
    assert torch.equal(out, _output(same_file, tiny_release.x))


def test_cached_weights_load_with_the_server_gone(vz_home, server, tiny_release, add_weights):
    url, sha = _serve_release(server, tiny_release)
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(url, sha))
    vz.create_model(name, pretrained=True, **TINY)
    server.stop()
    model = vz.create_model(name, pretrained=True, **TINY)
    assert (_output(model, tiny_release.x) - tiny_release.expected).abs().max() <= 1e-4
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(vz_home, server, tiny_release, add_weights):
    url, sha = _serve_release(server, tiny_release)
    size = (server.root / "fold0_tiny.zip").stat().st_size
    server.drop_next("fold0_tiny.zip", times=1)
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(url, sha))
    model = vz.create_model(name, pretrained=True, **TINY)

    first, second = server.gets("fold0_tiny.zip")
    assert first["range"] is None and second["range"] == f"bytes={size // 2}-"
    assert (_output(model, tiny_release.x) - tiny_release.expected).abs().max() <= 1e-4


def test_unfinished_download_is_kept_and_resumed_by_the_next_call(vz_home, server, tiny_release, add_weights):
    """Without a sha256 (as the BraTS21 releases) a short read must still be noticed, kept and resumed."""
    url, _ = _serve_release(server, tiny_release)
    size = (server.root / "fold0_tiny.zip").stat().st_size
    server.drop_next("fold0_tiny.zip", times=hub._RETRIES + 1)
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(url, sha256=None))
    with pytest.raises(WeightsNotFoundError, match="run the same command again to resume"):
        vz.create_model(name, pretrained=True, **TINY)
    part = vz_home / "checkpoints" / name / "fold0_tiny.zip.part"
    assert files_under(vz_home) == [f"checkpoints/{name}/fold0_tiny.zip.part"]
    kept = part.stat().st_size
    assert size // 2 < kept < size

    model = vz.create_model(name, pretrained=True, **TINY)
    assert server.gets("fold0_tiny.zip")[-1]["range"] == f"bytes={kept}-"
    assert (_output(model, tiny_release.x) - tiny_release.expected).abs().max() <= 1e-4
    assert files_under(vz_home) == [f"checkpoints/{name}/model.pt"]


def test_wrong_sha256_leaves_nothing_in_the_cache(vz_home, server, tiny_release, add_weights):
    url, sha = _serve_release(server, tiny_release)
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(url, sha256="0" * 64))
    with pytest.raises(RuntimeError, match=f"sha256 mismatch for {url}: expected 0{{64}}, got {sha}"):
        vz.create_model(name, pretrained=True, **TINY)
    assert files_under(vz_home) == []


def test_sharing_page_instead_of_the_file_is_refused(vz_home, server, add_weights):
    page = server.root / "share.html"
    page.write_text("<html><body>Download anyway?</body></html>")
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(server.url("share.html"), member=None))
    with pytest.raises(WeightsNotFoundError, match="answered with a web page.*checkpoint_path="):
        vz.create_model(name, pretrained=True, **TINY)
    assert files_under(vz_home) == []


class _Exploit:
    """Unpickling this would create a marker file: a stand-in for arbitrary code execution."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_tampered_release_is_refused_and_nothing_runs(vz_home, server, tiny_release, add_weights, tmp_path):
    import io

    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    state = torch.load(io.BytesIO(tiny_release.model_pt), weights_only=True)
    torch.save({**state, "payload": _Exploit(str(marker))}, buffer)
    write_zip(server.root / "evil.zip", {"fold0/model.pt": buffer.getvalue()})
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(server.url("evil.zip")))
    with pytest.raises(CheckpointError, match="would run code"):
        vz.create_model(name, pretrained=True, **TINY)
    assert not marker.exists()


def test_archive_member_escaping_the_cache_is_refused(vz_home, server, tiny_release, add_weights, tmp_path):
    write_zip(server.root / "escape.zip", {"../model.pt": tiny_release.model_pt})
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(server.url("escape.zip")))
    with pytest.raises(CheckpointError, match=r"refusing to extract '\.\./model\.pt'"):
        vz.create_model(name, pretrained=True, **TINY)
    assert files_under(vz_home) == [] and not (vz_home / "checkpoints" / "model.pt").exists()
    for bad in ("/etc/model.pt", "../model.pt", "a/../../model.pt", "C:\\model.pt"):
        with pytest.raises(ValueError, match="absolute path or contains '..'"):
            brats_entry("https://example.org/x.zip", member=bad)


def test_missing_member_lists_what_the_archive_holds(vz_home, server, tiny_release, add_weights):
    write_zip(server.root / "other.zip", {"fold0/weights.pth": tiny_release.model_pt})
    name = add_weights("swin_unetr_brats", "tiny_test", brats_entry(server.url("other.zip")))
    with pytest.raises(CheckpointError, match=r"has no member 'model\.pt' \(it holds: fold0/weights\.pth\)"):
        vz.create_model(name, pretrained=True, **TINY)




@pytest.mark.parametrize("variable", ["HF_HOME", "HF_HUB_CACHE"])
def test_hf_offline_loads_from_a_prefilled_hub_cache(vz_home, tmp_path, monkeypatch, no_network, variable):
    """The hub cache is found through the variables as set now (huggingface_hub reads them only at import)."""
    from ..backbones.timm_parity import timm_and_ours

    ref, _ = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=dict(depth=1), ours_kwargs=dict(depth=1))
    if variable == "HF_HUB_CACHE":
        monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    hub_cache = tmp_path / "elsewhere" if variable == "HF_HUB_CACHE" else tmp_path / "hf_home" / "hub"
    expected_file = fill_hub_cache(hub_cache, "timm/" + VIT_TAG, ref.state_dict())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    _, entry = weight_entry(VIT_TAG)
    assert hub.resolve_weight_file(VIT_TAG, entry) == expected_file
    model = vz.create_model(VIT_TAG, pretrained=True, depth=1).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (model(x) - ref(x)).abs().max() <= 1e-4
    assert files_under(vz_home) == []  # hub weights stay in the hub cache


def test_offline_miss_names_the_file_and_where_to_put_it(vz_home, monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as err:
        vz.create_model(VIT_TAG, pretrained=True)
    _, entry = weight_entry(VIT_TAG)
    assert f"Place the file at {cached_weight_path(VIT_TAG, entry)} (model.safetensors from https://huggingface.co/timm/{VIT_TAG})" in str(err.value)

    brats = "swin_unetr_brats.brats21_fold1"
    with pytest.raises(WeightsNotFoundError) as err:
        vz.create_model(brats, pretrained=True, **TINY)
    message = str(err.value)
    folder = vz_home / "checkpoints" / brats
    assert f"Place the file at {folder / 'model.pt'} (model.pt: the member model.pt of fold1_f48_ep300_4gpu_dice0_9059.zip)" in message
    assert f"or the archive itself at {folder / 'fold1_f48_ep300_4gpu_dice0_9059.zip'}" in message
    assert "tools/download_weights.py swin_unetr_brats.brats21_fold1" in message
    assert files_under(vz_home) == []


def test_archive_placed_by_hand_is_unpacked_offline(vz_home, tiny_release, monkeypatch, no_network):
    """Air-gapped: the published zip copied into the cache folder is used without any network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "swin_unetr_brats.brats21_fold1"
    write_zip(vz_home / "checkpoints" / name / "fold1_f48_ep300_4gpu_dice0_9059.zip",
              {"fold1_f48_ep300_4gpu_dice0_9059/model.pt": tiny_release.model_pt})
    model = vz.create_model(name, pretrained=True, **TINY)
    assert (_output(model, tiny_release.x) - tiny_release.expected).abs().max() <= 1e-4
    assert files_under(vz_home) == [f"checkpoints/{name}/model.pt"]


def test_hf_endpoint_mirror_is_used(vz_home, server, monkeypatch):
    """HF_ENDPOINT is read per call (huggingface_hub reads it only at import)."""
    from ..backbones.timm_parity import timm_and_ours
    from safetensors.torch import save_file

    ref, _ = timm_and_ours("vit_tiny_patch16_224", timm_kwargs=dict(depth=1), ours_kwargs=dict(depth=1))
    mirror = server.root / "hub" / "timm" / VIT_TAG
    mirror.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(mirror / "model.safetensors"))
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    model = vz.create_model(VIT_TAG, pretrained=True, depth=1).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert (model(x) - ref(x)).abs().max() <= 1e-4
    assert any(r["path"].endswith(f"timm/{VIT_TAG}/resolve/main/model.safetensors") for r in server.requests)
