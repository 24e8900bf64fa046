"""Image-classification data: `read_image`, `ImageFolderDataset` and `ImageListDataset` (no mmengine here).

The datasets follow torchvision's ``ImageFolder`` conventions (``root/split/<class>/<image>``, sorted class
names, ``classes``/``class_to_idx``/``samples``/``targets``, items ``(transform(pil_image), label)``) so they
drop into timm and torchvision code, and add what a real ImageNet copy needs: the flat validation folder
with its ``path label`` file (`ImageListDataset`), the validation split checked against the training
classes, one-line errors that name the file or folder and the fix, and corrupt files either raised
(`ImageDecodeError`) or skipped deterministically (``skip_corrupt=True``: the next readable index, each
corrupt file logged once per process). `visionzoo.engine` wraps them for configs.

`read_image` always returns an 8-bit RGB PIL image:

- grayscale and palette images are expanded to RGB (a palette's transparency is dropped);
- RGBA / LA images are *converted*, i.e. the alpha channel is dropped and the stored colours kept (not
  composited on a background), exactly as torchvision's ``pil_loader`` and timm's loaders do, so pixels
  match models trained with them;
- 16-bit images are scaled to 8 bits by their high byte (``v >> 8``: 65535 -> 255, 32896 -> 128), as
  PIL and OpenCV already do for 16-bit RGB; PIL's plain ``convert`` would clip them instead;
- EXIF orientation is ignored (as by PIL, torchvision and timm), on both decode paths;
- the whole image is decoded up front, so a truncated file fails here and not later inside a transform.

Decode speed, file -> RGB PIL image in ms: min of 9 x 200 interleaved reads, 1 thread; 2026-12-05 on the
2-core Intel Xeon VM of this project (lscpu: "Intel(R) Xeon(R) Processor"), Pillow 13.0.0 and OpenCV 5.1.0,
both with libjpeg-turbo; scikit-learn's ``china.jpg`` photo resized, JPEG quality 90. Others' jobs were
running (load 1-5), so each cell gives two runs, wall clock / process CPU time::

    file            PIL          cv2.imdecode IMREAD_COLOR_RGB   read_image (OpenCV route)   read_image, PIL route
    224x224 JPEG    0.47 / 0.31  0.34 / 0.32                     0.34 / 0.35                 0.29 / 0.44
    500x375 JPEG    1.33 / 1.14  1.18 / 1.14                     1.12 / 1.20                 1.22 / 1.26
    224x224 PNG     1.94 / 1.90  1.63 / 1.69                     1.64 / 1.71                 1.86 / 1.88
    500x375 PNG     6.27 / 6.10  5.54 / 5.61                     5.51 / 5.58                 6.07 / 6.07

PNG decodes ~10 % faster through OpenCV in every run; JPEG is a tie within this machine's noise (0-10 % for
OpenCV at 500x375, +-15 % either way at 224x224); the pixels are identical (max diff 0, EXIF orientation
ignored by both). So complete 8-bit grey/colour JPEGs and 8-bit grey/RGB PNGs (ending in their end marker)
take one OpenCV route; everything else (WebP, BMP, TIFF, palette, alpha, 16-bit, CMYK, truncated or odd
files) goes through PIL, which also supplies the reason of every decode error.
"""
from __future__ import annotations

import difflib
import io
import logging
import operator
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from .formats import DataFormatError

try:  # a core dependency, but the PIL path alone is complete
    import cv2
except ImportError:  # pragma: no cover
    cv2 = None

__all__ = [
    "IMG_EXTENSIONS",
    "ImageDecodeError",
    "ImageFolderDataset",
    "ImageListDataset",
    "find_classes",
    "read_image",
]

logger = logging.getLogger(__name__)

IMG_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
"""File extensions taken as images (torchvision's list; compared case-insensitively)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
# Huffman baseline / extended / progressive: what both libjpeg-turbo builds decode identically.
_JPEG_FAST_SOF = (0xC0, 0xC1, 0xC2)
if cv2 is not None:
    _CV2_RGB_FLAG = getattr(cv2, "IMREAD_COLOR_RGB", None)
    _CV2_FLAGS = (cv2.IMREAD_COLOR if _CV2_RGB_FLAG is None else _CV2_RGB_FLAG) | cv2.IMREAD_IGNORE_ORIENTATION


class ImageDecodeError(DataFormatError):
    """An image file is corrupt, truncated or not an image at all; the message names the file."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def _decode_error(path: str, reason: str) -> ImageDecodeError:
    reason = " ".join(str(reason).split()).rstrip(".")
    return ImageDecodeError(
        f"cannot decode image file {path!r}: {reason}. It is corrupt, truncated or not an image: replace or delete "
        "it, or pass skip_corrupt=True to skip unreadable files (a dataset's verify() lists them all).",
        path,
    )


def _jpeg_frame(data: bytes) -> tuple[int, int, int] | None:
    """(SOF marker, sample precision, number of components) of a JPEG, or None where the header is odd."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # stand-alone markers
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (marker, data[i + 4], data[i + 9]) if i + 10 <= n else None
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def _opencv_can_decode(data: bytes) -> bool:
    """True for the common files OpenCV decodes to the same pixels as PIL: complete 8-bit grey/colour JPEG/PNG."""
    if data[:3] == _JPEG_SOI:
        if not data.endswith(_JPEG_EOI):
            return False
        frame = _jpeg_frame(data)
        return frame is not None and frame[0] in _JPEG_FAST_SOF and frame[1] == 8 and frame[2] in (1, 3)
    if data[:8] == _PNG_SIGNATURE:
        # IHDR: bit depth at byte 24, colour type at 25 (0 grey, 2 RGB; palette and alpha go through PIL)
        return len(data) > 26 and data[12:16] == b"IHDR" and data[24] == 8 and data[25] in (0, 2) \
            and data.endswith(_PNG_IEND)
    return False


def _to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of a loaded PIL image (16-bit scaled by >> 8, alpha dropped)."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I"):  # "I;16", "I;16B", "I;16L", "I" (16-bit PNG/TIFF greyscale)
        a = np.asarray(img).astype(np.int64)
        return Image.fromarray((np.clip(a, 0, 65535) >> 8).astype(np.uint8)).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        return img.convert("RGBA").convert("RGB")
    return img.convert("RGB")


def _decode(data: bytes, path: str) -> Image.Image:
    if cv2 is not None and _opencv_can_decode(data):
        arr = cv2.imdecode(np.frombuffer(data, np.uint8), _CV2_FLAGS)
        if arr is not None and arr.ndim == 3 and arr.shape[2] == 3:
            if _CV2_RGB_FLAG is None:
                arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
            return Image.fromarray(arr)
        # otherwise PIL decides, and names the reason if it fails too
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # full decode: a truncated file fails now (LOAD_TRUNCATED_IMAGES stays off)
            return _to_rgb(img)
    except UnidentifiedImageError:
        reason = "empty file" if not data else "not an image in a format PIL knows"
    except MemoryError:
        raise
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ... on bad data
        reason = f"{type(e).__name__}: {e}"
    raise _decode_error(path, reason)


def read_image(path: str | os.PathLike) -> Image.Image:
    """The image at `path` as an 8-bit RGB PIL image, fully decoded; `ImageDecodeError` if it cannot be."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"image file {path!r} does not exist.") from None
    return _decode(data, path)


def find_classes(folder: str | os.PathLike) -> tuple[str, ...]:
    """Sorted names of the subfolders of `folder` (the classes of an ImageFolder split), hidden ones ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"class folder root {str(folder)!r} does not exist or is not a folder.")
    with os.scandir(folder) as it:
        return tuple(sorted(e.name for e in it if e.is_dir() and not e.name.startswith(".")))


def _check_unique(names: Sequence[str], where: str) -> tuple[str, ...]:
    names = tuple(names)
    seen: set[str] = set()
    dups = {n for n in names if n in seen or seen.add(n)}
    if dups:
        raise DataFormatError(f"{where}: duplicate class name(s) {sorted(dups)}: each class must appear once "
                              "(its position is its label); remove the repeats.")
    if any(not isinstance(n, str) or not n for n in names):
        raise DataFormatError(f"{where}: class names must be non-empty strings, got {list(names)[:10]}.")
    return names


def _short_list(names: Sequence[str], limit: int = 12) -> str:
    names = list(names)
    return str(names) if len(names) <= limit else f"[{', '.join(map(repr, names[:limit]))}, ... {len(names)} in all]"


class _ImageDataset(Dataset):
    """Shared by both datasets: the sample table, decoding, the transform and corrupt-file skipping."""

    def __init__(self, samples: list[tuple[str, int]], classes: Sequence[str], transform: Callable | None,
                 skip_corrupt: bool, source: str) -> None:
        self.classes: tuple[str, ...] = tuple(classes)
        self.class_to_idx: dict[str, int] = {c: i for i, c in enumerate(self.classes)}
        self.samples: list[tuple[str, int]] = samples
        self.targets: list[int] = [label for _, label in samples]
        self.transform = transform
        self.skip_corrupt = bool(skip_corrupt)
        self.source = source
        self._corrupt: set[str] = set()

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_skipped(self) -> int:
        """Distinct corrupt files found so far in this process (by `__getitem__` or `verify`)."""
        return len(self._corrupt)

    def _mark_corrupt(self, path: str, error: ImageDecodeError) -> None:
        if path not in self._corrupt:
            self._corrupt.add(path)
            logger.warning("%s: skipping corrupt image %r (%s); the next readable sample is used instead "
                           "(%d corrupt file(s) so far).", self.source, path, error, len(self._corrupt))

    def load(self, index: int) -> tuple[Image.Image, int]:
        """The untransformed (RGB PIL image, label) of sample `index`, after skipping corrupt files if asked."""
        n = len(self.samples)
        index = operator.index(index)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} samples of {self.source}")
        index %= n
        for k in range(n):
            j = (index + k) % n
            path, label = self.samples[j]
            if self.skip_corrupt and path in self._corrupt:
                continue
            try:
                return read_image(path), label
            except ImageDecodeError as e:
                if not self.skip_corrupt:
                    raise
                self._mark_corrupt(path, e)
        raise ImageDecodeError(f"{self.source}: all {n} images are corrupt or unreadable (see the warnings above); "
                               "check the data copy.")

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, label = self.load(index)
        return (self.transform(image) if self.transform is not None else image), label

    def verify(self) -> list[str]:
        """Decode every file now; returns the corrupt paths (also remembered, so ``skip_corrupt`` skips them)."""
        bad = []
        for path, _ in self.samples:
            try:
                read_image(path)
            except (ImageDecodeError, FileNotFoundError) as e:
                bad.append(path)
                if isinstance(e, ImageDecodeError):
                    self._mark_corrupt(path, e)
        return bad

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.source!r}, {len(self)} images, {len(self.classes)} classes"
                f"{', skip_corrupt' if self.skip_corrupt else ''})")


def _normalise_extensions(extensions: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = (extensions,)
    return tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)


def _scan_class_folder(folder: str, extensions: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(image paths, ignored file names) under `folder`, recursively, sorted; hidden files and folders skipped."""
    images, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(extensions):
                images.append(os.path.join(dirpath, name))
            else:
                ignored.append(name)
    return images, ignored


class ImageFolderDataset(_ImageDataset):
    """An ImageFolder split ``root/split/<class>/<image>`` (torchvision/ImageNet layout) as (image, label) pairs.

    Args:
        root: the dataset folder.
        split: its subfolder (``"train"``, ``"val"``); None when `root` holds the class folders itself.
        transform: applied to the RGB PIL image (a timm / torchvision transform).
        classes: the class names in label order, e.g. the training split's for a validation split: a class
            folder not among them is an error, classes without a folder here are fine. Default: the
            sorted subfolder names (`find_classes`).
        skip_corrupt: replace a corrupt file by the next readable sample (wrapping around), logging each
            corrupt file once; otherwise it raises `ImageDecodeError`.
        extensions: file extensions taken as images; other files are ignored (counted in a debug log),
            as are hidden files and folders (e.g. macOS ``._x.jpg``).
    """

    def __init__(self, root: str | os.PathLike, split: str | None = None, transform: Callable | None = None,
                 classes: Sequence[str] | None = None, skip_corrupt: bool = False,
                 extensions: Sequence[str] | str = IMG_EXTENSIONS) -> None:
        self.root = Path(root)
        self.split = split
        folder = self.root / split if split else self.root
        layout = f"{self.root}/{split + '/' if split else ''}<class>/<image>"
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {str(self.root)!r} does not exist: expected the ImageFolder "
                                    f"layout {layout}; check root=.")
        if not folder.is_dir():
            have = find_classes(self.root)
            raise FileNotFoundError(f"split folder {str(folder)!r} does not exist (subfolders of {str(self.root)!r}: "
                                    f"{_short_list(have)}): expected the ImageFolder layout {layout}; check split=.")
        exts = _normalise_extensions(extensions)
        found = find_classes(folder)
        if classes is None:
            class_names = found
        else:
            if isinstance(classes, (str, bytes)):
                raise TypeError(f"classes= must be a sequence of class names, got the string {classes!r}.")
            class_names = _check_unique(classes, f"classes= for {folder}")
            unknown = [c for c in found if c not in set(class_names)]
            if unknown:
                hint = difflib.get_close_matches(unknown[0], class_names, n=1)
                raise DataFormatError(
                    f"class folder {str(folder / unknown[0])!r} is not one of the {len(class_names)} training classes "
                    f"{_short_list(class_names)}{f' (closest: {hint[0]!r})' if hint else ''}"
                    f"{f'; {len(unknown)} such folders: {_short_list(unknown)}' if len(unknown) > 1 else ''}: "
                    "rename or remove it, or train with it."
                )
        samples: list[tuple[str, int]] = []
        n_ignored, example_ignored = 0, None
        for label, name in enumerate(class_names):
            class_dir = folder / name
            if not class_dir.is_dir():
                continue  # a training class absent from this split
            images, ignored = _scan_class_folder(str(class_dir), exts)
            n_ignored += len(ignored)
            example_ignored = example_ignored or (ignored[0] if ignored else None)
            if not images:
                raise DataFormatError(f"class folder {str(class_dir)!r} has no images (extensions {' '.join(exts)}"
                                      f"{f'; {len(ignored)} other file(s)' if ignored else ''}): add its images or "
                                      "remove the folder.")
            samples.extend((p, label) for p in images)
        if n_ignored:
            logger.debug("%s: ignored %d file(s) without an image extension (e.g. %r).", folder, n_ignored,
                         example_ignored)
        if not samples:
            loose = sum(1 for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(exts))
            raise DataFormatError(
                f"split folder {str(folder)!r} has no images: expected class subfolders {layout}"
                + (f"; it holds {loose} image(s) directly, without class folders: use ImageListDataset with a "
                   "label file, or move them into class folders." if loose else
                   f"; it has {'no class subfolders' if not found else 'none of the classes'}.")
            )
        self.num_ignored = n_ignored
        super().__init__(samples, class_names, transform, skip_corrupt, str(folder))


def _read_class_file(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        raise FileNotFoundError(f"class-names file {str(path)!r} does not exist (one class name per line).")
    names, first_line = [], {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        if name in first_line:
            raise DataFormatError(f"{path}:{lineno}: duplicate class name {name!r} (first on line {first_line[name]}): "
                                  "each class must appear once (its line order is its label); remove the repeat.")
        first_line[name] = lineno
        names.append(name)
    if not names:
        raise DataFormatError(f"class-names file {str(path)!r} is empty: write one class name per line.")
    return tuple(names)


class ImageListDataset(_ImageDataset):
    """Images listed in a label file: ``relative/path,label`` or ``relative/path label`` lines (ImageNet val).

    Args:
        root: the folder the listed paths are relative to (e.g. ImageNet's flat ``val/``).
        list_file: one image a line, ``path,label`` or whitespace-separated ``path label`` with a 0-based
            integer label; blank lines and ``#`` comments are skipped. Every listed file must exist.
        classes: the class names in label order, or a file with one name per line.
        transform: applied to the RGB PIL image (a timm / torchvision transform).
        skip_corrupt: replace a corrupt file by the next readable sample, logging each once.
    """

    def __init__(self, root: str | os.PathLike, list_file: str | os.PathLike,
                 classes: Sequence[str] | str | os.PathLike, transform: Callable | None = None,
                 skip_corrupt: bool = False) -> None:
        self.root = Path(root)
        self.list_file = Path(list_file)
        if isinstance(classes, (str, os.PathLike)):
            class_names = _read_class_file(Path(classes))
        else:
            class_names = _check_unique(classes, f"classes= for {self.list_file}")
        if not self.root.is_dir():
            raise FileNotFoundError(f"image folder {str(self.root)!r} does not exist: root= must be the folder the "
                                    f"paths in {str(self.list_file)!r} are relative to.")
        if not self.list_file.is_file():
            raise FileNotFoundError(f"list file {str(self.list_file)!r} does not exist: expected 'relative/path,label' "
                                    "or 'relative/path label' lines.")
        n = len(class_names)
        samples: list[tuple[str, int]] = []
        missing: list[tuple[int, str]] = []
        for lineno, raw in enumerate(self.list_file.read_text(encoding="utf-8").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if "," in line:
                rel, _, label_text = line.rpartition(",")
            else:
                parts = line.rsplit(None, 1)
                rel, label_text = parts if len(parts) == 2 else (line, "")
            rel, label_text = rel.strip(), label_text.strip()
            try:
                label = int(label_text)
            except ValueError:
                label = None
            if not rel or label is None:
                raise DataFormatError(f"{self.list_file}:{lineno}: malformed line {raw.strip()!r}: expected "
                                      "'relative/path,label' or 'relative/path label' with an integer label.")
            if not 0 <= label < n:
                raise DataFormatError(f"{self.list_file}:{lineno}: label {label} is out of range for {n} classes "
                                      f"(labels are 0..{n - 1}, 0-based, in the order of classes=): fix the label "
                                      "or the class list.")
            path = str(self.root / rel)
            if not os.path.isfile(path):
                missing.append((lineno, path))
            samples.append((path, label))
        if missing:
            lineno, path = missing[0]
            raise FileNotFoundError(f"{self.list_file}:{lineno}: image file {path!r} does not exist ({len(missing)} of "
                                    f"{len(samples)} listed files are missing): check root= (the folder the listed "
                                    "paths are relative to) and the data copy.")
        if not samples:
            raise DataFormatError(f"list file {str(self.list_file)!r} lists no images: expected 'relative/path,label' "
                                  "or 'relative/path label' lines.")
        super().__init__(samples, class_names, transform, skip_corrupt, str(self.list_file))
