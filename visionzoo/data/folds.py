"""Cross-validation folds in the research-contributions ``brats21_folds.json`` format.

The file is ``{"training": [{"fold": k, "image": [flair, t1ce, t1, t2], "label": seg}, ...]}`` with paths
relative to the data root (a Decathlon case has one 4D ``"image"`` path). Fold k is the validation set
of split k and the other folds its training set. Without a file, folds come from `assign_folds`: a
seeded permutation of the sorted case ids dealt round-robin, so the split depends only on the ids.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .cases import BratsCase, decathlon_channels, parse_file_name
from .formats import FORMATS, DataFormatError, get_format

__all__ = ["assign_folds", "make_folds", "save_folds", "read_fold_file", "split_cases"]

_SPLITS = ("train", "val", "all")


def assign_folds(case_ids: Iterable[str], n_folds: int = 5, seed: int = 0) -> dict[str, int]:
    """case id -> fold in ``range(n_folds)``, balanced and reproducible from the ids and `seed` alone."""
    ids = sorted(set(case_ids))
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}.")
    if len(ids) < n_folds:
        raise ValueError(f"cannot split {len(ids)} cases into {n_folds} folds; use n_folds <= {len(ids)} or more cases.")
    order = np.random.default_rng(seed).permutation(len(ids))
    return {ids[j]: int(pos % n_folds) for pos, j in enumerate(order)}


def _relative(path: Path, root: Path | None) -> str:
    return Path(os.path.relpath(path, root)).as_posix() if root is not None else path.as_posix()


def make_folds(
    cases: Sequence[BratsCase], n_folds: int = 5, seed: int = 0, data_root: str | Path | None = None
) -> dict:
    """A fold file's content for `cases`, paths relative to `data_root` (default: where the cases were found)."""
    folds = assign_folds((c.case_id for c in cases), n_folds, seed)
    entries = []
    for case in sorted(cases, key=lambda c: c.case_id):
        root = Path(data_root) if data_root is not None else case.root
        images = [_relative(p, root) for p in case.images]
        entry = {"fold": folds[case.case_id], "image": images if len(images) > 1 else images[0]}
        if case.label is not None:
            entry["label"] = _relative(case.label, root)
        entries.append(entry)
    return {"training": entries}


def save_folds(folds: dict, path: str | Path) -> Path:
    """Write a fold file (the output of `make_folds`) as JSON; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(folds, indent=2) + "\n")
    return path


def _entry_case(entry: dict, root: Path, fmt_name: str | None, source: Path, index: int) -> tuple[BratsCase, str]:
    if "image" not in entry or "fold" not in entry:
        raise DataFormatError(f"{source}: training entry {index} {entry} lacks \"image\" or \"fold\".")
    raw = entry["image"] if isinstance(entry["image"], list) else [entry["image"]]
    images = [Path(os.path.normpath(root / p)) for p in raw]
    label = Path(os.path.normpath(root / entry["label"])) if entry.get("label") else None
    parsed = [parse_file_name(p) for p in images]
    label_parsed = parse_file_name(label) if label is not None else None
    families = {p[0] for p in parsed + [label_parsed] if p is not None}
    if fmt_name is None:
        if len(families) != 1:
            raise DataFormatError(
                f"{source}: cannot tell the format of entry {index} from its file names {raw}; "
                f"pass format= one of {', '.join(FORMATS)}."
            )
        fmt_name = families.pop()
    fmt = get_format(fmt_name)
    known = next((p for p in [label_parsed, *parsed] if p is not None), None)
    case_id = known[1] if known else (label or images[0]).name.split(".nii")[0]
    channels = None
    if fmt.name == "decathlon":
        if len(images) != 1:
            raise DataFormatError(f"{source}: Decathlon entry {index} must have one 4D image, got {len(images)}.")
        meta = images[0].parent.parent / "dataset.json"
        info = json.loads(meta.read_text()) if meta.is_file() else {}
        channels = decathlon_channels(info["modality"], meta) if "modality" in info else (0, 2, 1, 3)
    else:
        if len(images) != len(fmt.suffixes):
            raise DataFormatError(
                f"{source}: entry {index} ({case_id}) lists {len(images)} images; {fmt.name} needs "
                f"{len(fmt.suffixes)} in the order {list(fmt.suffixes)}."
            )
        suffixes = [p[2] if p is not None else None for p in parsed]
        if None not in suffixes and sorted(suffixes) == sorted(fmt.suffixes):  # names say the modality: trust them
            images = [images[suffixes.index(s)] for s in fmt.suffixes]
    case = BratsCase(case_id, fmt.name, tuple(images), label, channels, int(entry["fold"]), root=root)
    return case, fmt.name


def read_fold_file(
    fold_file: str | Path, data_root: str | Path, format: str = "auto", require_label: bool = True
) -> list[BratsCase]:
    """The cases of a fold file with their folds, every listed file checked to exist under `data_root`."""
    source, root = Path(fold_file), Path(data_root)
    if not source.is_file():
        raise FileNotFoundError(f"fold file {str(source)!r} does not exist; pass fold_file=None to split by case id.")
    try:
        entries = json.loads(source.read_text())["training"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise DataFormatError(
            f"{source} is not a fold file: expected {{\"training\": [{{\"fold\": k, \"image\": [...], \"label\": ...}}]}} "
            f"({type(e).__name__}: {e})."
        ) from None
    explicit = None if str(format).lower() == "auto" else get_format(format).name
    cases, names = [], set()
    for i, entry in enumerate(entries):
        case, name = _entry_case(entry, root, explicit, source, i)
        cases.append(case)
        names.add(name)
    if len(names) > 1:
        raise DataFormatError(f"{source} mixes formats {sorted(names)}; pass format= or split the file.")
    missing = [p for c in cases for p in (*c.images, c.label) if p is not None and not p.is_file()]
    missing += [c.case_id for c in cases if require_label and c.label is None]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise FileNotFoundError(
            f"fold file {source} refers to {len(missing)} missing file(s): {shown}. Its paths are relative to "
            f"data_root={str(root)!r}: pass the data_root it was written for, or rewrite it with "
            f"visionzoo.data.make_folds/save_folds."
        )
    ids = [c.case_id for c in cases]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise DataFormatError(f"{source} lists cases more than once: {dup[:5]}.")
    guessed = explicit is None and names == {"brats2023"}
    return [replace(c, format_guessed=True) if guessed else c for c in cases]


def split_cases(cases: Sequence[BratsCase], split: str, fold: int) -> list[BratsCase]:
    """``"val"``: the cases of `fold`; ``"train"``: all others; ``"all"``: every case."""
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}.")
    if split == "all":
        return list(cases)
    present = sorted({c.fold for c in cases})
    if fold not in present:
        raise ValueError(f"fold {fold} is not among the folds of this dataset {present}; pass one of them.")
    chosen = [c for c in cases if (c.fold == fold) == (split == "val")]
    if not chosen:
        raise ValueError(f"split {split!r} of fold {fold} is empty (folds present: {present}).")
    return chosen
