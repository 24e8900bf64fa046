"""What a registered model is: parameters, GMACs, input, pretrained weight tags with their licences, model card.

    visionzoo info swin_unetr_brats
    visionzoo info vit_small_patch16_224.augreg_in21k_ft_in1k

Parameters and GMACs are counted on the meta device (shapes only, no weights allocated, about a second);
``--no-count`` skips them.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ._errors import run_main

_PACKAGE = Path(__file__).resolve().parents[1]


def cards_root() -> Path:
    """The model cards: ``visionzoo/_model_cards`` in a wheel, else the checkout's ``model_cards/``."""
    packaged = _PACKAGE / "_model_cards"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "model_cards"


def card_for(arch: str) -> Path | None:
    """The card whose tables list `arch` (None if no card does)."""
    root = cards_root()
    if not root.is_dir():
        return None
    needle = f"`{arch}`"
    for path in sorted(root.glob("*.md")):
        if needle in path.read_text(encoding="utf-8", errors="replace"):
            return path
    return None


def configs_for(arch: str) -> list[str]:
    """Packaged configs whose text names `arch` as a model (``name="arch"``)."""
    from ._configs import list_configs

    out = []
    for name, path in list_configs().items():
        text = path.read_text(encoding="utf-8", errors="replace")
        if f'"{arch}"' in text or f"'{arch}'" in text:
            out.append(name)
    return out


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("name", help="registered model name, optionally NAME.TAG")
    p.add_argument("--no-count", action="store_true", help="skip counting parameters and GMACs")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _fmt_size(size) -> str:
    return "x".join(str(s) for s in size) if size else "?"


def _main(argv: list[str], prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    import visionzoo as vz
    from visionzoo.registry import model_family, split_model_name_tag
    from visionzoo.weights.pretrained import weight_entry

    arch, tag = split_model_name_tag(args.name)
    cfg = vz.get_pretrained_cfg(args.name)  # unknown names: a ValueError naming the closest ones
    lines = [f"model:        {arch}", f"family:       {model_family(arch)}",
             f"input:        {_fmt_size(cfg.get('input_size'))}"]
    if cfg.get("num_classes") is not None:
        lines.append(f"classes:      {cfg['num_classes']}")
    if not args.no_count:
        from .benchmarking import default_input_size, static_counts

        try:
            params, gmacs = static_counts(arch)
            size = _fmt_size(default_input_size(arch))
            lines += [f"params:       {params:.2f} M", f"GMACs:        {gmacs:.2f} (one {size} input)"]
        except Exception as e:  # a model with data-dependent shapes cannot run on the meta device
            lines.append(f"params/GMACs: not counted ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    tags = vz.list_pretrained(arch)
    tags = [t for t in tags if t.partition(".")[0] == arch]
    default = cfg.get("tag")
    if tags:
        lines.append("weights:")
        for name_tag in tags:
            _, entry = weight_entry(name_tag)
            where = f"hf://{entry.hf_hub_id}" if entry.hf_hub_id else entry.url or entry.file or "?"
            mark = " (default)" if name_tag == f"{arch}.{default}" else ""
            lines.append(f"  {name_tag}{mark}  licence {entry.license or '?'}  {where}")
    else:
        lines.append("weights:      none registered (random initialisation only)")
    if tag is not None:
        _, entry = weight_entry(args.name)
        lines.append(f"licence:      {entry.license or '?'} ({arch}.{tag})")
    elif tags:
        licences = sorted({weight_entry(t)[1].license or "?" for t in tags})
        lines.append(f"licence:      {', '.join(licences)} (weights; the code is Apache-2.0)")
    else:
        lines.append("licence:      Apache-2.0 (code; no weights)")
    card = card_for(arch)
    lines.append(f"card:         {card if card else 'none'}")
    configs = configs_for(arch)
    if configs:
        lines.append(f"configs:      {', '.join(configs)}")
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv, user_errors=(ValueError,))
