"""Pre-fill the weight cache (for air-gapped machines) and print where each file went.

    .venv/bin/python tools/download_weights.py --list 'swin_unetr*'
    .venv/bin/python tools/download_weights.py swin_unetr_brats.brats21_fold1 vit_small_patch16_224.augreg_in21k_ft_in1k
    .venv/bin/python tools/download_weights.py 'swin_unetr_brats.*'            # every BraTS fold
    .venv/bin/python tools/download_weights.py swin_unetr.ssl_swinvit --url https://mirror.example/model_swinvit.pt
    visionzoo download swin_unetr_brats.brats21_fold1

Files go to ``$VISIONZOO_HOME/checkpoints/NAME.TAG/`` (default ``~/.cache/visionzoo``); Hugging Face Hub
weights go to the hub cache (``HF_HUB_CACHE``/``HF_HOME``; ``HF_ENDPOINT`` picks a mirror and
``HF_HUB_OFFLINE=1`` only checks the cache). Copy those folders to the offline machine and set the same
variables there. ``--url`` fetches one URL entry from a mirror; its sha256 is still checked.
"""
from __future__ import annotations

import argparse
import sys

from visionzoo import list_pretrained
from visionzoo.weights import WeightsNotFoundError, cached_weight_path, hf_cache_dir, resolve_weight_file
from visionzoo.weights.pretrained import weight_entry

from ._errors import UserError, run_main


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME.TAG", help="weight tags or fnmatch patterns (NAME alone: its default tag)")
    p.add_argument("--list", nargs="?", const="*", default=None, metavar="PATTERN",
                   help="list registered weight tags (matching PATTERN), their source and whether they are cached")
    p.add_argument("--url", default=None, help="download the (single) URL entry from this mirror URL instead")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _expand(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        matches = list_pretrained(name) if any(c in name for c in "*?[") else [weight_entry(name)[0]]
        if not matches:
            raise ValueError(f"no weight tag matches {name!r}; --list shows them")
        out += [m for m in matches if m not in out]
    return out


def _is_cached(name_tag: str, entry) -> bool:
    if cached_weight_path(name_tag, entry).is_file():
        return True
    if entry.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(entry.hf_hub_id, entry.hf_filename or "model.safetensors", cache_dir=hf_cache_dir())
        return isinstance(found, str)
    return False


def _list(pattern: str) -> int:
    for name_tag in list_pretrained(pattern):
        _, entry = weight_entry(name_tag)
        where = f"hf://{entry.hf_hub_id}" if entry.hf_hub_id else entry.url or entry.file
        cached = "cached" if _is_cached(name_tag, entry) else "-"
        print(f"{name_tag:60s} {cached:7s} {entry.license or '?':12s} {where}")
    return 0


def _main(argv: list[str], prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    if args.list is not None:
        return _list(args.list)
    if not args.names:
        raise UserError("name at least one NAME.TAG (or use --list)")
    names = _expand(args.names)
    if args.url and len(names) != 1:
        raise UserError(f"--url applies to one weight tag, got {len(names)}: {', '.join(names)}")
    failed = 0
    for name_tag in names:
        _, entry = weight_entry(name_tag)
        if args.url and not entry.url:
            raise UserError(f"{name_tag} is on the Hugging Face Hub; set HF_ENDPOINT to use a mirror, not --url")
        try:
            path = resolve_weight_file(name_tag, entry, progress=not args.no_progress, url=args.url)
        except (WeightsNotFoundError, RuntimeError) as e:
            failed += 1
            print(f"error: {name_tag}: {e}", file=sys.stderr)
            continue
        print(f"{name_tag}: {path}")
    return 1 if failed else 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv, user_errors=(ValueError, KeyError))
