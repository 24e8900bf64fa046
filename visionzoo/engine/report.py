"""The test metrics table: rows TC / WT / ET / mean, columns Dice and HD95 (mm); printed, and saved as JSON and CSV.

Metrics without BraTS keys (e.g. `CocoMetric`'s bbox_mAP, bbox_mAP_50, ...) make a two-column metric / value table.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from visionzoo.data.formats import REGIONS as BRATS_CLASSES

from .checkpoint import atomic_write_text

__all__ = ["metrics_table", "format_metrics_table", "save_metrics_table"]


def metrics_table(metrics: dict[str, float], regions: tuple[str, ...] = BRATS_CLASSES) -> list[dict[str, Any]]:
    """``[{"region": "TC", "dice": .., "hd95": ..}, ..., {"region": "mean", ...}]`` from `BratsMetric` keys.

    Without any BraTS key: ``[{"metric": name, "value": v}, ...]`` in the metrics' order.
    """
    if metrics and not any(k.startswith(("dice_", "hd95_", "mean_dice", "mean_hd95")) for k in metrics):
        return [{"metric": k, "value": v} for k, v in metrics.items()]
    rows = [{"region": r, "dice": metrics.get(f"dice_{r.lower()}"), "hd95": metrics.get(f"hd95_{r.lower()}")} for r in regions]
    rows.append({"region": "mean", "dice": metrics.get("mean_dice"), "hd95": metrics.get("mean_hd95")})
    return rows


def format_metrics_table(metrics: dict[str, float]) -> str:
    """The table as aligned text."""
    def cell(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    rows = metrics_table(metrics)
    if rows and "metric" in rows[0]:
        width = max(len(r["metric"]) for r in rows) + 2
        return "\n".join([f"{'metric':<{width}}{'value':>10}", "-" * (width + 10)]
                         + [f"{r['metric']:<{width}}{cell(r['value'], '.4f'):>10}" for r in rows])
    lines = [f"{'region':<8}{'Dice':>10}{'HD95 (mm)':>12}", "-" * 30]
    lines += [f"{r['region']:<8}{cell(r['dice'], '.4f'):>10}{cell(r['hd95'], '.2f'):>12}" for r in metrics_table(metrics)]
    return "\n".join(lines)


def save_metrics_table(metrics: dict[str, float], path: str | Path, extra: dict[str, Any] | None = None) -> list[Path]:
    """Write ``PATH.json`` (metrics, table, and `extra` such as per-case scores) and ``PATH.csv`` (the table).

    `path` may end in .json or .csv (the other file gets the sibling name) or have no suffix.
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix.lower() in (".json", ".csv") else path
    json_path, csv_path = stem.with_suffix(".json"), stem.with_suffix(".csv")
    table = metrics_table(metrics)
    atomic_write_text(json_path, json.dumps({"metrics": metrics, "table": table, **(extra or {})}, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]) if table else ["region", "dice", "hd95"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    atomic_write_text(csv_path, buf.getvalue())
    return [json_path, csv_path]
