"""The hand-written card templates (prose, header options, placeholders) and which card lists which registered model."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import visionzoo as vz
from visionzoo.registry import model_family

from .common import CARDS_DIR, TEMPLATES_DIR, CardError, rel

PLACEHOLDERS = ("variants_table", "weights_table", "usage")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")
_HEADER_RE = re.compile(r"\A<!--(.*?)-->\s*\n?", re.S)


@dataclasses.dataclass
class Template:
    """One card's hand-written prose, the registry families it covers and its header options."""

    name: str
    path: Path
    families: list[str]
    compare: str | None
    body: str

    @property
    def card_file(self) -> str:
        """The rendered card's file name in model_cards/."""
        return f"{self.name}.md"


def _parse_header(text: str, path: Path) -> tuple[dict[str, str], str]:
    """The ``key: value`` lines of a leading ``<!-- ... -->`` comment, and the text after it."""
    match = _HEADER_RE.match(text)
    if not match:
        return {}, text
    header = {}
    for line in match.group(1).strip().splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key.strip().isidentifier():
            raise CardError(f"{rel(path)}: header line {line.strip()!r} is not 'key: value' "
                            "(keys: families, compare)")
        header[key.strip()] = value.strip()
    unknown = set(header) - {"families", "compare"}
    if unknown:
        raise CardError(f"{rel(path)}: unknown header key(s) {', '.join(sorted(unknown))}; known: families, compare")
    return header, text[match.end():]


def load_templates(templates_dir: Path = TEMPLATES_DIR) -> dict[str, Template]:
    """Every ``<card>.md`` template in `templates_dir`, checked: known placeholders, all required ones, no family twice."""
    if not templates_dir.is_dir():
        raise CardError(f"template folder {rel(templates_dir)} does not exist; write one template per card there")
    templates: dict[str, Template] = {}
    owner: dict[str, str] = {}
    for path in sorted(templates_dir.glob("*.md")):
        header, body = _parse_header(path.read_text(encoding="utf-8"), path)
        families = [f.strip() for f in header.get("families", path.stem).split(",") if f.strip()]
        found = PLACEHOLDER_RE.findall(body)
        unknown = sorted(set(found) - set(PLACEHOLDERS))
        if unknown:
            raise CardError(f"{rel(path)}: unknown placeholder(s) {', '.join('{{%s}}' % u for u in unknown)}; "
                            f"known: {', '.join('{{%s}}' % p for p in PLACEHOLDERS)}")
        missing = [p for p in PLACEHOLDERS if p not in found]
        if missing:
            raise CardError(f"{rel(path)}: add {', '.join('{{%s}}' % m for m in missing)} so that every model, "
                            "weight tag and command of its families appears in the card")
        for family in families:
            if family in owner:
                raise CardError(f"family {family!r} is claimed by two templates: {owner[family]} and {rel(path)}")
            owner[family] = rel(path)
        templates[path.stem] = Template(path.stem, path, families, header.get("compare") or None, body)
    return templates


def assign_models(templates: dict[str, Template], templates_dir: Path = TEMPLATES_DIR) -> dict[str, list[str]]:
    """Card name -> its registered models (sorted); a family that no template covers is an error naming the file to write."""
    by_family: dict[str, list[str]] = {}
    for name in vz.list_models():
        by_family.setdefault(model_family(name), []).append(name)
    card_of = {family: t.name for t in templates.values() for family in t.families}
    missing = {f: models for f, models in sorted(by_family.items()) if f not in card_of}
    if missing:
        lines = [f"  family {f!r} ({', '.join(models)}): write {rel(templates_dir / f'{f}.md')}"
                 for f, models in missing.items()]
        raise CardError("no model card template for:\n" + "\n".join(lines) + "\nStart from a copy of an existing "
                        f"template in {rel(templates_dir)} (it shows the placeholders), or list the family in an "
                        "existing template's leading comment, e.g. 'families: swin_unetr, unetr'.")
    cards: dict[str, list[str]] = {t.name: [] for t in templates.values()}
    for family, models in by_family.items():
        cards[card_of[family]].extend(models)
    return {card: sorted(models) for card, models in cards.items()}


def card_for_model(name: str, templates_dir: Path = TEMPLATES_DIR) -> Path:
    """The card file (under model_cards/) that lists registered model `name`."""
    family = model_family(name)
    for t in load_templates(templates_dir).values():
        if family in t.families:
            return CARDS_DIR / t.card_file
    raise CardError(f"no template covers family {family!r} of {name}; write {rel(templates_dir / f'{family}.md')}")
