"""Find BraTS cases on disk and tell their format from the file names.

`find_cases` walks `data_root` (any depth, so ``TrainingData/`` wrappers work) and groups files by
case id. BraTS 2023 and 2024 share their names: under ``format="auto"`` such data is read as 2023 and
a case whose segmentation holds label 4 (2024's resection cavity) is read as 2024 with a warning.
Passing ``format="brats2024"`` says so up front and is preferred.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from .formats import CHANNELS, FORMATS, BratsFormat, DataFormatError, get_format

__all__ = [
    "BratsCase",
    "find_cases",
    "detect_format",
    "parse_file_name",
    "decathlon_channels",
    "synthetic_hint",
    "FOLD_FILE_NAME",
]


FOLD_FILE_NAME = "brats21_folds.json"
# Families of file naming; 2023 and 2024 share one.
_NAMING = {"brats2021": "brats2021", "brats2023": "brats2023", "brats2024": "brats2023", "decathlon": "decathlon"}
_DECATHLON_DIRS = ("imagesTr", "labelsTr")
_DECATHLON_DEFAULT_CHANNELS = (0, 2, 1, 3)  # file order FLAIR, T1w, T1gd, T2w -> FLAIR, T1gd, T1w, T2w
_MODALITY_NAMES = {
    "flair": "flair", "t2f": "flair", "t2flair": "flair",
    "t1gd": "t1ce", "t1ce": "t1ce", "t1c": "t1ce",
    "t1w": "t1", "t1": "t1", "t1n": "t1",
    "t2w": "t2", "t2": "t2",
}


@dataclass(frozen=True)
class BratsCase:
    """One subject's files. `images` holds four files in `CHANNELS` order, or one 4D file plus `channels`."""

    case_id: str
    format: str
    images: tuple[Path, ...]
    label: Path | None
    channels: tuple[int, ...] | None = None  # 4D file: the file's channel index for each of CHANNELS
    fold: int | None = None
    format_guessed: bool = False  # read under "auto" with 2023 names: label 4 promotes the case to 2024
    root: Path | None = None  # the data_root it was found under (fold files store paths relative to it)

    def with_fold(self, fold: int | None) -> BratsCase:
        return replace(self, fold=fold)


def synthetic_hint(root: str | Path) -> str:
    """The sentence every "no data here" error ends with."""
    return (
        f"To create a small synthetic dataset in this layout run: "
        f"python tools/make_synthetic_brats.py {root} --cases 12 --size 96"
    )


def parse_file_name(path: str | Path) -> tuple[str, str, str | None] | None:
    """``(naming family, case id, modality suffix or None)`` for a BraTS-family file name, else None."""
    path = Path(path)
    name = path.name
    if name.startswith("."):  # macOS "._BRATS_001.nii.gz" resource forks ship inside the Decathlon tar
        return None
    for family in ("brats2021", "brats2023"):
        m = FORMATS[family].file_pattern.match(name)
        if m:
            return family, m.group(1), m.group(2)
    m = FORMATS["decathlon"].file_pattern.match(name)
    if m and path.parent.name in _DECATHLON_DIRS:
        return "decathlon", m.group(1), "seg" if path.parent.name == "labelsTr" else None
    return None


def decathlon_channels(modality: dict[str, str], source: str | Path = "dataset.json") -> tuple[int, ...]:
    """The 4D channel index of each of CHANNELS, from a Decathlon ``dataset.json`` ``"modality"`` entry."""
    where: dict[str, int] = {}
    for index, name in modality.items():
        canonical = _MODALITY_NAMES.get(str(name).lower().replace("-", "").replace("_", ""))
        if canonical is None or canonical in where:
            raise DataFormatError(
                f"{source}: cannot map modality {name!r} (channel {index}) to one of FLAIR, T1gd, T1w, T2w; "
                f"its \"modality\" entry is {modality}. Fix the entry or delete dataset.json to use the "
                f"Task01 default order FLAIR, T1w, T1gd, T2w."
            )
        where[canonical] = int(index)
    missing = [c for c in CHANNELS if c not in where]
    if missing:
        raise DataFormatError(f"{source}: \"modality\" {modality} lacks {missing}; BraTS needs all four modalities.")
    return tuple(where[c] for c in CHANNELS)


def _scan(root: Path) -> dict[str, dict[str, dict[str, list[Path]]]]:
    """naming family -> case id -> modality suffix ("image" for a 4D file) -> paths found."""
    found: dict[str, dict[str, dict[str, list[Path]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for path in sorted(root.rglob("*.nii*")):
        parsed = parse_file_name(path)
        if parsed is not None and path.is_file():
            family, case_id, suffix = parsed
            found[family][case_id][suffix or "image"].append(path)
    return found


def _describe(found: dict[str, dict]) -> str:
    return ", ".join(f"{len(cases)} {family}-named" for family, cases in found.items()) or "none"


def detect_format(data_root: str | Path) -> str:
    """The format name that the files under `data_root` follow (2023 naming reports ``"brats2023"``)."""
    root = _check_root(data_root)
    return _pick_family(root, _scan(root), None)


def _check_root(data_root: str | Path) -> Path:
    root = Path(data_root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"BraTS data_root {str(root)!r} does not exist. {synthetic_hint(root)}")
    if not root.is_dir():
        raise NotADirectoryError(f"BraTS data_root {str(root)!r} is a file, not a folder of cases. {synthetic_hint(root)}")
    return root


def _pick_family(root: Path, found: dict, fmt: BratsFormat | None) -> str:
    if fmt is not None:
        family = _NAMING[fmt.name]
        if not found.get(family):
            raise FileNotFoundError(
                f"No {fmt.name} cases under {str(root)!r} (expected {fmt.description}); found: {_describe(found)} "
                f"cases. Pass format='auto' or the matching format, or point data_root elsewhere. {synthetic_hint(root)}"
            )
        return family
    if not found:
        raise FileNotFoundError(
            f"No BraTS cases under {str(root)!r}: expected BraTS2021_XXXXX/BraTS2021_XXXXX_flair.nii.gz ..., "
            f"BraTS-GLI-XXXXX-XXX/BraTS-GLI-XXXXX-XXX-t2f.nii.gz ..., or Decathlon imagesTr/BRATS_XXX.nii.gz. "
            f"{synthetic_hint(root)}"
        )
    if len(found) > 1:
        raise DataFormatError(
            f"{str(root)!r} holds cases of several formats ({_describe(found)}); pass format= one of "
            f"{', '.join(FORMATS)}, or point data_root at one dataset."
        )
    return next(iter(found))


def find_cases(data_root: str | Path, format: str = "auto", require_label: bool = True) -> list[BratsCase]:
    """Every case under `data_root`, sorted by id, with its files checked to exist.

    `format` is ``"auto"`` (from the file names) or a name from `visionzoo.data.FORMATS`; with
    `require_label` a case without its segmentation is an error (off for unlabelled validation sets).
    """
    fmt = None if str(format).lower() == "auto" else get_format(format)
    root = _check_root(data_root)
    found = _scan(root)
    family = _pick_family(root, found, fmt)
    guessed = fmt is None and family == "brats2023"
    fmt = fmt or FORMATS[family]
    if family == "decathlon":
        cases = _decathlon_cases(root, found[family], require_label)
    else:
        cases = [_folder_case(case_id, files, fmt, require_label) for case_id, files in sorted(found[family].items())]
    return [replace(c, format=fmt.name, format_guessed=guessed, root=root) for c in cases]


def _single(case_id: str, suffix: str, paths: list[Path]) -> Path:
    if len(paths) > 1:
        raise DataFormatError(
            f"case {case_id}: {len(paths)} files for {suffix!r}: {', '.join(map(str, paths))}. "
            f"Keep one copy, or point data_root at one dataset."
        )
    return paths[0]


def _folder_case(case_id: str, files: dict[str, list[Path]], fmt: BratsFormat, require_label: bool) -> BratsCase:
    any_file = next(iter(files.values()))[0]
    ext = ".nii.gz" if any_file.name.endswith(".gz") else ".nii"
    sep = "_" if fmt.name == "brats2021" else "-"
    needed = list(fmt.suffixes) + ([fmt.seg_suffix] if require_label else [])
    missing = [s for s in needed if s not in files]
    if missing:
        expected = [str(any_file.parent / f"{case_id}{sep}{s}{ext}") for s in missing]
        raise FileNotFoundError(
            f"case {case_id}: missing {', '.join(missing)} file(s): {', '.join(expected)}. "
            f"Restore the file(s) or remove the case folder {str(any_file.parent)!r}."
        )
    images = tuple(_single(case_id, s, files[s]) for s in fmt.suffixes)
    label = _single(case_id, fmt.seg_suffix, files[fmt.seg_suffix]) if fmt.seg_suffix in files else None
    return BratsCase(case_id=case_id, format=fmt.name, images=images, label=label)


def _decathlon_cases(root: Path, found: dict[str, dict[str, list[Path]]], require_label: bool) -> list[BratsCase]:
    task_dirs = {p.parent.parent for files in found.values() for paths in files.values() for p in paths}
    if len(task_dirs) > 1:
        raise DataFormatError(
            f"{str(root)!r} holds several Decathlon task folders ({', '.join(sorted(map(str, task_dirs)))}); "
            f"point data_root at one of them."
        )
    task_dir = task_dirs.pop()
    meta = task_dir / "dataset.json"
    channels = _DECATHLON_DEFAULT_CHANNELS
    if meta.is_file():
        info = json.loads(meta.read_text())
        if "modality" in info:
            channels = decathlon_channels(info["modality"], meta)
        if info.get("training"):
            return [_decathlon_listed(task_dir, meta, e, channels, require_label) for e in info["training"]]
    cases = []
    for case_id, files in sorted(found.items()):
        if "image" not in files:
            raise FileNotFoundError(
                f"case {case_id}: label {files['seg'][0]} has no image "
                f"{task_dir / 'imagesTr' / files['seg'][0].name}. Restore the image or remove the label."
            )
        if require_label and "seg" not in files:
            raise FileNotFoundError(
                f"case {case_id}: missing label file {task_dir / 'labelsTr' / files['image'][0].name}. "
                f"Restore it, or pass require_label=False for unlabelled data."
            )
        label = _single(case_id, "label", files["seg"]) if "seg" in files else None
        cases.append(BratsCase(case_id, "decathlon", (_single(case_id, "image", files["image"]),), label, channels))
    return cases


def _decathlon_listed(task_dir: Path, meta: Path, entry: dict, channels: tuple[int, ...], require_label: bool) -> BratsCase:
    image = Path(os.path.normpath(task_dir / entry["image"]))
    label = Path(os.path.normpath(task_dir / entry["label"])) if entry.get("label") else None
    case_id = image.name.split(".nii")[0]
    for kind, path in (("image", image), ("label", label)):
        if path is None:
            if kind == "label" and require_label:
                raise DataFormatError(f"{meta}: training entry {entry} has no label.")
            continue
        if not path.is_file():
            raise FileNotFoundError(
                f"case {case_id}: {meta} lists {kind} {entry[kind]!r} but {path} does not exist. "
                f"Restore the file or remove the entry from dataset.json."
            )
    return BratsCase(case_id, "decathlon", (image,), label, channels)
