"""Benchmark: GMACs match timm and a hand count, measures are sane, train mode and CLI run (no timing asserts)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.tool_modules import load_tool
import visionzoo as vz
import visionzoo.cli.benchmarking as bm

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
    r = bm.run_benchmark(model, **FAST)  # a built model, not a name
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
    import visionzoo.cli.benchmark as cli

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


# --- the training-pipeline benchmark (visionzoo.cli.benchmarking.train): command lines and per-iteration times --------
def _flags(args: list[str]) -> dict[str, list[str]]:
    """``["--a", "1", "2", "-j", "0", "--b"]`` -> ``{"--a": ["1", "2"], "-j": ["0"], "--b": []}``."""
    out: dict[str, list[str]] = {}
    key = None
    for a in args:
        if a.startswith("-") and not a.lstrip("-").replace(".", "").isdigit():
            key = a
            out[key] = []
        else:
            out[key].append(a)
    return out


def _resolved_recipe(name: str, data: Path, batch_size: int = 8):
    from visionzoo.cli.benchmarking.train import benchmark_overrides
    from visionzoo.engine import load_config, resolve_cls_data

    cfg = benchmark_overrides(load_config(REPO / "configs" / "classification" / name), data, batch_size)
    cfg.work_dir = str(data / "work")
    resolve_cls_data(cfg)
    return cfg


@pytest.fixture(scope="module")
def texture_folder(tmp_path_factory):
    from visionzoo.cli.benchmarking.train import prepare_train_split, write_texture_folder

    root = tmp_path_factory.mktemp("bench")
    src = write_texture_folder(root / "src", num_classes=3, per_class=2, size=(40, 48))
    data, n_classes = prepare_train_split(src, root / "data", 4)  # 4 links, round-robin over the 3 classes
    assert n_classes == 3 and len(list((data / "train").rglob("*.jpg"))) == 4
    return data


def test_timm_train_args_match_the_deit_recipe(texture_folder):
    from visionzoo.cli.benchmarking.train import timm_train_args, timm_train_command

    cfg = _resolved_recipe("vit_small_deit_in1k.py", texture_folder)
    args = timm_train_args(cfg, "visionzoo_vit_small_patch16_224", batch_size=8, data_root=texture_folder,
                           output="/tmp/out", num_classes=3)
    f = _flags(args)
    expected = {
        "--model": ["visionzoo_vit_small_patch16_224"], "--num-classes": ["3"], "--device": ["cpu"],
        "--no-prefetcher": [], "-j": ["0"], "-b": ["8"], "--epochs": ["1"], "--log-interval": ["1"],
        "--val-split": [""], "--drop-path": ["0.1"], "--input-size": ["3", "224", "224"],
        "--mean": ["0.485", "0.456", "0.406"], "--std": ["0.229", "0.224", "0.225"],
        "--train-interpolation": ["bicubic"], "--aa": ["rand-m9-mstd0.5-inc1"], "--color-jitter": ["0.4"],
        "--reprob": ["0.25"], "--remode": ["pixel"], "--recount": ["1"], "--mixup": ["0.8"], "--cutmix": ["1.0"],
        "--mixup-prob": ["1.0"], "--mixup-switch-prob": ["0.5"], "--mixup-mode": ["batch"], "--smoothing": ["0.1"],
        "--opt": ["adamw"], "--lr": ["0.001"], "--weight-decay": ["0.05"], "--opt-betas": ["0.9", "0.999"],
        "--opt-eps": ["1e-08"],
    }
    assert {k: f.get(k) for k in expected} == expected
    assert "--clip-grad" not in f and "--model-kwargs" not in f
    cmd = timm_train_command("/x/train.py", args, "vit_small_patch16_224", python="py")
    assert cmd[:8] == ["py", "-m", "visionzoo.cli.benchmarking.train", "timm", "--script", "/x/train.py", "--register",
                       "vit_small_patch16_224"] and cmd[8] == "--" and cmd[9:] == args


def test_timm_train_args_follow_each_recipe(texture_folder):
    from visionzoo.cli.benchmarking.train import timm_train_args

    def flags(recipe: str) -> dict[str, list[str]]:
        cfg = _resolved_recipe(recipe, texture_folder)
        return _flags(timm_train_args(cfg, "m", batch_size=8, data_root=texture_folder, output="o", num_classes=3))

    swin = flags("swin_tiny_in1k.py")
    assert swin["--clip-grad"] == ["5.0"] and swin["--clip-mode"] == ["norm"] and swin["--drop-path"] == ["0.2"]
    cbam = flags("resnet50_cbam_in1k.py")  # the CBAM paper's recipe: SGD, crop + flip only, plain cross-entropy
    assert (cbam["--opt"], cbam["--momentum"], cbam["--lr"], cbam["--weight-decay"]) == (["momentum"], ["0.9"], ["0.1"], ["0.0001"])
    assert cbam["--smoothing"] == ["0.0"] and cbam["--reprob"] == ["0.0"] and cbam["--color-jitter"] == ["0.0"]
    assert cbam["--train-interpolation"] == ["bilinear"] and "--aa" not in cbam and "--mixup" not in cbam
    assert "--drop-path" not in cbam


def test_timm_launcher_registers_our_model_in_timm():
    import timm
    from timm.models import _registry

    from visionzoo.cli.benchmarking.train import _register_visionzoo_in_timm

    name = _register_visionzoo_in_timm("resnet18_cbam")
    try:
        assert name == "visionzoo_resnet18_cbam" and timm.is_model(name)
        model = timm.create_model(name, num_classes=3, drop_rate=0.0, in_chans=3, layers=(1, 1, 1, 1))
        assert type(model) is type(vz.create_model("resnet18_cbam", num_classes=3, layers=(1, 1, 1, 1)))
    finally:
        _registry._clear_model_entries(name)
        _registry._model_entrypoints.pop(name, None)


def test_parse_timm_log_reads_per_iteration_times():
    from visionzoo.cli.benchmarking.train import parse_timm_log

    text = "\n".join([
        "Model visionzoo_biformer_tiny created, param count:13150000",
        'VZBENCH {"transform": "Compose()", "threads": 2}',
        "Train: 0 [   0/3 ( 33%)]  Loss: 2.36 (2.36)  Time: 14.895s,    0.27/s  (14.895s,    0.27/s)  LR: 1.000e-05  Data: 0.227 (0.227)",
        "Train: 0 [   1/3 ( 67%)]  Loss: 2.47 (2.42)  Time: 6.427s,    0.62/s  (10.661s,    0.38/s)  LR: 1.000e-05  Data: 0.211 (0.219)",
    ])
    r = parse_timm_log(text)
    assert r["times"] == [14.895, 6.427] and r["data_times"] == [0.227, 0.211]
    assert (r["params"], r["threads"], r["transform"]) == (13150000, 2, "Compose()")


def test_our_pipeline_runner_gives_per_iteration_times(texture_folder, tmp_path):
    """Two iterations of the tiny classification config through build_runner: one time and data time per iteration."""
    from visionzoo.cli.benchmarking.train import run_ours

    config = REPO / "tests" / "tools" / "configs" / "tiny_cls.py"
    r = run_ours(config, texture_folder, batch_size=2, work_dir=tmp_path / "work")
    assert len(r["times"]) == len(r["data_times"]) == 2
    assert all(t > 0 for t in r["times"]) and all(0 <= d <= t for d, t in zip(r["data_times"], r["times"]))
    assert r["params"] > 0 and "RandomResizedCropAndInterpolation" in r["transform"]


_FAKE_TIMM_TRAIN = '''
import argparse, pathlib, sys
p = argparse.ArgumentParser()
p.add_argument("--data-dir"); p.add_argument("-b", type=int); p.add_argument("--model")
a, _ = p.parse_known_args()
import timm.data  # as train.py does: the launcher wraps create_loader (our posterize fix, the transform report)
dataset = timm.data.create_dataset("", root=str(pathlib.Path(a.data_dir, "train")))
timm.data.create_loader(dataset, input_size=(3, 32, 32), batch_size=a.b, is_training=True, num_workers=0,
                        auto_augment="rand-m9-mstd0.5-inc1", use_prefetcher=False, device="cpu")
n = len(list(pathlib.Path(a.data_dir, "train").rglob("*.jpg"))) // a.b
print(f"Model {a.model} created, param count:1234", file=sys.stderr)
for i in range(n):
    print(f"Train: 0 [{i:>4d}/{n} (100%)]  Loss: 1.0 (1.0)  Time: 0.500s, 4.00/s  (0.500s, 4.00/s)  LR: 1e-3  "
          f"Data: 0.050 (0.050)", file=sys.stderr)
'''


def test_train_comparison_alternates_sides_and_reports_a_table(texture_folder, tmp_path):
    """The orchestration end to end with a stand-in for timm's train.py (it prints timm's log lines, times nothing)."""
    from visionzoo.cli.benchmarking.train import format_train_table, run_train_comparison

    script = tmp_path / "train.py"
    script.write_text(_FAKE_TIMM_TRAIN)
    r = run_train_comparison("resnet18_cbam", timm_script=script, config=REPO / "tests/tools/configs/tiny_cls.py",
                             data=texture_folder, batch_size=2, threads=1, iters=1, warmup=1, rounds=1,
                             keep_dir=tmp_path / "keep", verbose=False)
    assert list(r["sides"]) == ["ours", "timm:visionzoo"] and r["timm_args"][r["timm_args"].index("--model") + 1] == \
        "visionzoo_resnet18_cbam"
    fake = r["sides"]["timm:visionzoo"]
    assert fake["images_per_s"] == pytest.approx(4.0) and fake["data_share"] == pytest.approx(0.1)
    assert fake["iters_timed"] == r["sides"]["ours"]["iters_timed"] == 1 and fake["params"] == 1234
    assert r["sides"]["ours"]["threads"] == [1] and (tmp_path / "keep" / "ours_round1.log").is_file()
    table = format_train_table(r)
    assert "ratio ours/this" in table and "timm train.py, our model" in table


def test_cli_training_pipeline_needs_train_mode_and_the_script():
    cli = load_tool("benchmark")
    for argv in (["vit_small_patch16_224", "--compare", "timm-train", "--timm-train-script", "x.py"],
                 ["vit_small_patch16_224", "--mode", "train", "--compare", "timm-train"],
                 ["vit_small_patch16_224", "--mode", "train", "--iters", "2", "--set", "depth=1"]):
        with pytest.raises(SystemExit):
            cli.main(argv)


@pytest.mark.parametrize("broken, match", [("nan", "non-finite values"), ("shifted", "changed .* by")])
def test_compiled_models_whose_outputs_differ_are_refused(monkeypatch, broken, match):
    """torch.compile of Swin UNETR under bf16 autocast returns NaN on torch 2.14 CPU: timing it would time a wrong
    model, so --compile first compares the compiled outputs with eager ones (here a stand-in compiler breaks them)."""
    class Broken(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            out = self.model(x)
            return torch.full_like(out, float("nan")) if broken == "nan" else out + out.abs().max()

    monkeypatch.setattr(bm.torch, "compile", Broken)
    with pytest.raises(ValueError, match=match):
        bm.run_benchmark("vit_tiny_patch16_224", model_kwargs=TINY, compile=True, batch_size=1, warmup=1, runs=1,
                         verbose=False, img_size=(32, 32))
    monkeypatch.setattr(bm.torch, "compile", lambda model: model)  # an exact compiler passes the check
    bm.run_benchmark("vit_tiny_patch16_224", model_kwargs=TINY, compile=True, batch_size=1, warmup=1, runs=1,
                     verbose=False, img_size=(32, 32))
