"""Write a synthetic shapes detection dataset (circles, rectangles, triangles) as COCO JSON + PNGs.

    python tools/make_synthetic_coco.py data/shapes --num-train 512 --num-val 128 --size 128 --seed 0

Layout: OUT/annotations/instances_{train,val}.json and OUT/{train,val}/NNNNNN.png (the data_root of
configs/detr_shapes_synthetic.py).
"""
from __future__ import annotations

import argparse

from visionzoo.cli import positive_int, run_main
from visionzoo.data import SyntheticShapesConfig, write_synthetic_coco


def main(argv: list[str] | None = None) -> int:
    """The tool; user errors print one ``error:`` line and return 2 (``--debug``: the traceback)."""
    return run_main(_main, argv, user_errors=(ValueError,))


def _main(argv: list[str] | None = None) -> int:
    d = SyntheticShapesConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="output folder (the data_root of a COCO dataset config)")
    p.add_argument("--num-train", type=positive_int, default=256, help="training images (default 256)")
    p.add_argument("--num-val", type=positive_int, default=64, help="validation images (default 64)")
    p.add_argument("--size", type=positive_int, default=d.size, help=f"image side in pixels (default {d.size})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-objects", type=positive_int, default=d.min_objects)
    p.add_argument("--max-objects", type=positive_int, default=d.max_objects)
    p.add_argument("--object-sizes", type=float, nargs="+", default=list(d.object_sizes), metavar="FRACTION",
                   help=f"object sides as fractions of the image side (default {' '.join(map(str, d.object_sizes))})")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier synthetic dataset in OUT")
    args = p.parse_args(argv)
    files = write_synthetic_coco(
        args.out, args.num_train, args.num_val, args.size, seed=args.seed, overwrite=args.overwrite,
        min_objects=args.min_objects, max_objects=args.max_objects, object_sizes=tuple(args.object_sizes),
    )
    for split, path in files.items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
