"""The generated tables of a card: variants (counts, weights, throughput) and weights (licence, download, ...)."""
from __future__ import annotations

import dataclasses
import sys
from typing import Any

import visionzoo as vz
from visionzoo.cli.benchmarking import default_input_size, static_counts
from visionzoo.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from visionzoo.registry import get_pretrained_cfg
from visionzoo.weights import WeightEntry

from .measure import MEASURE_2D_BATCH, MEASURE_3D_SIZE, is_stale
from .text import input_text, metric_text, num, size_text, table


def _static_or_measured(name: str, measured: dict | None) -> tuple[float | None, float | None, str | None]:
    """Params/GMACs counted now; if the meta-device run fails, the measurement file's figures (with a warning)."""
    try:
        params, gmacs = static_counts(name)
        return params, gmacs, None
    except Exception as e:  # a model with data-dependent shapes cannot run on meta
        warning = f"{name}: cannot count params/GMACs on the meta device ({type(e).__name__}: {e}); "
        if measured and measured.get("params_m") is not None:
            print(f"[model_cards] {warning}using the measurement file's figures", file=sys.stderr)
            return measured.get("params_m"), measured.get("gmacs"), "measured"
        print(f"[model_cards] {warning}shown as not measured", file=sys.stderr)
        return None, None, None


def weight_tags(name: str) -> list[str]:
    """The registered ``name.tag`` weights of model `name`, the default first."""
    return [t for t in vz.list_pretrained(name) if t.partition(".")[0] == name]


def _throughput_cell(entry: dict | None, stale: bool) -> str:
    """``12.3 img/s (b8, 224²)`` from a measurement, † when stale, or ``not measured``."""
    if not entry or entry.get("throughput") is None:
        return "not measured"
    how = [f"b{entry['batch_size']}", size_text(entry["measured_size"])]
    how += [f"{k}={v}" for k, v in sorted((entry.get("model_kwargs") or {}).items())]
    return f"{num(entry['throughput'])} {entry.get('unit', 'img/s')} ({', '.join(how)})" + (" †" if stale else "")


def render_variants_table(models: list[str], measurements: dict[str, dict]) -> str:
    """One row per model: default input, params, GMACs, default weights and their metrics, CPU throughput."""
    rows, stale_models, from_file = [], [], []
    for name in models:
        entry = measurements.get(name)
        params, gmacs, origin = _static_or_measured(name, entry)
        if origin:
            from_file.append(name)
        stale = bool(entry) and is_stale(entry, params, gmacs)
        if stale:
            stale_models.append(name)
        tags = weight_tags(name)
        default = tags[0].partition(".")[2] if tags else None
        metrics = get_pretrained_cfg(tags[0]).get("metrics") if tags else {}
        rows.append([
            f"`{name}`",
            input_text(default_input_size(name)),
            f"{params:.2f}" if params is not None else "not measured",
            f"{gmacs:.2f}" if gmacs is not None else "not measured",
            f"`{default}`" if default else "none registered",
            metric_text(metrics or {}) if default else "—",
            _throughput_cell(entry, stale),
        ])
    header = ["model", "input", "params (M)", "GMACs", "default weights", "published (default weights)",
              "CPU throughput"]
    notes = [_measurement_note(models, measurements)]
    if stale_models:
        notes.append(f"† measured before the model changed (params/GMACs differ now): re-run "
                     f"`tools/model_cards.py --measure {' '.join(stale_models)}`.")
    if from_file:
        notes.append(f"Params/GMACs of {', '.join(f'`{m}`' for m in from_file)} come from the measurement file "
                     "(the model cannot run on the meta device).")
    return table(header, rows) + "\n\n" + "\n".join(notes)


def _measurement_note(models: list[str], measurements: dict[str, dict]) -> str:
    """How the throughput column was measured, one line per distinct (machine, torch, threads, protocol, date)."""
    base = ("Params and GMACs (multiply-accumulates of one forward pass at the default input, attention matmuls "
            "included) are counted from the code when this card is rendered. ")
    groups: dict[tuple, list[str]] = {}
    for name in models:
        e = measurements.get(name)
        if e and e.get("throughput") is not None:
            key = (e.get("machine"), e.get("torch"), e.get("threads"), e.get("warmup"), e.get("runs"), e.get("date"))
            groups.setdefault(key, []).append(name)
    unmeasured = [m for m in models if m not in {n for g in groups.values() for n in g}]
    lines = []
    for (machine, torch_version, threads, warmup, runs, date), names in groups.items():
        which = "" if len(groups) == 1 and not unmeasured else f" ({', '.join(f'`{n}`' for n in names)})"
        lines.append(f"CPU throughput{which}: fp32 inference (`torch.inference_mode()`), batch and size as shown, "
                     f"median of {runs} timed batches after {warmup} warm-up, {threads} threads, torch {torch_version}, "
                     f"on {machine}, {date}; measured with `tools/model_cards.py --measure`.")
    if unmeasured:
        dims = {len(default_input_size(m)) - 1 for m in unmeasured}
        policy = ([f"2D models at their default size, batch {MEASURE_2D_BATCH}"] if 2 in dims else []) + (
            [f"3D models at (at most) {size_text([MEASURE_3D_SIZE] * 3)}, batch 1"] if 3 in dims else [])
        lines.append(f"Not measured yet: run `.venv/bin/python tools/model_cards.py --measure {' '.join(unmeasured)}` "
                     f"on a quiet machine ({'; '.join(policy)}).")
    return base + " ".join(lines)


def _download_cell(cfg: dict) -> str:
    """Where a weight entry downloads from (hub repo, URL or file), its archive member and checksum prefix."""
    if cfg.get("hf_hub_id"):
        hub = cfg["hf_hub_id"]
        text = f"[{hub}](https://huggingface.co/{hub})"
        if cfg.get("hf_filename"):
            text += f" `{cfg['hf_filename']}`"
    elif cfg.get("url"):
        text = f"<{cfg['url']}>"
    elif cfg.get("file"):
        text = f"file `{cfg['file']}`"
    else:
        text = "—"
    if cfg.get("archive_member"):
        text += f" (member `{cfg['archive_member']}`)"
    if cfg.get("sha256"):
        text += f", sha256 `{cfg['sha256'][:12]}…`"
    return text


def _norm_text(mean: tuple | None, std: tuple | None) -> str | None:
    """Normalisation in words: ``ImageNet mean/std``, one mean/std for all channels, or the tuples."""
    if mean is None or std is None:
        return None
    mean, std = tuple(mean), tuple(std)
    if mean == IMAGENET_DEFAULT_MEAN and std == IMAGENET_DEFAULT_STD:
        return "ImageNet mean/std"
    if len(set(mean)) == 1 and len(set(std)) == 1:
        return f"mean {mean[0]:g}, std {std[0]:g}"
    return f"mean {mean}, std {std}"


def _preprocessing_cell(cfg: dict) -> str:
    """Input size, input channels, output classes, and resizing/normalisation as the entry records them."""
    input_size = tuple(cfg.get("input_size") or ())
    parts = [input_text(input_size)] if input_size else []
    if cfg.get("channel_names"):
        parts.append("channels " + "/".join(cfg["channel_names"]))
    classes = cfg.get("class_names") or ()
    n_classes = len(classes) or cfg.get("num_classes")
    if n_classes is not None:
        detail = [", ".join(classes)] if classes else []
        detail += [cfg["output_activation"]] if cfg.get("output_activation") else []
        parts.append(f"{n_classes} classes" + (f" ({'; '.join(detail)})" if detail else ""))
    if cfg.get("interpolation"):
        parts.append(str(cfg["interpolation"]))
    if cfg.get("crop_pct") is not None:
        parts.append(f"crop {cfg['crop_pct']:g}")
    norm = _norm_text(cfg.get("mean"), cfg.get("std"))
    if norm:
        parts.append(norm)
    if cfg.get("normalization"):
        parts.append(f"normalisation: {cfg['normalization']}")
    return ", ".join(parts)


# WeightEntry fields shown in their own columns; any other field (new ones included) is listed under the table
_SHOWN_FIELDS = {"source", "hf_hub_id", "hf_filename", "url", "file", "sha256", "archive_member", "license", "paper",
                 "official_code", "metrics", "num_classes", "input_size", "mean", "std", "normalization", "crop_pct",
                 "interpolation", "channel_names", "class_names", "output_activation", "notes"}


def _field_defaults() -> dict[str, Any]:
    """WeightEntry field -> its default value, so notes list only fields an entry actually sets."""
    out = {}
    for f in dataclasses.fields(WeightEntry):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


def _notes_text(cfg: dict) -> str:
    """The entry's notes plus every other WeightEntry field that this tool has no column for, when set."""
    defaults = _field_defaults()
    extra = [f"{f.name}: {cfg.get(f.name)}" for f in dataclasses.fields(WeightEntry)
             if f.name not in _SHOWN_FIELDS and cfg.get(f.name) not in (None, "", {}, [], ())
             and cfg.get(f.name) != defaults.get(f.name)]
    return " ".join(([cfg["notes"].strip()] if cfg.get("notes") else []) + [f"({e})" for e in extra])


def render_weights_table(models: list[str]) -> str:
    """One row per registered ``name.tag`` (licence, download, layout, published metrics, preprocessing, paper), then notes."""
    tags = [t for name in models for t in weight_tags(name)]
    if not tags:
        return ("No pretrained weights are registered for these models yet: `pretrained=True` raises, "
                "`checkpoint_path=` loads a file in the original authors' layout.")
    rows, notes = [], {}
    for full in tags:
        cfg = get_pretrained_cfg(full)
        default = weight_tags(full.partition(".")[0])[0] == full
        paper = cfg.get("paper") or "—"
        if cfg.get("official_code"):
            paper += f"; code: <{cfg['official_code']}>"
        rows.append([
            f"`{full}`" + (" (default)" if default else ""),
            cfg.get("license") or "unknown",
            _download_cell(cfg),
            cfg.get("source") or "—",
            metric_text(cfg.get("metrics") or {}),
            _preprocessing_cell(cfg),
            paper,
        ])
        text = _notes_text(cfg)
        if text:
            notes.setdefault(text, []).append(full)
    header = ["weights", "licence", "download", "layout", "published metrics", "input, preprocessing", "paper, code"]
    out = table(header, rows)
    if notes:
        out += "\n\nNotes (from the weight entries):\n\n" + "\n".join(
            f"- {', '.join(f'`{t}`' for t in tags_)}: {text}" for text, tags_ in notes.items())
    return out
