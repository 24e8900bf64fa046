"""Model cards: every registered model and weight tag has a row, committed cards match a fresh render, clear errors, --measure."""
from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.tool_modules import load_tool
import visionzoo as vz
from visionzoo.cli.benchmarking import count_gmacs, count_params

REPO = Path(__file__).resolve().parents[1]
CARDS = REPO / "model_cards"


@pytest.fixture(scope="module")
def cardgen():
    """The package tools/cardgen with its modules, imported the way tools/model_cards.py (loaded here) imports it."""
    tools_dir = str(REPO / "tools")
    on_path = tools_dir in sys.path
    wrapper = load_tool("model_cards")  # puts tools/ on sys.path and imports cardgen.cli
    package = importlib.import_module("cardgen")
    for module in ("cli", "common", "measure", "render", "tables", "templates", "text"):
        importlib.import_module(f"cardgen.{module}")
    assert wrapper.main is package.cli.main, "tools/model_cards.py must run cardgen.cli.main"
    yield package
    sys.modules.pop(wrapper.__name__, None)
    for name in [m for m in sys.modules if m == "cardgen" or m.startswith("cardgen.")]:
        sys.modules.pop(name)
    if not on_path and tools_dir in sys.path:
        sys.path.remove(tools_dir)


def _row(text: str, first_cell: str) -> str | None:
    match = re.search(rf"^\| {re.escape(first_cell)}( \(default\))? \|.*$", text, re.M)
    return match.group(0) if match else None


def _copy_templates(dst: Path, names: list[str] | None = None) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for path in (CARDS / "_templates").glob("*.md"):
        if names is None or path.stem in names:
            shutil.copy(path, dst / path.name)
    return dst


def test_every_registered_model_and_weight_tag_has_a_row_in_its_card(cardgen):
    cards: dict[Path, str] = {}
    for name in vz.list_models():
        card = cardgen.templates.card_for_model(name)
        text = cards.setdefault(card, card.read_text(encoding="utf-8"))
        assert _row(text, f"`{name}`"), f"{card.name} has no variants row for {name}: run tools/model_cards.py"
        for tag in vz.list_pretrained(name):
            if tag.partition(".")[0] == name:
                assert _row(text, f"`{tag}`"), f"{card.name} has no weights row for {tag}"
    assert {p.name for p in cards} >= {"vit.md", "swin.md", "swin_unetr.md"}
    # a card that covers several registry families: unetr lives in the Swin UNETR card
    assert cardgen.templates.card_for_model("unetr").name == "swin_unetr.md"


def test_committed_cards_match_a_fresh_render(cardgen, capsys):
    rc = cardgen.cli.main(["--check"])
    out = capsys.readouterr()
    assert rc == 0, f"model cards are stale (run .venv/bin/python tools/model_cards.py):\n{out.err}"
    assert "up to date" in out.out


def test_check_reports_changed_and_orphaned_cards(cardgen, tmp_path, capsys):
    out_dir = tmp_path / "cards"
    out_dir.mkdir()
    for card in ("vit.md", "swin.md", "swin_unetr.md"):
        shutil.copy(CARDS / card, out_dir / card)
    vit = out_dir / "vit.md"
    vit.write_text(vit.read_text(encoding="utf-8").replace("| `vit_tiny_patch16_224` |", "| `vit_tiny_old` |"))
    (out_dir / "retired.md").write_text(cardgen.render.GENERATED_MARK + " from a template that is gone -->\n# old\n")
    (out_dir / "README.md").write_text("# hand-written, not generated\n")

    assert cardgen.cli.main(["--check", "--out-dir", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert "vit.md is out of date" in err and "vit_tiny_old" in err
    assert "retired.md was generated but no template produces it" in err
    assert "swin.md" not in err and "README.md" not in err
    assert "vit_tiny_old" in vit.read_text(encoding="utf-8"), "--check must not write"


def test_family_without_template_is_an_error_naming_the_file_to_write(cardgen, tmp_path, capsys):
    templates = _copy_templates(tmp_path / "templates", ["vit", "swin"])
    out_dir = tmp_path / "cards"
    assert cardgen.cli.main(["--templates", str(templates), "--out-dir", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert "no model card template" in err
    assert "family 'swin_unetr' (swin_unetr, swin_unetr_brats)" in err and "family 'unetr' (unetr)" in err
    assert str(templates / "swin_unetr.md") in err and str(templates / "unetr.md") in err
    assert not out_dir.exists(), "nothing is rendered when a template is missing"


def test_template_placeholder_errors(cardgen, tmp_path, capsys):
    templates = _copy_templates(tmp_path / "templates")
    vit = templates / "vit.md"
    vit.write_text(vit.read_text(encoding="utf-8").replace("{{usage}}", "{{usage}} {{speed_table}}"))
    assert cardgen.cli.main(["--templates", str(templates), "--check"]) == 2
    assert "unknown placeholder(s) {{speed_table}}" in capsys.readouterr().err

    vit.write_text(vit.read_text(encoding="utf-8").replace("{{usage}} {{speed_table}}", ""))
    assert cardgen.cli.main(["--templates", str(templates), "--check"]) == 2
    assert "add {{usage}}" in capsys.readouterr().err


def test_meta_device_counts_equal_a_real_forward(cardgen):
    name = "vit_tiny_patch16_224"
    params, gmacs = cardgen.tables.static_counts(name)  # what the variants table counts with
    model = vz.create_model(name)
    assert params == pytest.approx(count_params(model), rel=1e-9)
    assert gmacs == pytest.approx(count_gmacs(model, (224, 224), 3), rel=1e-9)


def test_measure_one_tiny_model_writes_json_and_renders_its_card(cardgen, tmp_path, capsys):
    measurements = tmp_path / "measurements.json"
    # an older entry for another model, taken when vit_base had other params: kept, and marked stale
    older = dict(params_m=50.0, gmacs=16.35, input_size=[3, 224, 224], throughput=2.5, unit="img/s", batch_size=8,
                 measured_size=[224, 224], model_kwargs={}, threads=2, warmup=1, runs=3, torch="x", machine="m",
                 date="2026-01-01")
    measurements.write_text(json.dumps({"schema": 1, "models": {"vit_base_patch16_224": older}}))
    out_dir = tmp_path / "cards"
    rc = cardgen.cli.main(["--measure", "vit_tiny_patch16_224", "--measurements", str(measurements), "--out-dir",
                           str(out_dir), "--img-size", "32", "--batch-size", "2", "--warmup", "0", "--runs",
                           "1", "--threads", "1"])
    assert rc == 0, capsys.readouterr().err

    models = json.loads(measurements.read_text())["models"]
    assert set(models) == {"vit_base_patch16_224", "vit_tiny_patch16_224"}
    entry = models["vit_tiny_patch16_224"]
    assert entry["throughput"] > 0 and entry["unit"] == "img/s"
    assert (entry["batch_size"], entry["measured_size"], entry["threads"], entry["runs"]) == (2, [32, 32], 1, 1)
    assert entry["params_m"] == pytest.approx(5.717, abs=1e-3) and entry["gmacs"] == pytest.approx(1.167, abs=1e-3)
    assert entry["torch"] and entry["machine"] and entry["date"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "atomic write left a temp file"

    # only the card listing the measured model is re-rendered, from the given file
    assert [p.name for p in out_dir.iterdir()] == ["vit.md"]
    card = (out_dir / "vit.md").read_text(encoding="utf-8")
    assert re.search(r"img/s \(b2, 32²\) \|$", _row(card, "`vit_tiny_patch16_224`"))
    assert _row(card, "`vit_base_patch16_224`").endswith("2.50 img/s (b8, 224²) † |")
    assert "measured before the model changed" in card
    assert _row(card, "`vit_small_patch16_224`").endswith("| not measured |")
    assert str(measurements) in card.splitlines()[0]
