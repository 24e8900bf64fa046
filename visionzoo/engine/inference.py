"""`run_inference`: run a trained (or named) model on new files with its config's own preprocessing.

What ``tools/infer.py CONFIG CHECKPOINT INPUT... --out DIR`` calls, for the three tasks the tools train
(the task is the config's wrapper key, `task_wrapper`):

- classification (``classifier``): images or image folders (searched recursively) -> ``DIR/predictions.csv``
  (path, pred_class, pred_index, score, top5) and ``DIR/predictions.json``; the pixels go through the
  config's evaluation ``ClsTransforms`` with the model's data config filling what it leaves out (resize by
  ``crop_pct``, centre crop, interpolation, mean / std), as mmpretrain's ``ImageClassificationInferencer``;
- detection (``detector``): images or folders -> ``DIR/detections.json`` (per image: xyxy boxes in original
  pixels clipped to the image, scores, labels, class names; every query, best first) and one PNG per image
  with the boxes scoring at least ``score_thr`` drawn (the threshold only affects the drawing, as in mmdet);
- 3D segmentation (``segmenter``): BraTS case folders (one case, or a folder of cases in any format
  `visionzoo.data.find_cases` reads) or 4D NIfTI files (channels FLAIR, T1w, T1gd, T2w: Decathlon order)
  -> ``DIR/CASE.nii.gz`` (the format's labels, the input's affine), ``DIR/CASE.png`` (FLAIR with
  WT/TC/ET contours) and ``DIR/segmentations.json`` (region volumes), through the config's sliding-window
  settings, as MONAI bundle inference does.

The network is built by ``visionzoo.create_model(**cfg.model, checkpoint_path=CHECKPOINT)`` inside the
config's own wrapper (``ImageClassifier``, ``Detector``, ``VolumeSegmenter``), whose ``test_step`` makes
the predictions, so they are the ones ``tools/test.py`` makes. Class names come from the checkpoint's
``meta["dataset_meta"]`` (mmengine stores the training set's metainfo there), else from the config's data,
else are the class indices. Nothing is half-written: per-input files are made in a hidden staging folder
inside DIR and moved in only when every input succeeded; the summary files are then written atomically.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mmengine.config import Config
from tqdm import tqdm

from visionzoo.data import (IMG_EXTENSIONS, SHAPE_CATEGORIES, BratsCase, DataFormatError, ImageDecodeError,
                            find_cases, find_classes, get_format, read_coco_image, read_image)
from visionzoo.data.cases import parse_file_name
from visionzoo.data.formats import REGIONS as BRATS_CLASSES
from visionzoo.utils.memory import keep_freed_memory, trim_heap
from visionzoo.weights.checkpoint import checkpoint_meta

from .checkpoint import atomic_write_text, checkpoint_to_run
from .classification_data import _DATA_CONFIG_KEYS, cls_transforms, model_data_config
from .collate import brats_collate
from .detection_visualize import save_detections_png
from .distributed import SetupError
from .registry import MODELS, TRANSFORMS
from .runner import task_wrapper
from .tasks import check_config_types

__all__ = [
    "run_inference", "InferenceResult", "build_inference_model", "collect_images", "collect_cases",
    "inference_class_names", "classification_transform", "NIFTI_SUFFIXES", "DECATHLON_4D_CHANNELS",
    "run_onnx_inference",
]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
"""File endings read as NIfTI volumes."""
DECATHLON_4D_CHANNELS = (0, 2, 1, 3)
"""Where FLAIR, T1ce, T1, T2 sit in a lone 4D NIfTI: the Medical Decathlon Task01 order FLAIR, T1w, T1gd, T2w."""

_TASKS = {"classifier": "classification", "detector": "detection", "segmenter": "segmentation"}


@dataclass
class InferenceResult:
    """What `run_inference` produced: the task, how many inputs, the summary files and every file written."""

    task: str
    count: int
    out_dir: Path
    summary_files: list[Path]
    files: list[Path] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- inputs

def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith(NIFTI_SUFFIXES)


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMG_EXTENSIONS


def _exists(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"input {str(path)!r} does not exist.")
    return path


def collect_images(inputs: Sequence[str | os.PathLike], task: str = "classification",
                   exclude: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
    """(image file, output name without extension) for files and folders (searched recursively), sorted per folder.

    A file that is not an image by its extension (or a NIfTI volume) is a `DataFormatError` naming it; an
    output name is the file's path below the folder it was found in, made unique. Folder searches skip
    hidden entries and `exclude` (the output folder, so earlier drawings are not predicted again).
    """
    skip = Path(exclude).expanduser().resolve() if exclude is not None else None
    found: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for raw in inputs:
        path = _exists(Path(raw).expanduser())
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _is_image(p)
                           and not any(part.startswith(".") for part in p.relative_to(path).parts)
                           and not (skip is not None and p.resolve().is_relative_to(skip)))
            if not files:
                raise FileNotFoundError(f"no images ({', '.join(IMG_EXTENSIONS)}) under {str(path)!r}.")
            entries = [(p, p.relative_to(path).with_suffix("").as_posix()) for p in files]
        elif _is_image(path):
            entries = [(path, path.stem)]
        elif _is_nifti(path):
            raise DataFormatError(f"{str(path)!r} is a NIfTI volume, but this config's model does {task} of 2D "
                                  f"images ({', '.join(IMG_EXTENSIONS)}).")
        else:
            raise DataFormatError(f"{str(path)!r} is not an image file: {task} takes {', '.join(IMG_EXTENSIONS)} "
                                  "files or folders of them.")
        for p, name in entries:
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                found.append((p, name))
    names: set[str] = set()
    out = []
    for p, name in found:  # the same stem from two folders: a_1, a_2, ...
        unique, k = name, 1
        while unique in names:
            unique, k = f"{name}_{k}", k + 1
        names.add(unique)
        out.append((p, unique))
    return out


def _lone_volume_case(path: Path) -> BratsCase:
    """A NIfTI file given on its own: a BraTS-named modality file stands for its case; a 4D file is a case."""
    import nibabel as nib

    parsed = parse_file_name(path)
    if parsed is not None and parsed[2] is not None and parsed[0] != "decathlon":
        _, case_id, _ = parsed
        matches = [c for c in find_cases(path.parent, require_label=False) if c.case_id == case_id]
        if matches:
            return matches[0]
    try:
        shape = tuple(int(s) for s in nib.load(str(path)).shape)
    except Exception as e:  # nibabel raises ImageFileError, OSError, EOFError, ... on a bad file
        raise DataFormatError(f"{str(path)!r} is not a readable NIfTI file ({type(e).__name__}: {e}).") from None
    if len(shape) == 4 and shape[3] >= 4:
        case_id = path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
        return BratsCase(case_id, "decathlon", (path,), None, DECATHLON_4D_CHANNELS, root=path.parent)
    raise DataFormatError(
        f"{str(path)!r} is one volume of shape {shape}; BraTS segmentation needs the four modalities FLAIR, T1ce, "
        "T1 and T2: pass the case folder (one NIfTI per modality) or a 4D NIfTI (X, Y, Z, 4) in the order "
        "FLAIR, T1w, T1gd, T2w.")


def collect_cases(inputs: Sequence[str | os.PathLike], format: str = "auto") -> list[BratsCase]:
    """BraTS cases (no label needed) from case folders, folders of cases and 4D (or BraTS-named) NIfTI files.

    A case missing a modality is an error naming it; a 2D image is an error saying the model is 3D.
    """
    cases: list[BratsCase] = []
    where: dict[str, BratsCase] = {}
    for raw in inputs:
        path = _exists(Path(raw).expanduser())
        if path.is_dir():
            if not any(_is_nifti(p) for p in path.rglob("*")):
                images = [p for p in path.rglob("*") if p.is_file() and _is_image(p)]
                if images:
                    raise DataFormatError(
                        f"{str(path)!r} holds 2D images ({images[0].name}, ...), but this config segments 3D BraTS "
                        "volumes: pass case folders (FLAIR, T1ce, T1, T2 NIfTI files) or 4D NIfTI files.")
            found = find_cases(path, format, require_label=False)
        elif _is_nifti(path):
            found = [_lone_volume_case(path)]
        elif _is_image(path):
            raise DataFormatError(
                f"{str(path)!r} is a 2D image, but this config segments 3D BraTS volumes: pass case folders "
                "(FLAIR, T1ce, T1, T2 NIfTI files) or 4D NIfTI files (X, Y, Z, 4).")
        else:
            raise DataFormatError(f"{str(path)!r} is neither a BraTS case folder nor a NIfTI (.nii, .nii.gz) file.")
        for case in found:
            previous = where.get(case.case_id)
            if previous is not None:
                if previous.images == case.images:
                    continue
                raise DataFormatError(f"two inputs hold case {case.case_id} ({previous.images[0].parent} and "
                                      f"{case.images[0].parent}); their outputs would share the name {case.case_id}.")
            where[case.case_id] = case
            cases.append(case)
    return cases


# ----------------------------------------------------------------------------------------------- model

def _check_device(device: str | None) -> torch.device:
    name = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SetupError("--device cuda: no CUDA GPU is visible to PyTorch here; use --device cpu.")
    if dev.type not in ("cpu", "cuda"):
        raise SetupError(f"--device must be cpu or cuda (cuda:N), got {name!r}.")
    return dev


def _no_pretrained(d: dict) -> None:
    """The checkpoint carries the whole network: nested ``pretrained=True`` (a backbone's) would only download."""
    for value in d.values():
        if isinstance(value, dict):
            if value.get("pretrained"):
                value["pretrained"] = False
            _no_pretrained(value)


def build_inference_model(cfg: Config, checkpoint: str | os.PathLike | None, device: str | torch.device = "cpu",
                          num_classes: int | None = None) -> torch.nn.Module:
    """The config's task wrapper around ``create_model(**cfg.model, checkpoint_path=checkpoint)``, in eval mode.

    `num_classes` fills a config whose ``model.num_classes`` is None (it is normally taken from the data).
    """
    key, default_type = task_wrapper(cfg)
    check_config_types(cfg, default_type)
    net = copy.deepcopy(cfg.model.to_dict() if hasattr(cfg.model, "to_dict") else dict(cfg.model))
    if checkpoint is not None:
        net.pop("pretrained", None)
        net["checkpoint_path"] = str(checkpoint)
        _no_pretrained(net)
    if "num_classes" in net and net["num_classes"] is None:
        if num_classes:
            net["num_classes"] = int(num_classes)
        else:
            net.pop("num_classes")
    wrapper = copy.deepcopy(dict(cfg.get(key) or {}))
    wrapper.setdefault("type", default_type)
    model = MODELS.build(dict(wrapper, net=net))
    return model.to(device).eval()


# ----------------------------------------------------------------------------------------------- class names

def _dataset_dict(cfg: Config, types: Sequence[str]) -> dict | None:
    for key in ("test_dataloader", "val_dataloader", "train_dataloader"):
        loader = cfg.get(key)
        ds = loader.get("dataset") if isinstance(loader, Mapping) else None
        if isinstance(ds, Mapping) and ds.get("type") in types:
            return dict(ds)
    return None


def _test_pipeline(cfg: Config, pipeline_type: str) -> dict:
    for key in ("test_dataloader", "val_dataloader"):
        loader = cfg.get(key)
        ds = loader.get("dataset") if isinstance(loader, Mapping) else None
        pipeline = ds.get("pipeline") if isinstance(ds, Mapping) else None
        if isinstance(pipeline, Mapping) and pipeline.get("type") == pipeline_type:
            return copy.deepcopy(dict(pipeline))
    return {"type": pipeline_type}


def _cls_config_classes(cfg: Config) -> tuple[str, ...] | None:
    train = (cfg.get("train_dataloader") or {}).get("dataset") or {}
    if train.get("type") != "ImageClsDataset":
        return None
    root = train.get("data_root") or cfg.get("data_root")
    classes = train.get("classes")
    if isinstance(classes, (list, tuple)):
        return tuple(str(c) for c in classes)
    if root is None:
        return None
    if isinstance(classes, str):
        path = Path(root) / classes
        return tuple(s.strip() for s in path.read_text().splitlines() if s.strip()) if path.is_file() else None
    if train.get("list_file") is not None:
        return None
    folder = Path(root) / train["split"] if train.get("split") else Path(root)
    names = find_classes(folder) if folder.is_dir() else ()
    return names or None


def _det_config_classes(cfg: Config) -> list[str] | None:
    ds = _dataset_dict(cfg, ("CocoDetDataset",))
    root = (ds or {}).get("data_root") or cfg.get("data_root")
    if ds is not None and root is not None and (Path(root) / ds.get("ann_file", "")).is_file():
        data = json.loads((Path(root) / ds["ann_file"]).read_text())
        cats = sorted(data.get("categories") or [], key=lambda c: c["id"])
        if ds.get("label_mode", "contiguous") == "category_id":
            names = [str(i) for i in range(max((c["id"] for c in cats), default=-1) + 1)]
            for c in cats:
                names[c["id"]] = str(c.get("name", c["id"]))
            return names
        return [str(c.get("name", c["id"])) for c in cats]
    if root is None and cfg.get("synthetic_shapes"):
        return [c["name"] for c in SHAPE_CATEGORIES]
    return None


def inference_class_names(cfg: Config, meta: Mapping[str, Any], num_classes: int | None = None) -> list[str] | None:
    """Names of the model's output labels: checkpoint ``meta["dataset_meta"]``, else the config's data, else None.

    Detection names are indexed by label (with raw COCO category ids, by id). For named weights with an
    ImageNet-sized head, timm's ImageNet descriptions.
    """
    key, _ = task_wrapper(cfg)
    dmeta = meta.get("dataset_meta") or {}
    classes = dmeta.get("classes")
    if classes:
        classes = [str(c) for c in classes]
        label_to_cat = dmeta.get("label_to_cat")
        if key == "detector" and label_to_cat:
            labels = sorted(int(k) for k in label_to_cat)
            names = [str(i) for i in range(max(labels) + 1)]
            for i, label in enumerate(labels[: len(classes)]):
                names[label] = classes[i]
            return names
        return classes
    if key == "classifier":
        names = _cls_config_classes(cfg)
        if names:
            return list(names)
        if num_classes:
            from timm.data import ImageNetInfo, infer_imagenet_subset

            subset = infer_imagenet_subset({"num_classes": int(num_classes)})
            if subset:
                info = ImageNetInfo(subset)
                return [info.index_to_description(i) for i in range(int(num_classes))]
        return None
    if key == "detector":
        return _det_config_classes(cfg)
    return list(BRATS_CLASSES)


def _name(names: Sequence[str] | None, k: int) -> str:
    return names[k] if names is not None and 0 <= k < len(names) else str(k)


# ----------------------------------------------------------------------------------------------- outputs

@contextmanager
def _staging(out_dir: Path) -> Iterator[Path]:
    """A hidden folder inside `out_dir` for per-input files; removed (with a new, empty `out_dir`) on error."""
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".infer-staging-", dir=out_dir))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            try:
                out_dir.rmdir()
            except OSError:
                pass
        raise
    shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, out_dir: Path) -> list[Path]:
    """Move every staged file to the same place under `out_dir` (one ``os.replace`` each)."""
    moved = []
    for src in sorted(p for p in stage.rglob("*") if p.is_file()):
        dest = out_dir / src.relative_to(stage)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dest)
        moved.append(dest)
    return moved


def _progress(total: int, unit: str, progress: bool) -> tqdm:
    return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, disable=not progress or total < 2,
                desc="infer")


def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _header(cfg: Config, checkpoint: Path | None, task: str, classes: Sequence[str] | None, model=None) -> dict:
    weights = str(checkpoint) if checkpoint is not None else str(cfg.model.get("checkpoint_path") or cfg.model.get("name"))
    return {"task": task, "config": cfg.filename, "checkpoint": weights, "model": cfg.model.get("name"),
            "classes": list(classes) if classes is not None else None,
            "precision": getattr(model, "inference_precision", "fp32")}


# ----------------------------------------------------------------------------------------------- tasks

def classification_transform(cfg: Config) -> Callable:
    """The config's evaluation ``ClsTransforms`` with every key it leaves out taken from the model's data config."""
    pipeline = _test_pipeline(cfg, "ClsTransforms")
    kwargs = {k: v for k, v in pipeline.items() if k not in ("type", "mode")}
    data_cfg = model_data_config(dict(cfg.model))
    for k in _DATA_CONFIG_KEYS:
        if kwargs.get(k) is None and k in data_cfg:
            kwargs[k] = data_cfg[k]
    kwargs["input_size"] = tuple(kwargs["input_size"])
    return cls_transforms(mode="val", **kwargs)


def _read_rgb(path: Path):
    try:
        return read_image(path)
    except ImageDecodeError as e:  # its own message suggests a dataset option; say what fits here
        raise DataFormatError(f"cannot decode image file {str(path)!r}: it is corrupt, truncated or not an image. "
                              "Replace it or leave it out of the inputs.") from e


def _classify(model, cfg: Config, images: list[tuple[Path, str]], names: list[str] | None, batch_size: int,
              progress: bool) -> list[dict]:
    transform = classification_transform(cfg)
    records = []
    with _progress(len(images), "image", progress) as bar:
        for batch in _batches(images, batch_size):
            x = torch.stack([transform(_read_rgb(p)) for p, _ in batch])
            outputs = model.test_step({"inputs": x, "data_samples": [{"img_path": str(p)} for p, _ in batch]})
            for (path, _), out in zip(batch, outputs):
                scores = out["pred_scores"].float()
                k = min(5, scores.numel())
                top = scores.topk(k)
                index = int(out["pred_label"])
                records.append({
                    "path": str(path), "pred_class": _name(names, index), "pred_index": index,
                    "score": float(scores[index]),
                    "top5": [{"class": _name(names, int(i)), "index": int(i), "prob": float(p)}
                             for p, i in zip(top.values, top.indices)],
                })
            bar.update(len(batch))
    return records


def _classification_csv(records: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "pred_class", "pred_index", "score", "top5"])
    for r in records:
        top5 = "; ".join(f"{t['class']}:{t['prob']:.4f}" for t in r["top5"])
        writer.writerow([r["path"], r["pred_class"], r["pred_index"], f"{r['score']:.6f}", top5])
    return buf.getvalue()


def _detection_transform(cfg: Config) -> Callable:
    from visionzoo.data import detection_transforms

    pipeline = _test_pipeline(cfg, "DetectionTransforms")
    if pipeline.get("mode", "val") == "train":
        pipeline["mode"] = "val"
    return TRANSFORMS.build(pipeline) if len(pipeline) > 1 else detection_transforms(mode="val")


def _detect(model, cfg: Config, images: list[tuple[Path, str]], names: list[str] | None, stage: Path,
            batch_size: int, score_thr: float, progress: bool) -> list[dict]:
    transform = _detection_transform(cfg)
    empty_boxes, empty_labels = np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)
    records = []
    with _progress(len(images), "image", progress) as bar:
        for batch in _batches(images, batch_size):
            originals, inputs, samples = [], [], []
            for path, _ in batch:
                image = read_coco_image(path)
                tensor, _, _ = transform(image, empty_boxes, empty_labels)
                originals.append(image)
                inputs.append(torch.as_tensor(tensor))
                samples.append({"orig_size": tuple(image.shape[:2]), "img_path": str(path)})
            outputs = model.test_step({"inputs": inputs, "data_samples": samples})
            for (path, name), image, out in zip(batch, originals, outputs):
                h, w = image.shape[:2]
                order = torch.argsort(out["pred_scores"], descending=True, stable=True)
                boxes = out["pred_boxes"][order].float()
                boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
                boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
                scores, labels = out["pred_scores"][order].float(), out["pred_labels"][order]
                png = stage / f"{name}.png"
                save_detections_png(png, image, boxes, scores, labels, names, score_thr)
                records.append({
                    "path": str(path), "width": int(w), "height": int(h), "png": f"{name}.png",
                    "num_above_thr": int((scores >= score_thr).sum()),
                    "boxes": [[round(float(v), 3) for v in b] for b in boxes],
                    "scores": [round(float(s), 6) for s in scores],
                    "labels": [int(k) for k in labels],
                    "classes": [_name(names, int(k)) for k in labels],
                })
            bar.update(len(batch))
    return records


def _segmentation_transform(cfg: Config) -> Callable:
    pipeline = _test_pipeline(cfg, "BratsTransforms")
    if pipeline.get("mode", "val") == "train":
        pipeline["mode"] = "val"
    return TRANSFORMS.build(pipeline)


def _voxel_ml(affine: torch.Tensor) -> float:
    return float(abs(np.linalg.det(np.asarray(affine, dtype=np.float64)[:3, :3]))) / 1000.0


def _segment(model, cfg: Config, cases: list[BratsCase], stage: Path, progress: bool) -> list[dict]:
    from monai.data import MetaTensor

    from visionzoo.data import load_case

    from .predictions import save_case_outputs

    transform = _segmentation_transform(cfg)
    records = []
    with _progress(len(cases), "case", progress) as bar:
        for case in cases:  # a segmentation file beside the inputs is not read: inference needs none
            sample = transform(load_case(replace(case, label=None)))
            image = sample["image"]
            image = (image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)).to(torch.float32)
            sample["image"] = image
            trim_heap()  # the checkpoint and the decoded volume's freed memory, before the sliding window's peak
            pred = model.test_step(brats_collate([sample]))[0]
            written = save_case_outputs(pred, image, nifti_dir=stage, png_dir=stage)
            fmt = get_format(pred["format"])
            voxels = {r: int(pred["pred"][i].sum()) for i, r in enumerate(BRATS_CLASSES)}
            ml = _voxel_ml(pred["affine"])
            records.append({
                "case_id": case.case_id, "format": fmt.name, "inputs": [str(p) for p in case.images],
                "nifti": written[0].name, "png": written[1].name,
                "shape": [int(s) for s in pred["spatial_shape"]],
                "region_voxels": voxels, "region_ml": {r: round(v * ml, 3) for r, v in voxels.items()},
            })
            bar.update(1)
    return records


# ----------------------------------------------------------------------------------------------- entry point

def run_inference(cfg: Config, checkpoint: str | os.PathLike | None, inputs: Sequence[str | os.PathLike],
                  out_dir: str | os.PathLike, *, device: str | None = None, batch_size: int = 8,
                  score_thr: float = 0.5, format: str = "auto", progress: bool = True) -> InferenceResult:
    """Predict every input with the config's model and preprocessing; write the task's files into `out_dir`.

    `checkpoint` None runs weights the config's model dict names (``pretrained=True`` on a ``name.tag``, or
    ``checkpoint_path``). `batch_size` batches images (classification, detection); `score_thr` is the
    lowest score drawn on detection PNGs; `format` a BraTS format name for case folders (default: detected).
    """
    if not inputs:
        raise FileNotFoundError("no inputs given: pass image files or folders (BraTS: case folders or 4D NIfTI files).")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}.")
    key, _ = task_wrapper(cfg)
    task = _TASKS[key]
    dev = _check_device(device)
    ckpt = checkpoint_to_run(cfg, checkpoint)
    if (cfg.get("env_cfg") or {}).get("keep_freed_memory", True):
        keep_freed_memory()  # many inputs through one model: reuse freed buffers instead of page-faulting them
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {str(out)!r} is a file, not a folder.")
    if key == "segmenter":
        items: list = collect_cases(inputs, format)
    else:
        items = collect_images(inputs, task, exclude=out_dir)
    weights_file = ckpt or cfg.model.get("checkpoint_path")  # a training checkpoint carries its class names
    meta = checkpoint_meta(weights_file) if weights_file else {}
    dmeta = meta.get("dataset_meta") or {}
    num_classes = None
    if key == "classifier" and cfg.model.get("num_classes") is None:
        known = dmeta.get("classes") or _cls_config_classes(cfg)
        num_classes = int(dmeta.get("num_classes") or 0) or (len(known) if known else None)
    model = build_inference_model(cfg, ckpt, dev, num_classes)
    if key == "classifier":
        num_classes = getattr(model, "num_classes", num_classes)
    names = inference_class_names(cfg, meta, num_classes)

    header = _header(cfg, ckpt, task, names, model)
    with _staging(out) as stage, torch.inference_mode():
        if key == "classifier":
            records = _classify(model, cfg, items, names, batch_size, progress)
        elif key == "detector":
            records = _detect(model, cfg, items, names, stage, batch_size, score_thr, progress)
        else:
            records = _segment(model, cfg, items, stage, progress)
        files = _commit(stage, out)
    if key == "classifier":
        summary = [out / "predictions.csv", out / "predictions.json"]
        atomic_write_text(summary[0], _classification_csv(records))
        atomic_write_text(summary[1], json.dumps({**header, "predictions": records}, indent=1) + "\n")
    elif key == "detector":
        summary = [out / "detections.json"]
        atomic_write_text(summary[0], json.dumps({**header, "score_thr": score_thr, "images": records}, indent=1) + "\n")
    else:
        summary = [out / "segmentations.json"]
        infer_cfg = dict((cfg.get("segmenter") or {}).get("inference") or {})
        atomic_write_text(summary[0], json.dumps({**header, "inference": infer_cfg, "cases": records}, indent=1,
                                                 default=list) + "\n")
    return InferenceResult(task, len(records), out, summary, files + summary, records)


# ----------------------------------------------------------------------------------------------- ONNX files

def run_onnx_inference(onnx_path: str | os.PathLike, inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                       *, batch_size: int = 8, format: str = "auto", progress: bool = True,
                       threads: int | None = None) -> InferenceResult:
    """`run_inference` for an exported ONNX file (``tools/infer.py --onnx``): no config, no checkpoint.

    The file's metadata says the task and the preprocessing (`visionzoo.export.OnnxPredictor`): classifiers
    write the same ``predictions.csv``/``predictions.json`` as with a config; BraTS segmenters the same label
    NIfTI, overlay PNG and ``segmentations.json``, through sliding windows of the file's ROI. Detection files
    are not handled here (run them with their config).
    """
    from visionzoo.export import OnnxPredictor

    if not inputs:
        raise FileNotFoundError("no inputs given: pass image files or folders (BraTS: case folders or 4D NIfTI files).")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}.")
    predictor = OnnxPredictor(onnx_path, threads=threads)
    task = predictor.task
    if task == "classification":
        items: list = collect_images(inputs, task, exclude=out_dir)
    elif task == "segmentation" and predictor.spatial_dims == 3:
        items = collect_cases(inputs, format)
    else:
        raise ValueError(f"{Path(onnx_path).name} is a {task} model: --onnx runs classifiers and BraTS segmenters; "
                         "run other models with their config and checkpoint.")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {str(out)!r} is a file, not a folder.")
    meta = predictor.metadata
    header = {"task": task, "onnx": str(onnx_path), "model": meta.get("model"), "classes": predictor.class_names}
    with _staging(out) as stage:
        if task == "classification":
            records = _classify_onnx(predictor, items, batch_size, progress)
        else:
            records = _segment_onnx(predictor, items, stage, progress)
        files = _commit(stage, out)
    if task == "classification":
        summary = [out / "predictions.csv", out / "predictions.json"]
        atomic_write_text(summary[0], _classification_csv(records))
        atomic_write_text(summary[1], json.dumps({**header, "predictions": records}, indent=1) + "\n")
    else:
        summary = [out / "segmentations.json"]
        settings = {k: meta[k] for k in ("roi_size", "overlap", "sw_batch_size", "blend_mode", "sigma_scale", "threshold")
                    if k in meta}
        atomic_write_text(summary[0], json.dumps({**header, "inference": settings, "cases": records}, indent=1,
                                                 default=list) + "\n")
    return InferenceResult(task, len(records), out, summary, files + summary, records)


def _classify_onnx(predictor, images: list[tuple[Path, str]], batch_size: int, progress: bool) -> list[dict]:
    records = []
    with _progress(len(images), "image", progress) as bar:
        for batch in _batches(images, batch_size):
            results = predictor.classify([_read_rgb(p) for p, _ in batch], topk=5, batch_size=batch_size)
            for (path, _), r in zip(batch, results):
                records.append({
                    "path": str(path), "pred_class": r["class"], "pred_index": r["index"], "score": r["score"],
                    "top5": [{"class": t["class"], "index": t["index"], "prob": t["prob"]} for t in r["topk"]],
                })
            bar.update(len(batch))
    return records


def _segment_onnx(predictor, cases: list[BratsCase], stage: Path, progress: bool) -> list[dict]:
    from visionzoo.data import load_case

    from .predictions import save_case_outputs

    regions = list(predictor.class_names or BRATS_CLASSES)
    records = []
    with _progress(len(cases), "case", progress) as bar:
        for case in cases:
            sample = load_case(replace(case, label=None))
            image = np.asarray(sample["image"], dtype=np.float32)
            normalized = predictor.normalize_volume(image)
            mask = torch.from_numpy(predictor.segment(normalized, normalize=False)["mask"])
            pred = {"pred": mask, "case_id": sample["case_id"], "format": sample["format"], "affine": sample["affine"],
                    "spatial_shape": sample["spatial_shape"]}
            written = save_case_outputs(pred, torch.from_numpy(normalized), nifti_dir=stage, png_dir=stage)
            voxels = {r: int(mask[i].sum()) for i, r in enumerate(regions)}
            ml = _voxel_ml(pred["affine"])
            records.append({
                "case_id": case.case_id, "format": get_format(pred["format"]).name,
                "inputs": [str(p) for p in case.images], "nifti": written[0].name, "png": written[1].name,
                "shape": [int(s) for s in pred["spatial_shape"]],
                "region_voxels": voxels, "region_ml": {r: round(v * ml, 3) for r, v in voxels.items()},
            })
            bar.update(1)
    return records
