"""Classification through the tools: the tiny run's test.py table and confusion matrix, every recipe config for two
iterations on a generated folder, and published (converted) weights evaluated without a training checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch

from tests.tools.cls_files import CLASSES, make_image_folder

from .conftest import REPO, TINY_CLS_CONFIG, load_tool

RECIPES = sorted(p for p in (REPO / "configs" / "classification").glob("*.py"))


def test_test_tool_prints_top1_and_writes_confusion_matrix(tmp_path, trained_cls_run, capsys):
    out = tmp_path / "metrics.json"
    code = load_tool("test").main([str(TINY_CLS_CONFIG), str(trained_cls_run / "work" / "latest.pth"),
                                   "--work-dir", str(tmp_path / "w"), "--out", str(out),
                                   "--cfg-options", f"data_root={trained_cls_run / 'data'}"])
    printed = capsys.readouterr().out
    assert code == 0 and "accuracy/top1" in printed and "confusion matrix:" in printed
    saved = json.loads(out.read_text())
    assert set(saved["metrics"]) == {"accuracy/top1", "accuracy/top5", "accuracy/mean_class"}
    assert 0 <= saved["metrics"]["accuracy/top1"] <= 100 and saved["metrics"]["accuracy/top5"] == 100.0  # 3 classes
    confusion = torch.tensor(saved["confusion_matrix"])
    assert confusion.shape == (3, 3) and int(confusion.sum()) == 3 * 3 and saved["classes"] == list(CLASSES)
    assert saved["metrics"]["accuracy/top1"] == pytest.approx(float(confusion.trace()) / 9 * 100)
    png = cv2.imread(str(tmp_path / "metrics_confusion.png"))
    assert png is not None and png.shape[0] > 200
    log = (trained_cls_run / "stdout.txt").read_text()
    assert "model.num_classes = 3" in log and "accuracy/top1" in log


@pytest.mark.parametrize("config", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_trains_two_iterations_and_evaluates(config: Path, tmp_path, capsys):
    data = make_image_folder(tmp_path / "data", n_train=2, n_val=1, size=48)  # 6 images, batch 3: 2 iterations
    work = tmp_path / "work"
    options = [f"data_root={data}", "train_dataloader.batch_size=3", "val_dataloader.batch_size=3",
               "train_dataloader.num_workers=0", "val_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
               "val_dataloader.persistent_workers=False", "test_dataloader.num_workers=0",
               "test_dataloader.persistent_workers=False", "test_dataloader.batch_size=3", "train_cfg.max_epochs=1",
               "default_hooks.logger.interval=1"]
    options.append("model.num_classes=None" if "digits" not in config.stem else "model.num_classes=3")
    if "finetune" in config.stem:  # weights by name need the Hub: fine-tune from the architecture alone here
        options.append("model.pretrained=False")
    assert load_tool("train").main([str(config), "--work-dir", str(work), "--cfg-options", *options]) == 0
    log = "".join(p.read_text() for p in work.glob("*/*.log"))
    assert "Epoch(train) [1][2/2]" in log and "accuracy/top1" in log, log[-2000:]
    code = load_tool("test").main([str(config), str(work / "latest.pth"), "--work-dir", str(tmp_path / "t"),
                                   "--cfg-options", *options])
    assert code == 0 and "accuracy/top1" in capsys.readouterr().out


def test_published_weights_are_evaluated_by_name_on_an_imagenet_val_list(tmp_path, capsys):
    """ImageNet's flat validation folder + label file, weights converted from timm's layout, no training checkpoint:
    the accuracy must equal what timm's own model and eval transform give on the same images."""
    import timm
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    from tests.conftest import randomize_

    ref = randomize_(timm.create_model("swin_tiny_patch4_window7_224", num_classes=1000), seed=3, std=0.02).eval()
    weights = tmp_path / "swin_tiny_timm.pth"
    torch.save(ref.state_dict(), weights)
    val = tmp_path / "imagenet" / "val"
    val.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    transform = create_transform(**resolve_data_config(model=ref))
    expected = []
    for i in range(3):
        pixels = (torch.rand(300 + 20 * i, 260, 3, generator=gen) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(val / f"ILSVRC2012_val_{i:08d}.JPEG", quality=95)
        with torch.no_grad():
            expected.append(int(ref(transform(Image.open(val / f"ILSVRC2012_val_{i:08d}.JPEG").convert("RGB"))[None]).argmax()))
    labels = [expected[0], expected[1], (expected[2] + 1) % 1000]  # two right, one wrong: 66.67 %
    (tmp_path / "imagenet" / "val_labels.txt").write_text(
        "".join(f"ILSVRC2012_val_{i:08d}.JPEG {lab}\n" for i, lab in enumerate(labels)))
    (tmp_path / "imagenet" / "classes.txt").write_text("".join(f"n{i:08d}\n" for i in range(1000)))
    out = tmp_path / "metrics.json"
    code = load_tool("test").main([
        str(REPO / "configs" / "classification" / "swin_tiny_in1k.py"), "--work-dir", str(tmp_path / "w"), "--out", str(out),
        "--cfg-options", f"data_root={tmp_path / 'imagenet'}", "model.name=swin_tiny_patch4_window7_224.ms_in1k",
        f"+model.checkpoint_path={weights}", "+test_dataloader.dataset.list_file=val_labels.txt",
        "+test_dataloader.dataset.classes=classes.txt", "test_dataloader.batch_size=3", "test_dataloader.num_workers=0",
        "test_dataloader.persistent_workers=False",
    ])
    assert code == 0, capsys.readouterr()
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["accuracy/top1"] == pytest.approx(200 / 3, abs=1e-3)


def test_test_tool_takes_a_bare_network_state_dict_and_refuses_another_architecture(tmp_path, trained_cls_run, capsys):
    """What train.py wrote, re-saved as the network's own safetensors, scores exactly the same; a ViT's does not fit."""
    from safetensors.torch import save_file

    import visionzoo as vz
    from visionzoo.engine import load_config

    data, ckpt = trained_cls_run / "data", trained_cls_run / "work" / "latest.pth"
    cfg = load_config(TINY_CLS_CONFIG, {"model.num_classes": 3})
    net = vz.create_model(**cfg.model, checkpoint_path=str(ckpt))
    bare = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(bare))
    scores = []
    for weights in (ckpt, bare):
        out = tmp_path / f"{weights.stem}.json"
        assert load_tool("test").main([str(TINY_CLS_CONFIG), str(weights), "--work-dir", str(tmp_path / "w"), "--out",
                                       str(out), "--cfg-options", f"data_root={data}"]) == 0
        scores.append(json.loads(out.read_text())["confusion_matrix"])
    assert scores[0] == scores[1]
    other = tmp_path / "vit.pth"
    torch.save(vz.create_model("vit_tiny_patch16_224", num_classes=3).state_dict(), other)
    capsys.readouterr()
    assert load_tool("test").main([str(TINY_CLS_CONFIG), str(other), "--work-dir", str(tmp_path / "w"),
                                   "--cfg-options", f"data_root={data}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "does not fit resnet18_cbam" in err.splitlines()[0] and "Traceback" not in err


def test_trained_classifier_exports_and_onnxruntime_reproduces_test_tool(tmp_path, trained_cls_run, capsys):
    """train.py's checkpoint -> export_onnx.py CONFIG --checkpoint -> onnxruntime on the val images with the config's
    eval transform: the same confusion matrix as tools/test.py, and logits equal to PyTorch's."""
    import onnxruntime as ort

    import visionzoo as vz
    from visionzoo.data import ImageFolderDataset
    from visionzoo.engine import cls_transforms, eval_input_size, load_config, model_data_config, trained_num_classes

    data, ckpt = trained_cls_run / "data", trained_cls_run / "work" / "latest.pth"
    onnx_path = tmp_path / "cls.onnx"
    assert load_tool("export_onnx").main([str(TINY_CLS_CONFIG), "--checkpoint", str(ckpt), "--output", str(onnx_path)]) == 0
    out = tmp_path / "metrics.json"
    assert load_tool("test").main([str(TINY_CLS_CONFIG), str(ckpt), "--work-dir", str(tmp_path / "w"), "--out", str(out),
                                   "--cfg-options", f"data_root={data}"]) == 0
    expected = json.loads(out.read_text())["confusion_matrix"]

    cfg = load_config(TINY_CLS_CONFIG)
    data_cfg = {**model_data_config(dict(cfg.model)), **{k: v for k, v in cfg.test_dataloader.dataset.pipeline.items()
                                                         if k not in ("type", "mode")}}
    assert tuple(data_cfg["input_size"]) == eval_input_size(cfg) == (3, 32, 32)
    val = ImageFolderDataset(data, split="val", transform=cls_transforms("val", **data_cfg))
    batch = torch.stack([val[i][0] for i in range(len(val))])
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]
    net = vz.create_model(**trained_num_classes(dict(cfg.model), ckpt), checkpoint_path=str(ckpt)).eval()
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), net(batch), atol=1e-4, rtol=1e-4)
    confusion = [[0] * 3 for _ in range(3)]
    for (_, label), pred in zip(val.samples, logits.argmax(1)):
        confusion[label][int(pred)] += 1
    assert confusion == expected


def test_resumed_classification_run_ends_bit_identical(tmp_path, trained_cls_run):
    """One epoch, then --resume to the second: the weights, EMA and optimizer state equal the uninterrupted run's."""
    work, data = tmp_path / "work", trained_cls_run / "data"
    train = load_tool("train")
    assert train.main([str(TINY_CLS_CONFIG), "--work-dir", str(work), "--cfg-options", f"data_root={data}",
                       "train_cfg.max_epochs=1"]) == 0
    assert train.main([str(TINY_CLS_CONFIG), "--work-dir", str(work), "--resume", "--cfg-options",
                       f"data_root={data}"]) == 0
    resumed = torch.load(work / "latest.pth", weights_only=False)
    straight = torch.load(trained_cls_run / "work" / "latest.pth", weights_only=False)
    assert resumed["meta"]["iter"] == straight["meta"]["iter"] == 8
    for key in ("state_dict", "ema_state_dict"):
        assert resumed[key].keys() == straight[key].keys()
        for name, value in straight[key].items():
            assert torch.equal(resumed[key][name], value), f"{key}.{name}"
    for a, b in zip(resumed["optimizer"]["state"].values(), straight["optimizer"]["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in b)
