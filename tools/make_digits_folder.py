"""Write scikit-learn's bundled handwritten digits (1,797 real 8x8 scans, 10 classes) as an ImageFolder.

    python tools/make_digits_folder.py data/digits --size 32 --val-fraction 0.2 --seed 0

Layout: OUT/train/<digit>/<i>.png and OUT/val/<digit>/<i>.png (greyscale PNGs, a fixed stratified split),
the data_root of an ImageFolder classification config. No download; an OUT finished earlier is kept.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from visionzoo.cli import run_main


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage block
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


# Argument checks happen before the (slow) library import, so a typo is answered at once; the library
# checks the same values again for its own callers.
def _out_folder(text: str) -> Path:
    if Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a folder: choose another output folder")
    return Path(text)


def _size(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive number of pixels (e.g. 32), got {text!r}")
    return int(text)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), e.g. 0.2, got {text!r}")
    return value


def _seed(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    """The tool; user errors print one ``error:`` line and return 2 (``--debug``: the traceback)."""
    return run_main(_main, argv)


def _main(argv: list[str] | None = None) -> int:
    p = _Parser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=_out_folder,
                   help="output folder (created; must not exist unless it is a finished digits folder)")
    p.add_argument("--size", type=_size, default=32, help="image side in pixels, bicubic upsampling (default 32)")
    p.add_argument("--val-fraction", type=_fraction, default=0.2, help="share of each class in val (default 0.2)")
    p.add_argument("--seed", type=_seed, default=0, help="random_state of the stratified split (default 0)")
    args = p.parse_args(argv)
    from visionzoo.data import write_digits_folder

    try:
        info = write_digits_folder(args.out, size=args.size, val_fraction=args.val_fraction, seed=args.seed)
    except (ValueError, FileExistsError, NotADirectoryError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    state = "wrote" if info["written"] else "already complete, left as it is:"
    print(f"{state} {info['out']}: {info['train']} train + {info['val']} val images, {info['classes']} classes, "
          f"{info['size']}px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
