"""Write a synthetic BraTS dataset in a real on-disk layout (plus brats21_folds.json) for demos and tests.

    python tools/make_synthetic_brats.py data/brats_synth --cases 12 --size 96 --format brats2021
"""
from __future__ import annotations

import argparse
import logging

from visionzoo.cli import non_negative_int, positive_int, run_main
from visionzoo.data import SyntheticBratsConfig, write_synthetic_brats

FORMATS = ("brats2021", "brats2023", "brats2024", "decathlon")


def main(argv: list[str] | None = None) -> int:
    """The tool; user errors print one ``error:`` line and return 2 (``--debug``: the traceback)."""
    return run_main(_main, argv, user_errors=(ValueError,))


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="output folder (the data_root to give BratsDataset)")
    p.add_argument("--cases", type=positive_int, default=12, help="number of cases (default 12)")
    p.add_argument("--size", type=positive_int, default=96, help="in-plane size S in voxels (default 96)")
    p.add_argument("--depth", type=positive_int, default=None, help="slices (default round(0.65 * S), like 240x240x155)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=FORMATS, default="brats2021")
    p.add_argument("--folds", type=non_negative_int, default=5, help="folds in brats21_folds.json (0: no fold file)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier synthetic dataset in OUT")
    d = SyntheticBratsConfig()
    p.add_argument("--wt-fraction", type=float, nargs=2, default=d.wt_fraction, metavar=("LO", "HI"),
                   help=f"whole tumour as a fraction of brain volume (default {d.wt_fraction[0]} {d.wt_fraction[1]})")
    p.add_argument("--tc-fraction", type=float, nargs=2, default=d.tc_fraction, metavar=("LO", "HI"),
                   help=f"tumour core as a fraction of whole tumour (default {d.tc_fraction[0]} {d.tc_fraction[1]})")
    p.add_argument("--et-rim", type=int, nargs=2, default=d.et_rim, metavar=("LO", "HI"),
                   help=f"enhancing rim thickness in voxels (default {d.et_rim[0]} {d.et_rim[1]})")
    args = p.parse_args(argv)
    config = SyntheticBratsConfig(
        wt_fraction=tuple(args.wt_fraction), tc_fraction=tuple(args.tc_fraction), et_rim=tuple(args.et_rim)
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    write_synthetic_brats(
        args.out, args.cases, args.size, depth=args.depth, seed=args.seed, format=args.format,
        n_folds=args.folds, config=config, overwrite=args.overwrite,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
