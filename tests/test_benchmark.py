"""Benchmark: GMACs match timm and a hand count, measures are sane, train mode and CLI run (no timing asserts)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.tool_modules import load_tool
import visionzoo as vz
import visionzoo.benchmarking as bm

REPO = Path(__file__).resolve().parents[1]
TINY = dict(depth=2)
FAST = dict(batch_size=2, img_size=64, warmup=1, runs=2, threads=1, verbose=False)


def vit_macs(img: int, patch: int, dim: int, depth: int, mlp_ratio: int, num_classes: int, cls_only_last: bool) -> int:
    """MACs of a class-token ViT forward on one image, by hand: patch conv, block linears, QK^T and AV, head.

    timm runs every block on all tokens; ours runs the last block for the class token only (its queries,
    attention rows, projection and MLP), keys and values still for all tokens.
    """
    patches = (img // patch) ** 2
    tokens = patches + 1
    embed = patches * dim * (3 * patch * patch)
    linears = tokens * (3 * dim * dim + dim * dim + 2 * mlp_ratio * dim * dim)  # qkv, proj, fc1 + fc2
    attention = 2 * tokens * tokens * dim  # QK^T and AV summed over heads
    full_block = linears + attention
    last_block = full_block
    if cls_only_last:
        last_block = tokens * 2 * dim * dim + (dim * dim + dim * dim + 2 * mlp_ratio * dim * dim) + 2 * tokens * dim
    head = dim * num_classes  # class token only
    return embed + (depth - 1) * full_block + last_block + head


@pytest.fixture(scope="module")
def inference_result():
    return bm.run_benchmark("vit_tiny_patch16_224", compare="timm", model_kwargs=TINY, ref_kwargs=TINY, **FAST)


def test_gmacs_match_hand_counts(inference_result):
    ours, ref = inference_result["ours"], inference_result["ref"]
    tiny = dict(img=64, patch=16, dim=192, depth=2, mlp_ratio=4, num_classes=1000)
    assert ref["gmacs"] * 1e9 == pytest.approx(vit_macs(**tiny, cls_only_last=False), rel=1e-9)
    assert ours["gmacs"] * 1e9 == pytest.approx(vit_macs(**tiny, cls_only_last=True), rel=1e-9)


def test_gmacs_match_timm_when_all_tokens_are_pooled():
    kwargs = dict(depth=2, class_token=False, global_pool="avg")
    r = bm.run_benchmark("vit_tiny_patch16_224", compare="timm", model_kwargs=kwargs, ref_kwargs=kwargs, **FAST)
    assert r["ours"]["gmacs"] == pytest.approx(r["ref"]["gmacs"], rel=1e-9)


def test_measurements_are_sane(inference_result):
    r = inference_result
    assert (r["model"], r["reference"], r["mode"], r["img_size"], r["batch_size"]) == (
        "vit_tiny_patch16_224", "timm", "inference", [64, 64], 2
    )
    assert r["ours"]["params_m"] == r["ref"]["params_m"] > 0
    for side in ("ours", "ref"):
        assert r[side]["throughput"] > 0 and r[side]["latency_ms"] > 0
        assert r[side]["peak_mem_mib"] > 0
    assert r["ratio"]["params_m"] == 1.0


def test_table_has_rows_and_columns(inference_result):
    table = bm.format_table(inference_result)
    for header in ("params (M)", "GMACs", "throughput (img/s)", "latency (ms/batch)", "peak memory (MiB)",
                   "ours", "reference (timm)", "ratio ours/ref", "vit_tiny_patch16_224", "threads=1"):
        assert header in table


def test_cpu_fused_sdpa_is_counted():
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 6)
    counter = torch.utils.flop_counter.FlopCounterMode(display=False, custom_mapping=bm.FLOP_FORMULAS)
    with counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert counter.get_total_flops() == 2 * 2 * 3 * 5 * 7 * 4 + 2 * 2 * 3 * 5 * 7 * 6


def test_train_mode_runs():
    r = bm.run_benchmark("vit_tiny_patch16_224", compare="timm", mode="train", model_kwargs=TINY, ref_kwargs=TINY,
                         **FAST)
    assert r["mode"] == "train"
    assert r["ours"]["throughput"] > 0 and r["ref"]["throughput"] > 0
    assert r["ours"]["peak_mem_mib"] > 0


def test_sliding_window_mode_tiles_a_larger_volume():
    small = dict(feature_size=12, depths=(1, 1, 1, 1))
    r = bm.run_benchmark("swin_unetr_brats", compare="monai", mode="sliding_window", roi_size=(64, 32, 32), overlap=0.25,
                         sw_batch_size=2, model_kwargs=small, ref_kwargs=small,
                         **{**FAST, "batch_size": 1, "img_size": (80, 72, 32)})
    assert r["sliding_window"] == {"roi_size": (64, 32, 32), "overlap": 0.25, "sw_batch_size": 2}
    tile = bm.run_benchmark("swin_unetr_brats", model_kwargs=small, **{**FAST, "batch_size": 1, "img_size": (64, 32, 32)})
    assert r["ours"]["gmacs"] == pytest.approx(tile["ours"]["gmacs"])  # GMACs are per tile
    assert r["ours"]["latency_ms"] > 0 and r["ref"]["latency_ms"] > 0 and r["ours"]["peak_mem_mib"] > 0
    assert "roi=64x32x32 overlap=0.25" in bm.format_table(r)


def test_module_without_reference():
    model = vz.create_model("vit_tiny_patch16_224", depth=1)
    r = vz.benchmark(model, **FAST)  # the package-level entry point
    assert r["model"] == "VisionTransformer" and r["ref"] is None and r["ratio"] is None
    assert "reference" in bm.format_table(r)


def test_registered_reference_is_used(monkeypatch):
    monkeypatch.setattr(bm, "REFERENCES", dict(bm.REFERENCES))
    bm.register_reference("self", lambda name, img_size, **kw: vz.create_model(name, img_size=img_size, **kw))
    r = bm.run_benchmark("vit_tiny_patch16_224", compare="self", model_kwargs=TINY, ref_kwargs=TINY, **FAST)
    assert r["ratio"]["gmacs"] == 1.0 and r["ratio"]["params_m"] == 1.0


def test_unknown_reference_names_known_ones():
    with pytest.raises(ValueError, match="timm"):
        bm.run_benchmark("vit_tiny_patch16_224", compare="no_such_library", verbose=False)


def test_cli_writes_json(tmp_path):
    out = tmp_path / "result.json"
    cmd = [sys.executable, "tools/benchmark.py", "vit_tiny_patch16_224", "--compare", "timm", "--set", "depth=1",
           "--ref-set", "depth=1", "--img-size", "32", "--batch-size", "1", "--warmup", "0", "--runs", "1",
           "--threads", "1", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ratio ours/ref" in proc.stdout
    result = json.loads(out.read_text())
    assert result["img_size"] == [32, 32] and result["ours"]["params_m"] == result["ref"]["params_m"]


def test_cli_parses_set_values_without_eval():
    cli = load_tool("benchmark")
    assert cli.parse_pairs(["depth=2", "window_size=(7, 7)", "attn=softmax", "x=__import__('os')"]) == {
        "depth": 2, "window_size": (7, 7), "attn": "softmax", "x": "__import__('os')"
    }


def test_cli_scaling_sweep_rows_and_plot(tmp_path):
    """--img-size with a comma list: one row per model and size, growth vs linear, a PNG plot."""
    import cv2

    cli = load_tool("benchmark")
    out, png = tmp_path / "scaling.json", tmp_path / "scaling.png"
    assert cli.main(["vit_tiny_patch16_224", "--set", "depth=1", "--img-size", "32,64", "--batch-size", "1",
                     "--warmup", "0", "--runs", "1", "--threads", "1", "--json", str(out), "--plot", str(png)]) == 0
    rows = json.loads(out.read_text())
    assert [r["img_size"] for r in rows] == [[32, 32], [64, 64]] and [r["tokens_rel"] for r in rows] == [1.0, 4.0]
    assert rows[0]["time_vs_linear"] == 1.0 and rows[1]["time_vs_linear"] > 0
    assert cv2.imread(str(png)).shape[2] == 3


def test_train_mode_uses_the_set_criterion_for_detr():
    tiny = dict(backbone_kwargs=dict(layers=(1, 1, 1, 1)), hidden_dim=32, nheads=2, enc_layers=1, dec_layers=2,
                dim_feedforward=64, num_queries=5)
    r = bm.run_benchmark("detr", mode="train", batch_size=2, img_size=64, runs=1, warmup=1, verbose=False, model_kwargs=tiny)
    assert r["ours"]["throughput"] > 0 and r["ours"]["params_m"] > 0
    model = vz.create_model("detr", **tiny)
    loss = bm._random_target_loss(model(torch.randn(2, 3, 64, 64)))
    out = model(torch.randn(2, 3, 64, 64))
    assert loss(out).ndim == 0 and loss(out) > 0  # a matched set loss over every decoder layer
