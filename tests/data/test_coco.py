"""COCO detection data: the JSON loader and its bad-input cases, box-aware transforms, the synthetic shapes generator."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from visionzoo.data import (
    SHAPE_CATEGORIES, CocoDetection, DataFormatError, detection_transforms, synthetic_coco_matches, write_synthetic_coco,
)


def _write(root: Path, images: list[dict], annotations: list[dict], categories: list[dict] | None = None,
           draw: bool = True) -> tuple[Path, Path]:
    """An instances JSON plus grey PNGs of the sizes `images` names (skipped for draw=False)."""
    img_dir = root / "imgs"
    img_dir.mkdir(parents=True, exist_ok=True)
    if draw:
        for im in images:
            cv2.imwrite(str(img_dir / im["file_name"]), np.full((im["height"], im["width"], 3), 90, np.uint8))
    cats = categories if categories is not None else [{"id": 3, "name": "a"}, {"id": 7, "name": "b"}]
    ann = root / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    return ann, img_dir


def _img(i: int, w: int = 40, h: int = 30) -> dict:
    return {"id": i, "file_name": f"{i}.png", "width": w, "height": h}


def _ann(i: int, image_id: int, bbox: list[float], cat: int = 3, **kw) -> dict:
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": bbox, "area": float(np.prod(bbox[2:4])), "iscrowd": 0, **kw}


def test_labels_are_contiguous_or_raw_category_ids(tmp_path):
    ann, img_dir = _write(tmp_path, [_img(1)], [_ann(1, 1, [1, 2, 10, 8], cat=7), _ann(2, 1, [20, 5, 6, 6], cat=3)])
    ds = CocoDetection(ann, img_dir)
    s = ds[0]
    assert s["labels"].tolist() == [1, 0] and ds.num_classes == 2 and ds.class_names == ("a", "b")
    assert ds.label_to_cat == {0: 3, 1: 7}
    np.testing.assert_allclose(s["boxes"], [[1, 2, 10, 8], [20, 5, 6, 6]])
    assert s["image"].shape == (30, 40, 3) and s["image"].dtype == np.uint8
    assert s["image_id"] == 1 and s["orig_size"] == (30, 40) and s["img_path"].endswith("1.png")
    raw = CocoDetection(ann, img_dir, label_mode="category_id")
    assert raw[0]["labels"].tolist() == [7, 3] and raw.num_classes == 8 and raw.label_to_cat == {3: 3, 7: 7}
    with pytest.raises(ValueError, match="label_mode"):
        CocoDetection(ann, img_dir, label_mode="coco")


def test_boxes_outside_the_image_are_clipped_and_empty_ones_dropped_with_one_warning(tmp_path):
    anns = [
        _ann(1, 1, [-5, -4, 15, 14]),      # reaches over the top-left corner -> [0, 0, 10, 10]
        _ann(2, 1, [35, 20, 20, 20]),      # over the bottom-right -> [35, 20, 5, 10]
        _ann(3, 1, [45, 5, 10, 10]),       # entirely right of the image -> dropped
        _ann(4, 1, [5, 5, 0, 10]),         # zero width -> dropped
        _ann(5, 1, [10, 10, 5, 5]),        # fine
    ]
    ann, img_dir = _write(tmp_path, [_img(1)], anns)
    with pytest.warns(UserWarning, match=r"clipped 2 box\(es\).*dropped 2 box\(es\)"):
        ds = CocoDetection(ann, img_dir)
    assert (ds.stats.clipped, ds.stats.dropped) == (2, 2)
    np.testing.assert_allclose(ds[0]["boxes"], [[0, 0, 10, 10], [35, 20, 5, 10], [10, 10, 5, 5]])


def test_images_without_objects_are_kept_and_crowds_left_out(tmp_path):
    anns = [_ann(1, 1, [1, 1, 5, 5]), _ann(2, 2, [1, 1, 9, 9], iscrowd=1)]
    ann, img_dir = _write(tmp_path, [_img(1), _img(2), _img(3)], anns)
    ds = CocoDetection(ann, img_dir)
    assert len(ds) == 3 and ds.stats.crowd == 1 and ds.stats.empty_images == 2
    empty = ds[2]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,)
    assert len(CocoDetection(ann, img_dir, filter_empty=True)) == 1
    t = detection_transforms("val", test_size=60)
    out = CocoDetection(ann, img_dir, transform=t)[2]
    assert out["boxes"].shape == (0, 4) and out["labels"].dtype == torch.int64 and out["image"].shape == (3, 60, 80)


def test_unknown_category_ids_name_the_ids_and_annotations(tmp_path):
    ann, img_dir = _write(tmp_path, [_img(1)], [_ann(1, 1, [1, 1, 5, 5]), _ann(12, 1, [1, 1, 5, 5], cat=99)])
    with pytest.raises(DataFormatError, match=r"category_id 99 in annotation\(s\) \[12\]") as err:
        CocoDetection(ann, img_dir)
    assert "[3, 7]" in str(err.value)


def test_annotations_of_unknown_images_and_malformed_files_are_clear_errors(tmp_path):
    ann, img_dir = _write(tmp_path, [_img(1)], [_ann(4, 2, [1, 1, 5, 5])])
    with pytest.raises(DataFormatError, match=r"annotation\(s\) \[4\] refer to image ids"):
        CocoDetection(ann, img_dir)
    ann, img_dir = _write(tmp_path, [_img(1)], [_ann(5, 1, [1, 1, 5])])
    with pytest.raises(DataFormatError, match="annotation 5 has bbox"):
        CocoDetection(ann, img_dir)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        CocoDetection(tmp_path / "bad.json", img_dir)
    (tmp_path / "partial.json").write_text(json.dumps({"images": []}))
    with pytest.raises(DataFormatError, match="annotations"):
        CocoDetection(tmp_path / "partial.json", img_dir)
    with pytest.raises(FileNotFoundError, match="nothere.json"):
        CocoDetection(tmp_path / "nothere.json", img_dir)
    with pytest.raises(FileNotFoundError, match="image folder"):
        CocoDetection(ann, tmp_path / "no_images")


def test_missing_corrupt_or_mis_sized_image_files_name_the_file(tmp_path):
    ann, img_dir = _write(tmp_path, [_img(1), _img(2), _img(3), _img(4)], [], draw=False)
    cv2.imwrite(str(img_dir / "1.png"), np.zeros((30, 40, 3), np.uint8))
    (img_dir / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cv2.imwrite(str(img_dir / "3.png"), np.zeros((31, 40, 3), np.uint8))
    ds = CocoDetection(ann, img_dir)
    assert ds[0]["image"].shape == (30, 40, 3)
    with pytest.raises(DataFormatError, match=r"2\.png.*corrupt"):
        ds[1]
    with pytest.raises(DataFormatError, match=r"3\.png.*31x40.*30x40"):
        ds[2]
    with pytest.raises(DataFormatError, match=r"4\.png.*does not exist"):
        ds[3]


def _colour_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """A 160x200 black image with three solid rectangles of distinct colours (boxes xywh, labels 0..2)."""
    img = np.zeros((160, 200, 3), np.uint8)
    boxes = np.array([[10, 20, 50, 40], [90, 60, 70, 80], [150, 10, 40, 30]], np.float32)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for (x, y, w, h), c in zip(boxes.astype(int), colours):
        img[y:y + h, x:x + w] = c
    return img, boxes, np.arange(3), colours


def _check_boxes_match_content(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, colours) -> None:
    """Each normalised cxcywh box must be the bounding box of its colour's pixels in the transformed image."""
    img = image.permute(1, 2, 0).numpy()  # mean 0, std 1: pixel / 255
    h, w = img.shape[:2]
    assert len(labels) >= 1
    for (cx, cy, bw, bh), k in zip(boxes.tolist(), labels.tolist()):
        channel = int(np.argmax(colours[k]))
        ys, xs = np.nonzero(img[..., channel] > 0.5)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        np.testing.assert_allclose([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h],
                                   [x0, y0, x1, y1], atol=2.0)


@pytest.mark.parametrize("seed", range(6))
def test_train_transforms_keep_boxes_on_their_objects(seed):
    image, boxes, labels, colours = _colour_scene()
    t = detection_transforms("train", scales=(96, 128), max_size=180, crop=True, crop_resize=(150,),
                             crop_size=(90, 140), flip_prob=0.5, mean=(0, 0, 0), std=(1, 1, 1), seed=seed)
    out_img, out_boxes, out_labels = t(image, boxes, labels)
    assert out_img.dtype == torch.float32 and out_boxes.dtype == torch.float32 and out_labels.dtype == torch.int64
    assert out_boxes.min() >= 0 and out_boxes.max() <= 1
    assert min(out_img.shape[1:]) in (96, 128) or max(out_img.shape[1:]) == 180
    _check_boxes_match_content(out_img, out_boxes, out_labels, colours)


def test_flip_resize_and_box_formats():
    image, boxes, labels, colours = _colour_scene()
    flip = detection_transforms("train", scales=(80,), max_size=None, crop=False, flip_prob=1.0, mean=(0, 0, 0),
                                std=(1, 1, 1))
    img, b, k = flip(image, boxes, labels)
    assert img.shape == (3, 80, 100)
    ref = torch.tensor(boxes)
    expected = torch.stack([1 - (ref[:, 0] + ref[:, 2] / 2) / 200, (ref[:, 1] + ref[:, 3] / 2) / 160,
                            ref[:, 2] / 200, ref[:, 3] / 160], 1)
    torch.testing.assert_close(b, expected, atol=1e-5, rtol=0)
    _check_boxes_match_content(img, b, k, colours)
    xyxy = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)
    voc = detection_transforms("val", test_size=120, bbox_format="pascal_voc")
    coco = detection_transforms("val", test_size=120)
    torch.testing.assert_close(voc(image, xyxy, labels)[1], coco(image, boxes, labels)[1])
    same_img, same_boxes, _ = detection_transforms("val", test_size=None)(image, boxes, labels)
    assert same_img.shape == (3, 160, 200)
    size = torch.tensor([200.0, 160.0, 200.0, 160.0])
    centres = torch.cat([ref[:, :2] + ref[:, 2:] / 2, ref[:, 2:]], 1) / size
    torch.testing.assert_close(same_boxes, centres)


def test_max_size_caps_the_longer_side_and_min_visibility_drops_cut_boxes():
    image, boxes, labels, _ = _colour_scene()
    img, _, _ = detection_transforms("val", test_size=800, max_size=500)(image, boxes, labels)
    assert img.shape[2] == 500 and img.shape[1] == 400
    strict = detection_transforms("train", scales=(160,), max_size=None, crop=True, crop_resize=(160,),
                                  crop_size=(60, 60), flip_prob=0.0, min_visibility=0.99, seed=0)
    loose = detection_transforms("train", scales=(160,), max_size=None, crop=True, crop_resize=(160,),
                                 crop_size=(60, 60), flip_prob=0.0, min_visibility=0.0, seed=0)
    n_strict = n_loose = 0
    for seed in range(10):
        strict.set_random_state(seed)
        loose.set_random_state(seed)
        n_strict += len(strict(image, boxes, labels)[2])
        n_loose += len(loose(image, boxes, labels)[2])
    assert n_strict < n_loose


def test_reseeding_repeats_the_augmentation():
    image, boxes, labels, _ = _colour_scene()
    t = detection_transforms("train", scales=(96, 112, 128), max_size=200, crop_resize=(150,), crop_size=(90, 140))
    draws = []
    for seed in (3, 3, 4):
        t.set_random_state(seed)
        draws.append(t(image, boxes, labels))
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][1], draws[1][1])
    assert draws[0][0].shape != draws[2][0].shape or not torch.equal(draws[0][0], draws[2][0])


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "synthetic_info.json":
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_synthetic_shapes_are_real_coco_and_deterministic(tmp_path):
    files = write_synthetic_coco(tmp_path / "a", num_train=6, num_val=3, size=64, seed=1)
    write_synthetic_coco(tmp_path / "b", num_train=6, num_val=3, size=64, seed=1)
    write_synthetic_coco(tmp_path / "c", num_train=6, num_val=3, size=64, seed=2)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    assert synthetic_coco_matches(tmp_path / "a", 6, 3, 64, 1) and not synthetic_coco_matches(tmp_path / "a", 6, 3, 64, 2)
    data = json.loads(files["train"].read_text())
    assert [c["name"] for c in data["categories"]] == [c["name"] for c in SHAPE_CATEGORIES]
    assert len(data["images"]) == 6 and all((tmp_path / "a" / "train" / im["file_name"]).is_file() for im in data["images"])
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        assert a["iscrowd"] == 0 and 0 < a["area"] <= w * h and x >= 0 and y >= 0 and x + w <= 64 and y + h <= 64
    ds = CocoDetection(files["val"], tmp_path / "a" / "val")
    assert len(ds) == 3 and ds[0]["image"].shape == (64, 64, 3)
    # the annotated box is tight around the drawn shape: the object's pixels differ from the background there
    img = CocoDetection(files["train"], tmp_path / "a" / "train")[0]
    x, y, w, h = (int(v) for v in img["boxes"][0])
    assert img["image"][y:y + h, x:x + w].std() > img["image"].std() * 0.5
    with pytest.raises(FileExistsError, match="overwrite"):
        write_synthetic_coco(tmp_path / "a", 2, 1, 64)
