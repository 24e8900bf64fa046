"""Every format loads with the right channel order and TC/WT/ET channels, checked against hand-built files."""
import numpy as np
import pytest
import torch

from visionzoo.data import BratsDataset, find_cases, get_format, labels_to_regions, load_case

from .brats_files import AFFINE, SHAPE, case_id, known_seg, write_case, write_dataset, write_dataset_json

FORMATS = ["brats2021", "brats2023", "brats2024", "decathlon"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_regions_and_channel_order(tmp_path, fmt):
    write_dataset(tmp_path, fmt, n=2)
    seg, expected = known_seg(fmt)
    ds = BratsDataset(tmp_path, split="all", format=fmt)
    sample = ds[0]
    assert sample["case_id"] == case_id(fmt, 1) and sample["format"] == fmt
    image, label = sample["image"], sample["label"]
    assert image.dtype == label.dtype == torch.float32
    assert image.shape == (4, *SHAPE) and label.shape == (3, *SHAPE)  # (C, X, Y, Z): the NIfTI's own axes
    assert [float(image[c].unique()) for c in range(4)] == [1.0, 2.0, 3.0, 4.0]  # FLAIR, T1ce, T1, T2
    for c, region in enumerate(("TC", "WT", "ET")):
        assert torch.equal(label[c], torch.from_numpy(expected[region]).float()), region
    assert np.allclose(sample["affine"].numpy(), AFFINE)
    assert sample["spatial_shape"].tolist() == list(SHAPE)


@pytest.mark.parametrize("fmt", ["brats2021", "brats2023", "decathlon"])
def test_auto_detects_format(tmp_path, fmt):
    write_dataset(tmp_path, fmt, n=2)
    assert BratsDataset(tmp_path, split="all").format == fmt


def test_decathlon_mapping_differs_from_2021():
    seg = np.array([0, 1, 2, 3, 4])
    d = labels_to_regions(seg[:4], "decathlon")
    b = labels_to_regions(seg, "brats2021")
    # (TC, WT, ET) of each label
    assert d[:, 1].tolist() == [0, 1, 0] and b[:, 1].tolist() == [1, 1, 0]  # label 1: oedema vs necrotic core
    assert d[:, 2].tolist() == [1, 1, 0] and b[:, 2].tolist() == [0, 1, 0]  # label 2: non-enhancing vs oedema
    assert d[:, 3].tolist() == [1, 1, 1] and b[:, 4].tolist() == [1, 1, 1]  # enhancing: 3 vs 4
    assert get_format("decathlon").regions != get_format("brats2021").regions


def test_brats2024_cavity_excluded(tmp_path):
    seg, expected = known_seg("brats2024")
    write_dataset(tmp_path, "brats2024", n=1, seg=seg)
    label = BratsDataset(tmp_path, split="all", format="brats2024")[0]["label"]
    cavity = torch.from_numpy(seg == 4)
    assert cavity.sum() == 2 and label[:, cavity].sum() == 0
    assert torch.equal(label[1], torch.from_numpy(expected["WT"]).float())


def test_brats2023_names_with_label_4_read_as_2024_under_auto(tmp_path, caplog):
    seg, _ = known_seg("brats2024")
    write_dataset(tmp_path, "brats2023", n=1, seg=seg)
    ds = BratsDataset(tmp_path, split="all")
    assert ds.cases[0].format_guessed
    with caplog.at_level("WARNING"):
        sample = ds[0]
    assert sample["format"] == "brats2024" and sample["label"][:, torch.from_numpy(seg == 4)].sum() == 0
    from visionzoo.data import DataFormatError
    with pytest.raises(DataFormatError, match="brats2023"):  # explicit 2023 does not guess
        BratsDataset(tmp_path, split="all", format="brats2023")[0]


def test_decathlon_reads_dataset_json_and_skips_resource_forks(tmp_path):
    write_dataset(tmp_path, "decathlon", n=3)
    (tmp_path / "imagesTr" / "._BRATS_001.nii.gz").write_bytes(b"\0\0")  # ships in the real Task01 tar
    write_dataset_json(tmp_path, [case_id("decathlon", i) for i in (1, 3)])
    cases = find_cases(tmp_path)
    assert [c.case_id for c in cases] == ["BRATS_001", "BRATS_003"] and cases[0].channels == (0, 2, 1, 3)
    assert [float(load_case(cases[0])["image"][c].unique()) for c in range(4)] == [1.0, 2.0, 3.0, 4.0]


def test_unlabelled_cases_with_require_label_false(tmp_path):
    write_case(tmp_path, "brats2021", 1)  # no seg
    ds = BratsDataset(tmp_path, split="all", require_label=False)
    sample = ds[0]
    assert "label" not in sample and sample["image"].shape == (4, *SHAPE)


def test_cache_returns_fresh_copies(tmp_path):
    write_dataset(tmp_path, "brats2021", n=1)
    ds = BratsDataset(tmp_path, split="all", cache=True)
    a = ds[0]
    a["image"].zero_()
    assert float(ds[0]["image"][0].unique()) == 1.0 and len(ds._cache) == 1


def test_nested_training_data_folder_and_nii(tmp_path):
    sub = tmp_path / "TrainingData"
    write_dataset(sub, "brats2021", n=1)
    for f in (sub / case_id("brats2021", 1)).glob("*_t2.nii.gz"):  # uncompressed files are found too
        import nibabel as nib
        nib.save(nib.load(str(f)), str(f).replace(".nii.gz", ".nii"))
        f.unlink()
    case = find_cases(tmp_path)[0]
    assert case.images[3].name.endswith("_t2.nii") and case.root == tmp_path
