"""ONNX files you can deploy: sizes a graph serves (never a silent wrong answer), names, metadata, OnnxPredictor,
int8 / fp16 variants and tools/infer.py --onnx."""
from __future__ import annotations

import csv
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

import visionzoo as vz
from visionzoo.export import InputSizeError, OnnxPredictor, read_metadata
from visionzoo.export.onnx import output_names_of, task_of_outputs

from ..conftest import randomize_
from ..tool_modules import load_tool


def _session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4  # refusals are expected here
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _rel(got: np.ndarray, want: torch.Tensor) -> float:
    """max |got - want| relative to the largest |want| (the logits' scale, whatever it is)."""
    want = want.numpy()
    return float(np.abs(got - want).max() / np.abs(want).max())


def _digit_images(n: int, size: int = 72) -> list[Image.Image]:
    """Deterministic natural-ish RGB images: scikit-learn's handwritten digits, upscaled and tinted."""
    from sklearn.datasets import load_digits

    digits = load_digits().images[:n]
    out = []
    for i, d in enumerate(digits):
        gray = (d / 16.0 * 255).astype(np.uint8)
        img = Image.fromarray(gray).resize((size, size), Image.BILINEAR)
        tint = np.array([1.0, 0.6 + 0.04 * (i % 10), 0.9], np.float32)
        out.append(Image.fromarray((np.asarray(img, np.float32)[..., None] * tint).clip(0, 255).astype(np.uint8)))
    return out


def _torch_top1(model, predictor: OnnxPredictor, images) -> list[int]:
    transform = predictor.transform()
    with torch.no_grad():
        return model(torch.stack([transform(im) for im in images])).argmax(1).tolist()


# ------------------------------------------------------------------------------ Swin: the size range regression

@pytest.fixture(scope="module")
def swin_export(tmp_path_factory):
    """A reduced Swin with Swin-T's window structure: window 7, W-MSA + SW-MSA, a last stage whose grid equals its
    window at the model's default size (56 here, 224 for Swin-T). Exported from that default size with dynamic spatial
    axes, so the exporter must trace elsewhere: at its default size the last stage is one unshifted window."""
    torch.manual_seed(0)
    model = vz.create_model("swin_tiny_patch4_window7_224", depths=(1, 2), embed_dim=24, num_heads=(1, 2), img_size=56,
                            num_classes=10).eval()
    randomize_(model, std=0.1)  # logits of order 1, so the comparisons are relative ones
    path = tmp_path_factory.mktemp("swin") / "swin.onnx"
    report = vz.export_onnx(model, path, torch.randn(1, 3, 56, 56), dynamic_spatial=True, spatial_multiple=8,
                            benchmark=False, verbose=False, optimize=False,
                            metadata={"class_names": [f"digit{i}" for i in range(10)]})
    return model, path, report


def test_swin_exported_at_its_default_size_serves_larger_sizes_exactly(swin_export):
    model, path, report = swin_export
    assert report.trace_shape[2:] == (64, 64)  # the smallest size at which every stage grid exceeds its window
    assert report.min_size == (64, 64) and report.max_size == (None, None)
    checked = {c["shape"][2:] for c in report.checks}
    assert {(64, 80), (112, 112)} <= checked and all(c["passed"] for c in report.checks)  # non-square; no padding
    assert [r["passed"] for r in report.refusals] == [True, True]
    session = _session(path)
    for size in ((64, 96), (104, 72), (160, 120)):  # non-square sizes the export did not check
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            want = model(x)
        assert _rel(session.run(None, {"input": x.numpy()})[0], want) <= 1e-4, size


def test_swin_sizes_below_the_minimum_are_refused_not_answered(swin_export):
    _, path, _ = swin_export
    session = _session(path)
    for size in ((56, 56), (48, 48), (64, 56), (64, 66)):  # below the minimum, or not a multiple of 8
        with pytest.raises(Exception, match="input_size_check: spatial sizes must be at least 64x64 and multiples of 8"):
            session.run(None, {"input": np.zeros((1, 3, *size), np.float32)})
    predictor = OnnxPredictor(path, threads=1)
    with pytest.raises(InputSizeError, match="56x56 is below this graph's minimum 64x64"):
        predictor.run(np.zeros((1, 3, 56, 56), np.float32))
    with pytest.raises(InputSizeError, match="64x66 is not a multiple of 8"):
        predictor.run(np.zeros((1, 3, 64, 66), np.float32), pad=True)  # a classifier is never padded


def test_swin_metadata_and_predictor_top1(swin_export):
    model, path, _ = swin_export
    meta = read_metadata(path)
    assert meta["model"] == "swin_tiny_patch4_window7_224" and meta["task"] == "classification"
    assert meta["min_size"] == [64, 64] and meta["max_size"] == [None, None] and meta["spatial_multiple"] == 8
    assert meta["size_check"] == "in-graph" and meta["trace_size"] == [64, 64]
    assert meta["input_size"] == [3, 224, 224] and meta["crop_pct"] == 0.9 and meta["interpolation"] == "bicubic"
    predictor = OnnxPredictor(path, threads=1)
    images = _digit_images(6)
    results = predictor.classify(images)
    assert [r["index"] for r in results] == _torch_top1(model, predictor, images)
    assert results[0]["class"].startswith("digit") and abs(sum(p["prob"] for p in results[0]["topk"]) - 1) < 0.5


def test_a_classifier_eval_size_below_the_minimum_moves_up(tmp_path):
    from visionzoo.export.onnx import _servable_input_size

    meta = {"min_size": [256, 256], "max_size": [None, None], "spatial_multiple": 32}
    assert _servable_input_size([3, 224, 224], meta) == [3, 256, 256]  # Swin-T's eval size on a dynamic graph
    assert _servable_input_size([3, 288, 300], meta) == [3, 288, 320]
    assert _servable_input_size([3, 224, 224], {"min_size": [64, 64], "max_size": [64, 64]}) == [3, 64, 64]


# ------------------------------------------------------------------------------ fixed size: names and metadata

def test_fixed_size_classifier_names_metadata_and_refusal(tmp_path):
    model = vz.create_model("vit_tiny_patch16_224", depth=1, num_classes=4).eval()
    path = tmp_path / "vit.onnx"
    report = vz.export_onnx(model, path, torch.randn(1, 3, 64, 64), benchmark=False, verbose=False, optimize=False,
                            metadata={"class_names": ["a", "b", "c", "d"], "weights": "demo.pth"})
    assert report.input_names == ["input"] and report.output_names == ["logits"]
    meta = read_metadata(path)
    assert {k: meta[k] for k in ("model", "tag", "task", "input_layout", "opset", "precision", "channels")} == {
        "model": "vit_tiny_patch16_224", "tag": "augreg_in21k_ft_in1k", "task": "classification",
        "input_layout": "NCHW", "opset": 18, "precision": "fp32", "channels": 3}
    assert meta["mean"] == [0.5] * 3 and meta["std"] == [0.5] * 3 and meta["output_activation"] == "softmax"
    assert meta["class_names"] == ["a", "b", "c", "d"] and meta["weights"] == "demo.pth"
    assert meta["min_size"] == meta["max_size"] == [64, 64] and meta["size_check"] == "fixed-shape"
    assert meta["input_size"] == [3, 64, 64]  # what the graph takes, whatever the model's default (224)
    assert meta["visionzoo_version"] == vz.__version__
    session = _session(path)
    assert [o.name for o in session.get_outputs()] == ["logits"]
    with pytest.raises(Exception, match="[Ii]nvalid dimensions|Got: 96"):  # onnxruntime itself refuses other sizes
        session.run(None, {"input": np.zeros((1, 3, 96, 96), np.float32)})
    predictor = OnnxPredictor(path, threads=1)
    with pytest.raises(InputSizeError, match="takes 64x64 only"):
        predictor.run(np.zeros((1, 3, 96, 96), np.float32))
    images = _digit_images(8)
    assert [r["index"] for r in predictor.classify(images, batch_size=3)] == _torch_top1(model, predictor, images)


def test_output_names_follow_the_task():
    x = torch.zeros(1, 3, 32, 32)
    assert output_names_of(torch.zeros(1, 10), x) == ["logits"]
    assert output_names_of(torch.zeros(1, 3, 32, 32, 32), torch.zeros(1, 4, 32, 32, 32)) == ["seg_logits"]
    detr = {"pred_logits": torch.zeros(1), "pred_boxes": torch.zeros(1),
            "aux_outputs": [{"pred_logits": torch.zeros(1), "pred_boxes": torch.zeros(1)}]}
    names = output_names_of(detr, x)
    assert names == ["pred_logits", "pred_boxes", "aux_outputs.0.pred_logits", "aux_outputs.0.pred_boxes"]
    assert task_of_outputs(names) == "detection" and task_of_outputs(["seg_logits"]) == "segmentation"


# ------------------------------------------------------------------------------ volumes: fixed ROI, sliding windows

def test_volume_export_records_its_roi_and_predictor_matches_pytorch_sliding_window(tmp_path):
    from monai.inferers import sliding_window_inference
    from monai.transforms import NormalizeIntensity

    model = vz.create_model("swin_unetr_brats", feature_size=12, depths=(1, 1, 1, 1)).eval()
    path = tmp_path / "unetr.onnx"
    with pytest.raises(ValueError, match="dynamic_spatial supports 2D images"):
        vz.export_onnx(model, path, torch.randn(1, 4, 64, 32, 32), dynamic_spatial=True, verbose=False)
    vz.export_onnx(model, path, torch.randn(1, 4, 64, 32, 32), benchmark=False, verbose=False, optimize=False,
                   metadata={"overlap": 0.25, "threshold": 0.4})
    meta = read_metadata(path)
    assert meta["task"] == "segmentation" and meta["input_layout"] == "NCDHW" and meta["output_names"] == ["seg_logits"]
    assert meta["min_size"] == meta["max_size"] == meta["roi_size"] == [64, 32, 32]
    assert meta["class_names"] == ["TC", "WT", "ET"] and meta["output_activation"] == "sigmoid"
    assert meta["normalization"] == "zscore_nonzero_channelwise" and meta["overlap"] == 0.25

    predictor = OnnxPredictor(path, threads=1)
    with pytest.raises(InputSizeError, match="takes 64x32x32 only. Volumes of other sizes go through predict"):
        predictor.run(np.zeros((1, 4, 64, 48, 32), np.float32))
    rng = np.random.default_rng(0)
    volume = rng.standard_normal((4, 70, 36, 32)).astype(np.float32) * 50 + 100
    volume[:, :6] = 0  # background, left out of the z-score
    out = predictor.predict(volume)
    image = torch.from_numpy(np.asarray(NormalizeIntensity(nonzero=True, channel_wise=True)(volume)))[None]
    with torch.no_grad():
        logits = sliding_window_inference(image, (64, 32, 32), 1, model, overlap=0.25)
    assert _rel(out["logits"], logits[0]) <= 1e-4
    probs = torch.sigmoid(logits[0]).numpy()
    decided = np.abs(probs - 0.4) > 1e-5  # float rounding may flip a voxel sitting on the threshold, nothing else
    assert out["mask"].shape == (3, 70, 36, 32) and decided.mean() > 0.999
    assert np.array_equal(out["mask"][decided], (probs > 0.4)[decided])


# ------------------------------------------------------------------------------ smaller files

def test_int8_and_fp16_variants_load_and_agree(tmp_path):
    model = vz.create_model("vit_tiny_patch16_224", depth=2, num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    fp32 = vz.export_onnx(model, tmp_path / "fp32.onnx", x, benchmark=False, verbose=False, optimize=False)
    int8 = vz.export_onnx(model, tmp_path / "int8.onnx", x, benchmark=False, verbose=False, optimize=False,
                          quantize="int8")
    assert int8.precision == "int8" and read_metadata(int8.path)["precision"] == "int8"
    assert int8.file_bytes < 0.6 * fp32.path.stat().st_size
    assert {c["shape"] for c in int8.variant_checks} == {(1, 3, 64, 64), (2, 3, 64, 64)}
    assert all(c["rel_diff"] < 0.1 for c in int8.variant_checks)
    images = torch.randn(16, 3, 64, 64)
    with torch.no_grad():
        want = model(images).argmax(1).numpy()
    got = OnnxPredictor(int8.path, threads=1).run(images.numpy())["logits"].argmax(1)
    assert (got == want).mean() >= 0.8
    fp16 = vz.export_onnx(model, tmp_path / "fp16.onnx", x, benchmark=False, verbose=False, optimize=False,
                          precision="fp16")
    assert read_metadata(fp16.path)["precision"] == "fp16" and all(c["rel_diff"] < 5e-3 for c in fp16.variant_checks)
    with pytest.raises(ValueError, match="quantize must be one of"):
        vz.export_onnx(model, tmp_path / "x.onnx", x, quantize="int4", verbose=False)


# ------------------------------------------------------------------------------ tools/infer.py --onnx

def test_infer_tool_runs_an_onnx_file_without_config(tmp_path, capsys):
    model = vz.create_model("vit_tiny_patch16_224", depth=1, num_classes=3).eval()
    path = tmp_path / "cls.onnx"
    vz.export_onnx(model, path, torch.randn(1, 3, 64, 64), benchmark=False, verbose=False, optimize=False,
                   metadata={"class_names": ["zero", "one", "two"]})
    images = tmp_path / "images"
    images.mkdir()
    for i, im in enumerate(_digit_images(3)):
        im.save(images / f"im{i}.png")
    infer = load_tool("infer")
    assert infer.main(["--onnx", str(path), str(images), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "predictions.csv").open()))
    expected = OnnxPredictor(path).classify([Image.open(images / f"im{i}.png").convert("RGB") for i in range(3)])
    assert [r["pred_class"] for r in rows] == [e["class"] for e in expected]
    summary = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert summary["onnx"] == str(path) and summary["classes"] == ["zero", "one", "two"]
    capsys.readouterr()
    assert infer.main(["--onnx", str(tmp_path / "missing.onnx"), str(images), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.onnx" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------------------ tools/export_onnx.py CONFIG --checkpoint

def test_export_tool_records_the_checkpoint_classes_and_the_config_preprocessing(tmp_path, capsys):
    from ..tools.conftest import TINY_CLS_CONFIG, TINY_CONFIG

    net = vz.create_model("resnet18_cbam", layers=(1, 1, 1, 1), num_classes=3)
    ckpt = tmp_path / "trained.pth"
    torch.save({"meta": {"dataset_meta": {"classes": ["cat", "dog", "eel"]}}, "state_dict": net.state_dict()}, ckpt)
    tool = load_tool("export_onnx")
    out = tmp_path / "cls.onnx"
    assert tool.main([str(TINY_CLS_CONFIG), "--checkpoint", str(ckpt), "--output", str(out), "--no-verify"]) == 0
    assert "outputs logits; sizes 32x32; fp32" in capsys.readouterr().out
    meta = read_metadata(out)
    assert meta["class_names"] == ["cat", "dog", "eel"] and meta["weights"] == "trained.pth" and "tag" not in meta
    assert meta["input_size"] == [3, 32, 32] and meta["mean"] == [0.485, 0.456, 0.406]
    assert meta["interpolation"] == "bilinear" and meta["crop_pct"] == 0.875 and meta["output_activation"] == "softmax"
    images = _digit_images(4, size=40)
    predictor = OnnxPredictor(out, threads=1)
    assert [r["index"] for r in predictor.classify(images)] == _torch_top1(net.eval(), predictor, images)

    from visionzoo.engine import load_config

    cfg = load_config(TINY_CONFIG)  # the BraTS segmenter: its sliding-window settings and regions
    from visionzoo.cli.export import deployment_metadata

    seg = deployment_metadata(vz.create_model(**cfg.model), cfg, None, (4, 64, 32, 32))
    assert seg["class_names"] == ["TC", "WT", "ET"] and seg["output_activation"] == "sigmoid"
    assert seg["roi_size"] == [64, 32, 32] and seg["sw_batch_size"] == 1
