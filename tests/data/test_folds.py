"""Fold files: the research-contributions format, read/write round trip, split selection, id-based splits."""
import json

import pytest

from visionzoo.data import BratsDataset, assign_folds, find_cases, make_folds, read_fold_file, save_folds

from .brats_files import case_id, write_dataset


def test_make_folds_writes_research_contributions_format(tmp_path):
    write_dataset(tmp_path / "TrainingData", "brats2021", n=6)
    folds = make_folds(find_cases(tmp_path), n_folds=3, seed=1)
    assert list(folds) == ["training"] and len(folds["training"]) == 6
    entry = folds["training"][0]
    assert set(entry) == {"fold", "image", "label"} and entry["fold"] in range(3)
    cid = case_id("brats2021", 1)
    assert entry["image"] == [f"TrainingData/{cid}/{cid}_{m}.nii.gz" for m in ("flair", "t1ce", "t1", "t2")]
    assert entry["label"] == f"TrainingData/{cid}/{cid}_seg.nii.gz"
    assert sorted(e["fold"] for e in folds["training"]) == [0, 0, 1, 1, 2, 2]  # balanced


@pytest.mark.parametrize("fmt", ["brats2021", "brats2023", "decathlon"])
def test_fold_file_round_trip(tmp_path, fmt):
    write_dataset(tmp_path, fmt, n=5)
    cases = find_cases(tmp_path)
    path = save_folds(make_folds(cases, n_folds=5, seed=0), tmp_path / "brats21_folds.json")
    back = read_fold_file(path, tmp_path)
    assert [(c.case_id, c.images, c.label, c.channels) for c in back] == [
        (c.case_id, c.images, c.label, c.channels) for c in cases]
    assert sorted(c.fold for c in back) == [0, 1, 2, 3, 4] and back[0].format == fmt
    if fmt == "decathlon":
        assert isinstance(json.loads(path.read_text())["training"][0]["image"], str)  # one 4D file


def test_dataset_selects_train_and_val_from_fold_file(tmp_path):
    write_dataset(tmp_path, "brats2021", n=4)
    entries = make_folds(find_cases(tmp_path), n_folds=2)["training"]
    for i, e in enumerate(entries):
        e["fold"] = i % 2
    # A hand-written file in the published layout, listing modalities in a shuffled order on purpose.
    entries[0]["image"] = entries[0]["image"][::-1]
    save_folds({"training": entries}, tmp_path / "custom.json")
    val = BratsDataset(tmp_path, split="val", fold=1, fold_file=tmp_path / "custom.json")
    train = BratsDataset(tmp_path, split="train", fold=1, fold_file=tmp_path / "custom.json")
    assert val.case_ids == [case_id("brats2021", 2), case_id("brats2021", 4)]
    assert train.case_ids == [case_id("brats2021", 1), case_id("brats2021", 3)]
    assert train.cases[0].images[0].name.endswith("_flair.nii.gz")  # order restored from the file names
    assert [float(train[0]["image"][c].unique()) for c in range(4)] == [1.0, 2.0, 3.0, 4.0]


def test_fold_file_in_data_root_is_used_by_default(tmp_path, caplog):
    write_dataset(tmp_path, "brats2021", n=4)
    folds = make_folds(find_cases(tmp_path), n_folds=4)
    save_folds(folds, tmp_path / "brats21_folds.json")
    with caplog.at_level("INFO"):
        ds = BratsDataset(tmp_path, split="val", fold=0)
    assert "brats21_folds.json" in caplog.text
    expected = [e["label"].split("/")[0] for e in folds["training"] if e["fold"] == 0]
    assert ds.case_ids == expected
    assert len(BratsDataset(tmp_path, split="train", fold=0, fold_file=False, n_folds=2)) == 2


def test_split_by_case_id_is_deterministic_and_disjoint(tmp_path):
    write_dataset(tmp_path, "brats2023", n=5)
    assert assign_folds(["b", "a", "c"], 3, seed=0) == assign_folds(["c", "a", "b"], 3, seed=0)
    val = [BratsDataset(tmp_path, split="val", fold=k).case_ids for k in range(5)]
    train0 = BratsDataset(tmp_path, split="train", fold=0).case_ids
    assert sorted(sum(val, [])) == [case_id("brats2023", i) for i in range(1, 6)]
    assert not set(train0) & set(val[0]) and len(train0) == 4
    assert val == [BratsDataset(tmp_path, split="val", fold=k).case_ids for k in range(5)]


def test_bad_split_and_fold(tmp_path):
    write_dataset(tmp_path, "brats2021", n=5)
    with pytest.raises(ValueError, match="split must be one of"):
        BratsDataset(tmp_path, split="test")
    with pytest.raises(ValueError, match="fold 7 is not among"):
        BratsDataset(tmp_path, split="val", fold=7)
    with pytest.raises(ValueError, match="cannot split 5 cases into 6 folds"):
        BratsDataset(tmp_path, n_folds=6)
