"""The synthetic generator: real layouts through the real loader, MRI-like contrasts, nested sub-regions."""
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from visionzoo.data import BratsDataset, SyntheticBratsConfig, synthesize_case, write_synthetic_brats
from visionzoo.data.synthetic import TISSUE_CODES

FLAIR, T1CE, T1, T2 = range(4)


@pytest.mark.parametrize("fmt", ["brats2021", "brats2023", "brats2024", "decathlon"])
def test_generator_round_trips_through_loader(tmp_path, fmt, caplog):
    with caplog.at_level("INFO"):
        cases = write_synthetic_brats(tmp_path, n_cases=3, size=32, format=fmt, n_folds=3, seed=1)
    assert "SYNTHETIC" in caplog.text and len(cases) == 3 and (tmp_path / "brats21_folds.json").is_file()
    assert (tmp_path / "dataset.json").is_file() == (fmt == "decathlon")
    ds = BratsDataset(tmp_path, split="val", fold=0, format=fmt)
    sample = ds[0]
    assert sample["image"].shape == (4, 32, 32, 21) and sample["label"].shape == (3, 32, 32, 21)
    label = sample["label"].bool()
    tc, wt, et = label
    assert et.any() and tc.any() and wt.sum() > tc.sum()
    assert not (tc & ~wt).any() and not (et & ~tc).any()  # nested
    # the loader's regions equal those built from the generator's own labels
    seg = np.asarray(nib.load(str(ds.cases[0].label)).dataobj)
    et_label, core_label = (4, 1) if fmt == "brats2021" else (3, 2 if fmt == "decathlon" else 1)
    assert torch.equal(et, torch.from_numpy(seg == et_label))
    assert torch.equal(tc, torch.from_numpy((seg == et_label) | (seg == core_label)))
    assert torch.equal(wt, torch.from_numpy(np.isin(seg, [1, 2, 3, 4]) & (seg != 4 if fmt == "brats2024" else True)))
    if fmt == "brats2024":
        assert (seg == 4).any()


def test_contrasts_and_tumour_proportions():
    cfg = SyntheticBratsConfig()
    for i in range(3):
        images, codes, stats = synthesize_case((48, 48, 31), np.random.default_rng([0, i]), cfg)
        brain = codes > 0
        healthy = np.isin(codes, [TISSUE_CODES[t] for t in ("grey", "white", "csf")])
        oedema, enhancing, necrosis = (codes == TISSUE_CODES[t] for t in ("oedema", "enhancing", "necrosis"))
        wt = codes >= TISSUE_CODES["oedema"]
        tc = enhancing | necrosis
        assert images[FLAIR][oedema].mean() > 1.3 * images[FLAIR][healthy].mean()
        assert images[T2][oedema].mean() > images[T2][codes == TISSUE_CODES["white"]].mean()
        assert images[T1CE][enhancing].mean() > 1.3 * images[T1CE][necrosis].mean()  # partial volume at 48³
        assert images[T1][necrosis].mean() < images[T1][codes == TISSUE_CODES["white"]].mean()
        assert np.all(images[:, ~brain] == 0)  # skull-stripped
        assert 0.025 <= wt.sum() / brain.sum() <= 0.105 and 0.28 <= tc.sum() / wt.sum() <= 0.52
        assert stats["wt_fraction_of_brain"] == pytest.approx(wt.sum() / brain.sum(), abs=1e-3)


def test_generation_is_seeded_per_case(tmp_path):
    write_synthetic_brats(tmp_path / "a", n_cases=2, size=24, n_folds=2, seed=5)
    write_synthetic_brats(tmp_path / "b", n_cases=3, size=24, n_folds=3, seed=5)
    f = "BraTS2021_00001/BraTS2021_00001_flair.nii.gz"
    assert np.array_equal(nib.load(str(tmp_path / "a" / f)).get_fdata(), nib.load(str(tmp_path / "b" / f)).get_fdata())
    info = json.loads((tmp_path / "a" / "synthetic_info.json").read_text())
    assert info["shape"] == [24, 24, 16] and info["seed"] == 5


def test_generator_refuses_to_mix_with_existing_data(tmp_path):
    write_synthetic_brats(tmp_path, n_cases=2, size=20, n_folds=2)
    with pytest.raises(FileExistsError, match="overwrite"):
        write_synthetic_brats(tmp_path, n_cases=2, size=20, n_folds=2)
    cases = write_synthetic_brats(tmp_path, n_cases=2, size=20, n_folds=0, format="brats2023", overwrite=True)
    assert {c.format for c in cases} == {"brats2023"} and not (tmp_path / "brats21_folds.json").exists()
    with pytest.raises(ValueError, match="folds"):
        write_synthetic_brats(tmp_path / "new", n_cases=2, size=20, n_folds=5)
    with pytest.raises(ValueError, match="wt_fraction"):
        SyntheticBratsConfig(wt_fraction=(0.2, 0.1))


def test_cli(tmp_path):
    import runpy
    import sys

    argv, sys.argv = sys.argv, ["make_synthetic_brats.py", str(tmp_path), "--cases", "2", "--size", "20", "--depth",
                                "10", "--format", "decathlon", "--folds", "2"]
    try:
        with pytest.raises(SystemExit) as exit_info:  # the script exits with main()'s status
            runpy.run_path(str(Path(__file__).parents[2] / "tools" / "make_synthetic_brats.py"), run_name="__main__")
    finally:
        sys.argv = argv
    assert exit_info.value.code == 0
    assert nib.load(str(tmp_path / "imagesTr" / "BRATS_001.nii.gz")).shape == (20, 20, 10, 4)
