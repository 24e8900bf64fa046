"""Overlay a model's attention maps on an image and save them as one PNG grid.

    .venv/bin/python tools/visualize_attention.py resnet50_cbam photo.jpg --out maps.png --checkpoint-path cbam.pth
    .venv/bin/python tools/visualize_attention.py vit_small_patch16_224 photo.jpg --out maps.png --pretrained --rollout

CNN block attention (CBAM, triplet attention) shows the spatial gate of the last block of each stage
(``--all-blocks``: every block); ViTs show the class token's attention per block, or with
``--rollout`` the attention rollout; DETR models show the last decoder layer's cross-attention of the
``--queries`` most confident object queries. A thin wrapper over `visionzoo.visualize`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

import visionzoo as vz
from visionzoo.visualize import attention_maps, attention_rollout, detr_cross_attention, overlay_maps, preprocess_image
from visionzoo.cli import run_main


def _detr_maps(model, x, count: int) -> dict:
    """Cross-attention maps of the `count` queries with the highest object score, named by class and score."""
    maps, out = detr_cross_attention(model, x)
    probs = out["pred_logits"][0].softmax(-1)[:, :-1]  # drop the no-object class
    scores, labels = probs.max(-1)
    order = scores.argsort(descending=True)[:count]
    return {f"query {int(q)}: class {int(labels[q])} {float(scores[q]):.2f}": maps[:, q] for q in order}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="registered model name (optionally name.tag), e.g. resnet50_cbam")
    p.add_argument("image", type=Path, help="image file (any format OpenCV reads)")
    p.add_argument("--out", type=Path, default=Path("maps.png"), help="PNG to write (default: maps.png)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="load the model's default (or tagged) weights")
    weights.add_argument("--checkpoint-path", default=None, help="a checkpoint in any layout the model converts")
    p.add_argument("--size", type=int, default=None, help="input side (default: the model's input size)")
    p.add_argument("--all-blocks", action="store_true", help="one panel per attention module, not per stage")
    p.add_argument("--rollout", action="store_true", help="ViT: attention rollout instead of per-block maps")
    p.add_argument("--queries", type=int, default=4, help="DETR: cross-attention of this many most confident queries")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the colour map")
    p.add_argument("--columns", type=int, default=4, help="panels per row")
    return p


def main(argv: list[str] | None = None) -> int:
    """The tool; user errors print one ``error:`` line and return 2 (``--debug``: the traceback)."""
    return run_main(_main, argv, user_errors=(ValueError,))


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    bgr = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if bgr is None:
        print(f"error: cannot read an image from {args.image} (missing file or unsupported format)", file=sys.stderr)
        return 2
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    model = vz.create_model(args.model, pretrained=args.pretrained, checkpoint_path=args.checkpoint_path)
    x = preprocess_image(rgb, model.pretrained_cfg, args.size)
    if args.rollout:
        maps = {"rollout": attention_rollout(model, x)}
    elif hasattr(model, "transformer") and hasattr(model, "input_proj"):
        maps = _detr_maps(model, x, args.queries)
    else:
        maps = attention_maps(model, x, per_stage=not args.all_blocks)
    if not maps:
        print(f"error: {args.model} has no attention module with a spatial map; try an attention variant "
              f"such as resnet50_cbam or resnet50_triplet, or a ViT", file=sys.stderr)
        return 2
    side = x.shape[-1]
    shown = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_AREA)
    grid = overlay_maps(shown, {name: m[0] for name, m in maps.items()}, alpha=args.alpha, columns=args.columns)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        print(f"error: could not write {args.out}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(maps)} map(s) ({', '.join(f'{n} {tuple(m.shape[1:])}' for n, m in maps.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
