"""Whole-case benchmark: per-setting processes on tiny synthetic cases, Dice against the reference, the CLI (no timing asserts)."""
import json
from pathlib import Path

import pytest

from visionzoo.cli import benchmark as cli
from visionzoo.cli.benchmarking import whole_case as wc

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "tools" / "configs" / "tiny_swin_unetr_brats.py"
ROW_KEYS = {"label", "variant", "settings", "is_reference", "case_s", "median_case_s", "startup_s", "end_to_end_s",
            "process_s", "peak_rss_gib", "threads", "other_cores", "dice_vs_ref", "dice_vs_ref_regions",
            "dice_vs_label", "dice_vs_label_regions", "dice_vs_label_delta", "config", "checkpoint", "weights",
            "cases", "case_shapes", "device", "cpu"}


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Path:
    from visionzoo.data import write_synthetic_brats

    root = tmp_path_factory.mktemp("whole_case") / "cases"
    write_synthetic_brats(root, 2, size=40, depth=32, n_folds=0)
    return root


@pytest.fixture(scope="module")
def rows(cases, tmp_path_factory):
    keep = tmp_path_factory.mktemp("whole_case_keep")
    # {"precision": "fp32"} is the reference's setting (the tiny recipe's overlap 0.5): it runs once
    variants = [{"overlap": 0.25, "precision": "bf16"}, {"precision": "fp32"}]
    return wc.run_whole_case(TINY, None, cases, variants, threads=1,
                             keep_dir=keep, poll_s=2.0)


def test_rows_have_the_expected_keys_and_values(rows):
    assert [r["label"] for r in rows] == ["overlap=0.5,precision=fp32", "overlap=0.25,precision=bf16"]
    for r in rows:
        assert ROW_KEYS <= set(r)
        assert len(r["case_s"]) == r["cases"] == 2
        assert r["peak_rss_gib"] > 0.1 and r["startup_s"] > 0 and r["threads"] == 1
        assert r["case_shapes"] == ["40x40x32"] and r["weights"] == "random init (seed 0)"
        assert set(r["dice_vs_ref_regions"]) == {"TC", "WT", "ET"}
        assert 0.0 <= r["dice_vs_ref"] <= 1.0 and 0.0 <= r["dice_vs_label"] <= 1.0
        assert sorted(Path(r["out_dir"]).glob("*.nii.gz")) and Path(r["out_dir"]).is_dir()
    assert rows[1]["settings"] == {"precision": "bf16", "overlap": 0.25, "sw_batch_size": 1, "mode": "constant",
                                   "roi_size": "64x32x32"}


def test_the_reference_against_itself_is_one(rows):
    ref = rows[0]
    assert ref["is_reference"] and not rows[1]["is_reference"]
    assert ref["dice_vs_ref"] == 1.0 and ref["dice_vs_label_delta"] == 0.0
    assert rows[1]["dice_vs_label_delta"] == pytest.approx(rows[1]["dice_vs_label"] - ref["dice_vs_label"])


def test_table_lists_every_setting(rows):
    table = wc.format_whole_case_table(rows)
    assert "overlap=0.5,precision=fp32 (ref)" in table and "overlap=0.25,precision=bf16" in table
    assert "peak RSS GiB" in table and "Dice vs ref" in table


def test_variants_reach_the_config_like_infer_options():
    from visionzoo.cli._configs import load_config

    cfg = load_config(TINY)
    wc.apply_variant(cfg, wc.check_variant({"precision": "bf16", "overlap": 0, "sw_batch_size": 2, "mode": "gaussian"}))
    assert cfg.segmenter["precision"] == "bf16"
    assert cfg.segmenter["inference"]["roi_size"] == (64, 32, 32)  # the config's other settings stay
    assert wc._settings(cfg) == {"precision": "bf16", "overlap": 0.0, "sw_batch_size": 2, "mode": "gaussian",
                                 "roi_size": "64x32x32"}
    wc.apply_variant(cfg, wc.check_variant({"roi_size": 96}))  # one number: a cube
    assert cfg.segmenter["inference"]["roi_size"] == (96, 96, 96)
    wc.apply_variant(cfg, wc.check_variant({"roi_size": "96x64x48"}))
    assert wc._settings(cfg)["roi_size"] == "96x64x48"


@pytest.mark.parametrize("variant, message", [
    ("device=cuda", "unknown variant key(s) device; variant keys are precision, overlap, sw_batch_size, mode, roi_size"),
    ("roi_size=64x0", "variant roi_size must be N or NxNxN"),
    ("channels_last=True", "channels_last is not a whole-case lever here"),
    ("overlap=1.0", "variant overlap must be a number in [0, 1)"),
    ("sw_batch_size=0", "variant sw_batch_size must be a positive integer"),
    ("precision=bf61", "unknown precision 'bf61'"),
])
def test_cli_refuses_a_bad_variant_in_one_line(variant, message, capsys):
    assert cli.main(["--whole-case", str(TINY), "--variants", variant]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_cli_flags_that_need_whole_case_are_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--cases", "somewhere"])
    assert e.value.code == 2 and "--cases go(es) with --whole-case CONFIG" in capsys.readouterr().err


def test_cli_runs_a_checkpoint_and_writes_json(rows, cases, tmp_path):
    checkpoint = Path(rows[0]["checkpoint"])  # the saved random init: a plain state dict, as `visionzoo convert` writes
    out = tmp_path / "rows.json"
    # the reference only: one process, predictions equal to the fixture's reference run
    assert cli.main(["--whole-case", str(TINY), "--checkpoint", str(checkpoint), "--cases", str(cases),
                     "--threads", "1", "--keep-dir", str(tmp_path / "keep"), "--json", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["weights"] == "checkpoint" and row["dice_vs_ref"] == 1.0
    assert row["dice_vs_label"] == pytest.approx(rows[0]["dice_vs_label"])
