"""Bad inputs fail with errors that name the path or case and say what to do."""
import json

import numpy as np
import pytest

from visionzoo.data import BratsDataset, DataFormatError, find_cases, make_folds, save_folds

from .brats_files import SHAPE, case_id, known_seg, save, write_case, write_dataset


def test_empty_or_missing_data_root_points_to_generator(tmp_path):
    for root in (tmp_path, tmp_path / "nope"):
        with pytest.raises(FileNotFoundError, match="make_synthetic_brats.py") as e:
            BratsDataset(root)
        assert str(root) in str(e.value)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(NotADirectoryError, match="make_synthetic_brats.py"):
        BratsDataset(tmp_path / "notes.txt")


def test_missing_modality_names_case_and_file(tmp_path):
    write_dataset(tmp_path, "brats2021", n=2)
    cid = case_id("brats2021", 2)
    (tmp_path / cid / f"{cid}_t1ce.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match=f"case {cid}: missing t1ce .*{cid}_t1ce.nii.gz"):
        BratsDataset(tmp_path, split="all")


def test_missing_decathlon_label(tmp_path):
    write_case(tmp_path, "decathlon", 1)
    with pytest.raises(FileNotFoundError, match="BRATS_001: missing label file .*labelsTr"):
        find_cases(tmp_path)


def test_mismatched_shapes(tmp_path):
    write_dataset(tmp_path, "brats2023", n=1)
    cid = case_id("brats2023", 1)
    save(np.ones((6, 5, 3), np.float32), tmp_path / cid / f"{cid}-t2w.nii.gz")
    ds = BratsDataset(tmp_path, split="all")
    with pytest.raises(DataFormatError, match=rf"case {cid}: .*-t2w.nii.gz \(6, 5, 3\)"):
        ds[0]


@pytest.mark.parametrize("fmt, bad", [("brats2021", 3), ("decathlon", 4), ("brats2024", 5)])
def test_label_values_outside_format(tmp_path, fmt, bad):
    seg, _ = known_seg(fmt)
    seg[0, 0, 0] = bad
    write_dataset(tmp_path, fmt, n=1, seg=seg)
    with pytest.raises(DataFormatError, match=rf"label value\(s\) {bad} .* format {fmt}"):
        BratsDataset(tmp_path, split="all", format=fmt)[0]


def test_nan_in_volume_names_case_and_modality(tmp_path):
    flair = np.ones(SHAPE, np.float32)
    flair[1, 1, 1] = np.nan
    images = {"FLAIR": flair, "T1ce": np.ones(SHAPE), "T1": np.ones(SHAPE), "T2": np.full(SHAPE, np.inf)}
    write_case(tmp_path, "brats2021", 1, known_seg("brats2021")[0], images)
    with pytest.raises(DataFormatError, match=f"case {case_id('brats2021', 1)}: 1 NaN/Inf voxel.* FLAIR"):
        BratsDataset(tmp_path, split="all")[0]


def test_fold_file_with_missing_files(tmp_path):
    write_dataset(tmp_path / "a", "brats2021", n=2)
    folds = make_folds(find_cases(tmp_path / "a"), n_folds=2)
    save_folds(folds, tmp_path / "folds.json")
    with pytest.raises(FileNotFoundError, match=r"refers to 10 missing file\(s\).*data_root"):
        BratsDataset(tmp_path, fold_file=tmp_path / "folds.json")  # wrong data_root
    (tmp_path / "bad.json").write_text(json.dumps({"folds": []}))
    with pytest.raises(DataFormatError, match="is not a fold file"):
        BratsDataset(tmp_path / "a", fold_file=tmp_path / "bad.json")


def test_unknown_format_string(tmp_path):
    write_dataset(tmp_path, "brats2021", n=1)
    with pytest.raises(ValueError, match="Unknown BraTS format 'brats2019'.*brats2021, brats2023, brats2024, decathlon"):
        BratsDataset(tmp_path, format="brats2019")


def test_wrong_or_mixed_formats(tmp_path):
    write_dataset(tmp_path, "brats2023", n=1)
    with pytest.raises(FileNotFoundError, match="No brats2021 cases .*1 brats2023-named"):
        BratsDataset(tmp_path, split="all", format="brats2021")
    write_dataset(tmp_path, "brats2021", n=1)
    with pytest.raises(DataFormatError, match="several formats"):
        BratsDataset(tmp_path, split="all")
