"""Train, load, infer, export: one chain. What tools/train.py writes loads with create_model, exports with
tools/export_onnx.py, and onnxruntime on the held-out data reproduces tools/test.py (Swin UNETR BraTS, DETR)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import visionzoo as vz
from visionzoo.engine import BratsMetric, SlidingWindow, load_config, pad_images
from visionzoo.engine.registry import DATASETS

from .conftest import REPO, TINY_CONFIG, load_tool, once, run_tool

TINY_DETR = REPO / "tests" / "tools" / "configs" / "tiny_detr_shapes.py"
REGIONS = ("tc", "wt", "et")


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _network_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The runner's `net.*` tensors of a training checkpoint, prefix stripped."""
    sd = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return {k[len("net."):]: v for k, v in sd.items() if k.startswith("net.")}


def _assert_weights_equal(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    own = model.state_dict()
    assert set(own) == set(expected)
    assert all(torch.equal(own[k], expected[k]) for k in own)


def _dataset(cfg, data_root: Path, **defaults):
    """The config's test dataset (the same pipeline tools/test.py evaluates), under `data_root`."""
    spec = dict(cfg.test_dataloader.dataset)
    spec.setdefault("data_root", str(data_root))
    for key, value in defaults.items():
        spec.setdefault(key, value)
    return DATASETS.build(spec)


# ---------------------------------------------------------------- Swin UNETR (BraTS): the shared tiny run


def test_training_checkpoint_and_state_dicts_load_with_create_model(trained_run, tmp_path):
    cfg = load_config(TINY_CONFIG)
    ckpt = trained_run / "latest.pth"
    expected = _network_weights(ckpt)
    _assert_weights_equal(vz.create_model(**cfg.model, checkpoint_path=str(ckpt)), expected)

    # a bare state dict of the network, of the wrapper (net. keys), and of the wrapper under DDP (module.net.)
    wrapper = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    for name, sd in (("network.pth", expected), ("wrapper.pth", wrapper),
                     ("ddp.pth", {f"module.{k}": v for k, v in wrapper.items()})):
        torch.save(sd, tmp_path / name)
        _assert_weights_equal(vz.create_model(**cfg.model, checkpoint_path=str(tmp_path / name)), expected)


def test_ema_checkpoint_loads_the_averaged_weights(trained_run, tmp_path):
    """mmengine's EMAHook writes the EMA weights to `state_dict`, the raw ones to `ema_state_dict`: the EMA ones load."""
    from mmengine.hooks import EMAHook
    from mmengine.model import ExponentialMovingAverage

    cfg = load_config(TINY_CONFIG)
    wrapper = torch.nn.Module()  # stands for the engine model: the network under `net`
    wrapper.net = vz.create_model(**cfg.model, checkpoint_path=str(trained_run / "latest.pth"))
    ema = ExponentialMovingAverage(wrapper, momentum=0.5)
    ema.update_parameters(wrapper)  # the first update copies
    with torch.no_grad():
        for p in wrapper.parameters():
            p.add_(1.0)  # training moves on; the average follows halfway
    ema.update_parameters(wrapper)
    raw = {k[len("net."):]: v.clone() for k, v in wrapper.state_dict().items()}
    averaged = {k[len("module.net."):]: v.clone() for k, v in ema.state_dict().items() if k.startswith("module.net.")}

    hook = EMAHook(momentum=0.5)
    hook.ema_model = ema
    checkpoint = {"meta": {"epoch": 2}, "state_dict": dict(wrapper.state_dict()), "message_hub": {}}
    hook.before_save_checkpoint(None, checkpoint)  # exactly what mmengine does before writing the file
    assert set(checkpoint) >= {"state_dict", "ema_state_dict"}
    torch.save(checkpoint, tmp_path / "ema.pth")

    loaded = vz.create_model(**cfg.model, checkpoint_path=str(tmp_path / "ema.pth"))
    _assert_weights_equal(loaded, averaged)
    name = next(k for k in raw if raw[k].is_floating_point() and not torch.equal(raw[k], averaged[k]))
    assert not torch.equal(loaded.state_dict()[name], raw[name])


def test_swin_unetr_export_reproduces_test_dice_with_onnxruntime(trained_run, tmp_path, capsys):
    ckpt, data_root = trained_run / "latest.pth", trained_run / "synthetic_brats"
    metrics_file = tmp_path / "test_metrics.json"
    assert load_tool("test").main([str(TINY_CONFIG), str(ckpt), "--work-dir", str(tmp_path / "test"),
                                   "--out", str(metrics_file), "--cfg-options", f"data_root={data_root}"]) == 0
    onnx_file = tmp_path / "swin.onnx"
    capsys.readouterr()
    assert load_tool("export_onnx").main([str(TINY_CONFIG), "--checkpoint", str(ckpt), "--output", str(onnx_file),
                                          "--no-verify"]) == 0
    assert "input 1x4x64x32x32" in capsys.readouterr().out  # the segmenter's sliding-window ROI, 4 channels

    cfg = load_config(TINY_CONFIG)
    window = SlidingWindow(**cfg.segmenter.inference)
    session = _session(onnx_file)
    assert [i.name for i in session.get_inputs()] == ["input"] and session.get_inputs()[0].shape[0] == "batch"

    def predictor(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])

    from monai.inferers import sliding_window_inference

    metric, dice = BratsMetric(), []
    for case in _dataset(cfg, data_root, fold=cfg.get("fold", 0)):
        logits = sliding_window_inference(
            case["image"][None], window.roi_size, window.sw_batch_size, predictor, overlap=window.overlap,
            mode=window.mode, sigma_scale=window.sigma_scale)
        pred = torch.sigmoid(logits)[0] > window.threshold
        dice.append(metric.case_scores(pred, case["label"], case["affine"])[0])
    reference = json.loads(metrics_file.read_text())["metrics"]
    ours = {r: float(np.mean([d[i] for d in dice])) for i, r in enumerate(REGIONS)}
    diffs = {r: abs(ours[r] - reference[f"dice_{r}"]) for r in REGIONS}
    print(f"ORT Dice {ours} vs tools/test.py {({r: reference[f'dice_{r}'] for r in REGIONS})}: |diff| {diffs}")
    assert max(diffs.values()) <= 1e-3, diffs


def test_checkpoint_of_another_task_or_a_missing_file_is_one_error_line(trained_run, shared_detr_run, tmp_path, capsys):
    proc = run_tool(["tools/export_onnx.py", str(TINY_CONFIG), "--checkpoint", str(shared_detr_run / "latest.pth"),
                     "--output", str(tmp_path / "x.onnx")], check=False)
    first = proc.stderr.splitlines()[0]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert first.startswith("error: ") and "(a training checkpoint of detr) does not fit swin_unetr_brats" in first
    assert not (tmp_path / "x.onnx").exists()

    tool = load_tool("export_onnx")
    assert tool.main([str(TINY_CONFIG), "--checkpoint", str(tmp_path / "nope.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.pth" in err and len(err.strip().splitlines()) == 1
    assert tool.main(["no_such_model"]) == 2 and "error: Unknown model 'no_such_model'" in capsys.readouterr().err
    assert tool.main([str(TINY_CONFIG), "--set", "feature_size"]) == 2 and "key=value" in capsys.readouterr().err
    assert tool.main([str(TINY_CONFIG), "--cfg-options", "model.featur_size=24"]) == 2
    assert "model.feature_size" in capsys.readouterr().err  # the closest key is named


# ---------------------------------------------------------------- DETR: one tiny run shared by these tests


def _train_detr(out: Path) -> None:
    run_tool(["tools/train.py", str(TINY_DETR), "--work-dir", str(out / "work")])


@pytest.fixture(scope="session")
def shared_detr_run(shared_root) -> Path:
    """Work dir of the tiny DETR config trained 2 epochs x 2 iterations (synthetic shapes generated in it)."""
    return once(shared_root, "chain_detr", _train_detr) / "work"


def test_detr_chain_load_export_and_onnxruntime_match_test_tool(shared_detr_run, tmp_path, capsys):
    ckpt, data_root = shared_detr_run / "latest.pth", shared_detr_run / "synthetic_shapes"
    cfg = load_config(TINY_DETR)
    model = vz.create_model(**cfg.model, checkpoint_path=str(ckpt)).eval()
    expected = _network_weights(ckpt)
    _assert_weights_equal(model, expected)
    wrapper_sd = {**{f"net.{k}": v for k, v in expected.items()}, "criterion.empty_weight": torch.ones(4)}
    torch.save(wrapper_sd, tmp_path / "wrapper.pth")  # a Detector's own state dict: its criterion buffer is dropped
    _assert_weights_equal(vz.create_model(**cfg.model, checkpoint_path=str(tmp_path / "wrapper.pth")), expected)

    preds = tmp_path / "preds"
    assert load_tool("test").main([str(TINY_DETR), str(ckpt), "--work-dir", str(tmp_path / "test"),
                                   "--out", str(tmp_path / "metrics.json"), "--save-preds", str(preds),
                                   "--cfg-options", f"data_root={data_root}"]) == 0
    onnx_file = tmp_path / "detr.onnx"
    capsys.readouterr()
    assert load_tool("export_onnx").main([str(TINY_DETR), "--checkpoint", str(ckpt), "--output", str(onnx_file)]) == 0
    printed = capsys.readouterr().out
    assert "input 1x3x64x64, mask" in printed and "[ok]" in printed  # synthetic shapes' stored size; verified

    session = _session(onnx_file)
    assert [i.name for i in session.get_inputs()] == ["input", "mask"]
    assert [o.name for o in session.get_outputs()][:2] == ["pred_logits", "pred_boxes"]
    dataset = _dataset(cfg, data_root)
    samples = list(dataset)
    images, mask = pad_images([torch.as_tensor(s["image"]) for s in samples])
    logits, boxes = session.run(["pred_logits", "pred_boxes"], {"input": images.numpy(), "mask": mask.numpy()})
    with torch.no_grad():
        ref = model(images, mask=mask)
    for got, want in ((logits, ref["pred_logits"]), (boxes, ref["pred_boxes"])):
        want = want.numpy()
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max())

    from visionzoo.heads.detr import postprocess

    sizes = torch.tensor([list(s["orig_size"]) for s in samples])
    results = postprocess({"pred_logits": torch.from_numpy(logits), "pred_boxes": torch.from_numpy(boxes)}, sizes)
    label_to_cat = dataset.metainfo["label_to_cat"]
    saved = json.loads((preds / "detections.json").read_text())
    assert len(saved) == sum(len(r["scores"]) for r in results)
    for sample, res in zip(samples, results):
        theirs = sorted((d for d in saved if d["image_id"] == sample["image_id"]), key=lambda d: -d["score"])
        order = res["scores"].argsort(descending=True)
        for d, i in zip(theirs[:3], order[:3].tolist()):  # the top detections: same class, score and box
            x0, y0, x1, y1 = res["boxes"][i].tolist()
            assert d["category_id"] == label_to_cat[int(res["labels"][i])]
            assert d["score"] == pytest.approx(float(res["scores"][i]), abs=1e-4)
            assert d["bbox"] == pytest.approx([x0, y0, x1 - x0, y1 - y0], abs=1e-3)
