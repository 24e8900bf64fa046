"""Image-classification data: every file format to RGB, ImageFolder / list-file datasets, their errors, corrupt files."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from visionzoo.data import (DataFormatError, ImageDecodeError, ImageFolderDataset, ImageListDataset, find_classes,
                            read_image)
from visionzoo.data import classification as cls_mod

LOGGER = "visionzoo.data.classification"


def _photo(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB image (JPEG-friendly) with some noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], -1) + rng.normal(0, 8, (h, w, 3))
    return img.clip(0, 255).astype(np.uint8)


def _solid(tmp_path: Path, name: str, mode: str, value, size=(6, 5), **save) -> Path:
    p = tmp_path / name
    Image.new(mode, size, value).save(p, **save)
    return p


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# ---------------------------------------------------------------------------------------------- read_image
def _palette_png(tmp_path: Path, transparent: bool) -> Path:
    p = Image.new("P", (6, 5), 1)
    p.putpalette([255, 0, 0, 10, 200, 30] + [0] * 762)
    out = tmp_path / f"palette{int(transparent)}.png"
    p.save(out, **({"transparency": 1} if transparent else {}))
    return out


def _gray16(tmp_path: Path) -> Path:
    a = np.array([[65535, 32896, 257, 0]], dtype=np.uint16)
    out = tmp_path / "gray16.png"
    Image.fromarray(a).save(out)
    assert Image.open(out).mode.startswith("I;16")  # really a 16-bit file
    return out


def _rgb16(tmp_path: Path) -> Path:
    a = np.array([[[65535, 32896, 257], [0, 65535, 0]]], dtype=np.uint16)  # RGB
    out = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(out), a[..., ::-1])  # OpenCV writes BGR
    return out


# (file maker, expected RGB pixel values, row-major; None = compare with PIL's own decode)
FORMATS = {
    "png_rgb": (lambda t: _solid(t, "a.png", "RGB", (10, 200, 30)), [(10, 200, 30)]),
    "png_gray": (lambda t: _solid(t, "g.png", "L", 128), [(128, 128, 128)]),
    "jpeg_gray": (lambda t: _solid(t, "g.jpg", "L", 128, quality=95), [(128, 128, 128)]),
    "jpeg_rgb": (lambda t: _solid(t, "a.jpg", "RGB", (200, 100, 50), quality=100), [(200, 100, 50)]),
    "webp_lossless": (lambda t: _solid(t, "a.webp", "RGB", (10, 200, 30), lossless=True), [(10, 200, 30)]),
    "bmp": (lambda t: _solid(t, "a.bmp", "RGB", (1, 2, 3)), [(1, 2, 3)]),
    "tiff": (lambda t: _solid(t, "a.tiff", "RGB", (4, 5, 6)), [(4, 5, 6)]),
    # alpha is dropped (converted, not composited): a fully transparent pixel keeps its stored colour
    "png_rgba": (lambda t: _solid(t, "rgba.png", "RGBA", (10, 20, 30, 0)), [(10, 20, 30)]),
    "png_la": (lambda t: _solid(t, "la.png", "LA", (77, 0)), [(77, 77, 77)]),
    "png_palette": (lambda t: _palette_png(t, False), [(10, 200, 30)]),
    "png_palette_transparency": (lambda t: _palette_png(t, True), [(10, 200, 30)]),
    # 16-bit: the high byte (>> 8), not clipping (PIL's convert would give 255 for all but 0)
    "png_gray16": (_gray16, [(255,) * 3, (128,) * 3, (1,) * 3, (0,) * 3]),
    "png_rgb16": (_rgb16, [(255, 128, 1), (0, 255, 0)]),
}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_read_image_formats_to_rgb(tmp_path, kind):
    make, expected = FORMATS[kind]
    path = make(tmp_path)
    img = read_image(path)
    assert isinstance(img, Image.Image) and img.mode == "RGB"
    a = np.asarray(img)
    h, w = a.shape[:2]
    pixels = a.reshape(-1, 3)[: len(expected)] if len(expected) > 1 else a.reshape(-1, 3)
    want = np.array(expected if len(expected) > 1 else expected * (h * w))
    tol = 2 if path.suffix == ".jpg" else 0  # JPEG rounding on a flat colour
    assert np.abs(pixels.astype(int) - want).max() <= tol, (kind, pixels[:4], want[:4])


def test_jpeg_and_png_fast_path_uses_opencv_and_equals_pil(tmp_path, monkeypatch):
    photo = _photo(40, 56)
    files = {"q90.jpg": dict(quality=90), "prog.jpg": dict(quality=80, progressive=True), "p.png": {}}
    calls = []
    real = cls_mod.cv2.imdecode
    monkeypatch.setattr(cls_mod.cv2, "imdecode", lambda *a: calls.append(1) or real(*a))
    for name, kw in files.items():
        Image.fromarray(photo).save(tmp_path / name, **kw)
        with Image.open(tmp_path / name) as ref:
            ref_rgb = np.asarray(ref.convert("RGB"))
        got = np.asarray(read_image(tmp_path / name))
        assert got.shape == (40, 56, 3) and np.array_equal(got, ref_rgb), name
    assert len(calls) == 3, "8-bit JPEG/PNG should decode through OpenCV"
    calls.clear()
    read_image(_palette_png(tmp_path, False))
    read_image(_gray16(tmp_path))
    assert not calls, "palette and 16-bit files go through PIL"


def test_exif_orientation_is_ignored_like_pil(tmp_path):
    photo = _photo(16, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(photo).save(tmp_path / "rot.jpg", quality=95, exif=exif)
    got = read_image(tmp_path / "rot.jpg")
    assert got.size == (40, 16)  # not rotated
    with Image.open(tmp_path / "rot.jpg") as ref:
        assert np.array_equal(np.asarray(got), np.asarray(ref.convert("RGB")))


@pytest.mark.parametrize("damage", ["truncated_jpeg", "truncated_jpeg_no_eoi", "truncated_png", "text", "empty"])
def test_read_image_corrupt_raises_decode_error_naming_file(tmp_path, damage):
    if damage.startswith("truncated_jpeg"):
        path = tmp_path / "bad.jpg"
        Image.fromarray(_photo(64, 64)).save(path, quality=90)
        data = path.read_bytes()
        path.write_bytes(data[:-2] if damage.endswith("no_eoi") else data[: len(data) // 2])
    elif damage == "truncated_png":
        path = tmp_path / "bad.png"
        Image.fromarray(_photo(64, 64)).save(path)
        _truncate(path)
    elif damage == "text":
        path = tmp_path / "notes.jpg"
        path.write_text("this is not an image\n")
    else:
        path = tmp_path / "empty.png"
        path.write_bytes(b"")
    with pytest.raises(ImageDecodeError) as e:
        read_image(path)
    msg = str(e.value)
    assert str(path) in msg and "\n" not in msg and "skip_corrupt=True" in msg
    assert isinstance(e.value, DataFormatError) and e.value.path == str(path)
    if damage == "empty":
        assert "empty file" in msg


def test_read_image_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")


# ------------------------------------------------------------------------------------------- ImageFolder
def _folder(root: Path, layout: dict[str, int], split: str | None = "train", size: int = 12) -> Path:
    """root/split/<class>/<i>.png with a class-coloured image each; returns the split folder."""
    base = root / split if split else root
    for k, (name, n) in enumerate(sorted(layout.items())):
        d = base / name
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (size, size), (20 * k, 10 * i, 7)).save(d / f"{i}.png")
    return base


def test_find_classes_sorted_and_hidden_ignored(tmp_path):
    for name in ["zebra", "ant", ".cache", "Bee"]:
        (tmp_path / name).mkdir()
    (tmp_path / "readme.txt").write_text("x")
    assert find_classes(tmp_path) == ("Bee", "ant", "zebra")
    with pytest.raises(FileNotFoundError, match="missing"):
        find_classes(tmp_path / "missing")


def test_image_folder_classes_targets_and_items(tmp_path, caplog):
    split = _folder(tmp_path, {"cat": 2, "dog": 3})
    (split / "cat" / "labels.txt").write_text("not an image")
    (split / "dog" / ".DS_Store").write_bytes(b"\0")
    (split / ".hidden").mkdir()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        ds = ImageFolderDataset(tmp_path, split="train")
    assert ds.classes == ("cat", "dog") and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert ds.targets == [0, 0, 1, 1, 1] and len(ds) == 5
    assert [Path(p).name for p, _ in ds.samples] == ["0.png", "1.png", "0.png", "1.png", "2.png"]
    assert all(Path(p).parent.name == ds.classes[t] for p, t in ds.samples)
    assert ds.num_ignored == 2 and "ignored 2 file(s)" in caplog.text
    img, label = ds[3]
    assert img.mode == "RGB" and img.size == (12, 12) and label == 1
    assert np.asarray(img)[0, 0].tolist() == [20, 10, 7]
    assert ds[-1][1] == 1
    with pytest.raises(IndexError):
        ds[5]
    # split=None: root holds the class folders itself
    flat = ImageFolderDataset(split)
    assert flat.classes == ds.classes and flat.samples == ds.samples


def test_val_split_uses_training_classes(tmp_path):
    _folder(tmp_path, {"ant": 1, "bee": 1, "cat": 1}, "train")
    _folder(tmp_path, {"cat": 2}, "val")  # classes missing from val are fine
    train = ImageFolderDataset(tmp_path, "train")
    val = ImageFolderDataset(tmp_path, "val", classes=train.classes)
    assert val.classes == ("ant", "bee", "cat") and val.targets == [2, 2]


def test_val_class_not_in_training_is_an_error(tmp_path):
    _folder(tmp_path, {"ant": 1, "bee": 1}, "train")
    _folder(tmp_path, {"bee": 1, "beetle": 1}, "val")
    train = ImageFolderDataset(tmp_path, "train")
    with pytest.raises(DataFormatError) as e:
        ImageFolderDataset(tmp_path, "val", classes=train.classes)
    msg = str(e.value)
    assert str(tmp_path / "val" / "beetle") in msg and "['ant', 'bee']" in msg and "\n" not in msg


def test_duplicate_classes_argument(tmp_path):
    _folder(tmp_path, {"ant": 1})
    with pytest.raises(DataFormatError, match=r"duplicate class name\(s\) \['ant'\]"):
        ImageFolderDataset(tmp_path, "train", classes=["ant", "bee", "ant"])


def test_empty_class_folder_is_an_error(tmp_path):
    split = _folder(tmp_path, {"ant": 2})
    (split / "bee").mkdir()
    (split / "bee" / "notes.txt").write_text("x")
    with pytest.raises(DataFormatError) as e:
        ImageFolderDataset(tmp_path, "train")
    assert str(split / "bee") in str(e.value) and "no images" in str(e.value)


def test_split_without_images_is_an_error(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(DataFormatError, match="has no images.*no class subfolders"):
        ImageFolderDataset(tmp_path, "train")
    Image.new("RGB", (4, 4)).save(tmp_path / "train" / "loose.png")  # images without class folders
    with pytest.raises(DataFormatError, match="holds 1 image"):
        ImageFolderDataset(tmp_path, "train")


def test_missing_root_or_split(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        ImageFolderDataset(tmp_path / "imagenet", "train")
    assert str(tmp_path / "imagenet") in str(e.value) and "<class>/<image>" in str(e.value)
    _folder(tmp_path, {"ant": 1}, "train")
    with pytest.raises(FileNotFoundError) as e:
        ImageFolderDataset(tmp_path, "validation")
    assert str(tmp_path / "validation") in str(e.value) and "['train']" in str(e.value)


def _with_corrupt(tmp_path: Path) -> tuple[Path, Path]:
    split = _folder(tmp_path, {"ant": 2, "bee": 2})
    bad = split / "ant" / "1.jpg"
    Image.fromarray(_photo(48, 48)).save(bad, quality=90)
    _truncate(bad)
    return split, bad


def test_corrupt_image_raises_naming_file(tmp_path):
    _, bad = _with_corrupt(tmp_path)
    ds = ImageFolderDataset(tmp_path, "train")
    i = [p for p, _ in ds.samples].index(str(bad))
    with pytest.raises(ImageDecodeError, match=str(bad)):
        ds[i]
    assert ds.verify() == [str(bad)]


def test_skip_corrupt_returns_next_sample_and_warns_once(tmp_path, caplog):
    _, bad = _with_corrupt(tmp_path)
    ds = ImageFolderDataset(tmp_path, "train", skip_corrupt=True)
    paths = [p for p, _ in ds.samples]
    i = paths.index(str(bad))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        first = ds[i]
        second = ds[i]
    expected_img, expected_label = ds[i + 1]  # the next valid index, with its own label
    assert first[1] == second[1] == expected_label == ds.targets[i + 1]
    assert np.array_equal(np.asarray(first[0]), np.asarray(expected_img))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == LOGGER]
    assert len(warnings) == 1 and str(bad) in warnings[0].getMessage()
    assert ds.num_skipped == 1


def test_skip_corrupt_wraps_around_and_all_corrupt_raises(tmp_path):
    split = _folder(tmp_path, {"ant": 1, "bee": 1})
    last = split / "bee" / "0.png"
    _truncate(last)
    ds = ImageFolderDataset(tmp_path, "train", skip_corrupt=True)
    assert ds.samples[-1][0] == str(last)
    assert ds[1][1] == 0  # wrapped to index 0
    _truncate(split / "ant" / "0.png")
    ds = ImageFolderDataset(tmp_path, "train", skip_corrupt=True)
    with pytest.raises(ImageDecodeError, match="all 2 images"):
        ds[0]
    assert ds.num_skipped == 2


def test_timm_eval_transform_gives_tensor(tmp_path):
    from timm.data import create_transform

    _folder(tmp_path, {"ant": 1, "bee": 2}, size=40)
    tf = create_transform(input_size=(3, 32, 32), is_training=False)
    ds = ImageFolderDataset(tmp_path, "train", transform=tf)
    x, y = ds[2]
    assert isinstance(x, torch.Tensor) and x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == 1
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch[0].shape == (3, 3, 32, 32) and batch[1].tolist() == [0, 1, 1]


# ------------------------------------------------------------------------------------------- list files
def _flat_val(tmp_path: Path, n: int = 3) -> Path:
    root = tmp_path / "val"
    root.mkdir()
    for i in range(n):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(root / f"ILSVRC2012_val_{i:08d}.JPEG", quality=95)
    return root


def test_list_file_comma_format_with_class_list(tmp_path):
    root = _flat_val(tmp_path)
    lst = tmp_path / "val.csv"
    lst.write_text("# path,label\nILSVRC2012_val_00000000.JPEG,2\n\nILSVRC2012_val_00000001.JPEG, 0\n")
    ds = ImageListDataset(root, lst, ["ant", "bee", "cat"])
    assert ds.classes == ("ant", "bee", "cat") and ds.targets == [2, 0] and len(ds) == 2
    img, label = ds[0]
    assert img.mode == "RGB" and img.size == (8, 8) and label == 2


def test_list_file_imagenet_val_whitespace_format_and_class_file(tmp_path):
    root = _flat_val(tmp_path)
    (tmp_path / "classes.txt").write_text("n01440764\nn01443537\n\n")
    lst = tmp_path / "val.txt"
    lst.write_text("ILSVRC2012_val_00000000.JPEG 1\nILSVRC2012_val_00000001.JPEG\t0\nILSVRC2012_val_00000002.JPEG 1\n")
    ds = ImageListDataset(root, lst, tmp_path / "classes.txt")
    assert ds.classes == ("n01440764", "n01443537") and ds.class_to_idx["n01443537"] == 1
    assert ds.targets == [1, 0, 1] and ds.samples[2][0] == str(root / "ILSVRC2012_val_00000002.JPEG")
    ds2 = ImageListDataset(root, lst, str(tmp_path / "classes.txt"))  # str path works too
    assert ds2.samples == ds.samples


def test_list_file_label_out_of_range(tmp_path):
    root = _flat_val(tmp_path)
    lst = tmp_path / "val.txt"
    lst.write_text("ILSVRC2012_val_00000000.JPEG 1\n# comment\nILSVRC2012_val_00000001.JPEG 3\n")
    with pytest.raises(DataFormatError) as e:
        ImageListDataset(root, lst, ["a", "b", "c"])
    msg = str(e.value)
    assert f"{lst}:3:" in msg and "label 3" in msg and "3 classes" in msg and "\n" not in msg


@pytest.mark.parametrize("line", ["ILSVRC2012_val_00000000.JPEG", "ILSVRC2012_val_00000000.JPEG,one", ",1"])
def test_list_file_malformed_line(tmp_path, line):
    root = _flat_val(tmp_path)
    lst = tmp_path / "val.txt"
    lst.write_text(f"ILSVRC2012_val_00000001.JPEG 0\n{line}\n")
    with pytest.raises(DataFormatError, match=f"{lst}:2: malformed line"):
        ImageListDataset(root, lst, ["a", "b"])


def test_class_file_duplicates_and_missing_image(tmp_path):
    root = _flat_val(tmp_path)
    (tmp_path / "classes.txt").write_text("ant\nbee\nant\n")
    lst = tmp_path / "val.txt"
    lst.write_text("ILSVRC2012_val_00000000.JPEG 0\n")
    with pytest.raises(DataFormatError, match=r"classes.txt:3: duplicate class name 'ant' \(first on line 1\)"):
        ImageListDataset(root, lst, tmp_path / "classes.txt")
    with pytest.raises(DataFormatError, match="duplicate class name"):
        ImageListDataset(root, lst, ["ant", "ant"])
    lst.write_text("ILSVRC2012_val_00000000.JPEG 0\nmissing.JPEG 1\n")
    with pytest.raises(FileNotFoundError) as e:
        ImageListDataset(root, lst, ["ant", "bee"])
    assert str(root / "missing.JPEG") in str(e.value) and f"{lst}:2:" in str(e.value)


def test_list_dataset_skips_corrupt_like_folder(tmp_path):
    root = _flat_val(tmp_path, n=2)
    bad = root / "ILSVRC2012_val_00000000.JPEG"
    Image.fromarray(_photo(48, 48)).save(bad, format="JPEG", quality=90)
    _truncate(bad)
    lst = tmp_path / "val.txt"
    lst.write_text("ILSVRC2012_val_00000000.JPEG 0\nILSVRC2012_val_00000001.JPEG 1\n")
    with pytest.raises(ImageDecodeError, match="ILSVRC2012_val_00000000"):
        ImageListDataset(root, lst, ["a", "b"])[0]
    ds = ImageListDataset(root, lst, ["a", "b"], skip_corrupt=True)
    assert ds[0][1] == 1 and ds.num_skipped == 1 and ds.verify() == [str(bad)]
