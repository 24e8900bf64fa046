"""Configs by name, as OpenMMLab's ``mim`` resolves them: ``swin_unetr_brats_synthetic`` -> the packaged ``.py``.

The recipes live in the repository's ``configs/`` folder. A wheel carries them as ``visionzoo/_configs``
(copied there by ``setup.py``'s build step); a checkout or an editable install (``pip install -e .``) reads
the ``configs/`` folder beside the package. Either way `resolve_config` accepts

- a path to a ``.py`` file (absolute, or relative to the working directory): used as it is;
- a name relative to the configs folder, with or without ``.py``: ``classification/swin_tiny_in1k``;
- a bare name, searched in every subfolder except ``_base_``: ``swin_tiny_in1k``, ``swin_unetr_brats_synthetic``.

An unknown name is a `ConfigNotFoundError` (a ``FileNotFoundError``) naming the closest packaged configs.
``_base_`` inheritance works from either location, since the ``_base_`` paths are relative to the file.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path

__all__ = ["ConfigNotFoundError", "configs_root", "list_configs", "resolve_config"]

_PACKAGE = Path(__file__).resolve().parents[1]  # .../visionzoo


class ConfigNotFoundError(FileNotFoundError):
    """Neither a config file nor the name of a packaged config."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def configs_root() -> Path:
    """The folder of the packaged configs: ``visionzoo/_configs`` in a wheel, else the checkout's ``configs/``."""
    packaged = _PACKAGE / "_configs"
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / "configs"


def list_configs(root: Path | None = None) -> dict[str, Path]:
    """``{name relative to the root without .py: path}`` of every recipe (``_base_`` fragments left out)."""
    root = configs_root() if root is None else root
    if not root.is_dir():
        return {}
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "_base_" in rel.parts or any(part.startswith((".", "__")) for part in rel.parts):
            continue
        out[rel.with_suffix("").as_posix()] = path
    return out


def resolve_config(name_or_path: str | Path, root: Path | None = None) -> Path:
    """The config file `name_or_path` means (see the module docstring); raises `ConfigNotFoundError`."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    root = configs_root() if root is None else root
    key = text[:-3] if text.endswith(".py") else text
    key = key.replace("\\", "/")
    if key.startswith("configs/"):  # a README path run from another directory: configs/swin_unetr_brats.py
        key = key[len("configs/"):]
    configs = list_configs(root)
    if key in configs:
        return configs[key]
    stem = key.rsplit("/", 1)[-1]
    by_stem = [p for name, p in configs.items() if name.rsplit("/", 1)[-1] == stem]
    if "/" not in key and len(by_stem) == 1:
        return by_stem[0]
    if len(by_stem) > 1:
        names = ", ".join(n for n, p in configs.items() if p in by_stem)
        raise ConfigNotFoundError(f"config name {text!r} is ambiguous: {names}; write the folder too")
    candidates = list(configs) + sorted({n.rsplit("/", 1)[-1] for n in configs})
    close = list(dict.fromkeys(difflib.get_close_matches(key, candidates, n=5, cutoff=0.5)))
    hint = f"; closest: {', '.join(close)}" if close else ""
    looks_like_path = text.endswith(".py") or "/" in text or "\\" in text
    what = "config file" if looks_like_path else "config"
    raise ConfigNotFoundError(
        f"{what} {text!r} not found (neither a file nor one of the {len(configs)} packaged configs in {root}{hint}); "
        f"`visionzoo list --configs` lists them"
    )


def load_config(name_or_path: str | Path, cfg_options=None):
    """`resolve_config`, then ``visionzoo.engine.load_config`` (``_base_`` inheritance, strict ``--cfg-options``).

    A syntax error in the config is a user error naming the file and line.
    """
    from ._errors import UserError, import_engine

    engine_load_config = import_engine().load_config

    path = resolve_config(name_or_path)
    try:
        return engine_load_config(path, cfg_options)
    except SyntaxError as e:  # mmengine re-raises ast's error as "There are syntax errors in config file F: MSG (<unknown>, line N)"
        text = " ".join(str(e).split())
        found = re.search(r"(?:.*?: )?(.*?) \((?:<unknown>|[^,]*), line (\d+)\)$", text)
        if e.filename and e.lineno and e.filename not in ("<unknown>", "<string>"):
            where, detail = f"{e.filename}:{e.lineno}", e.msg
        elif found:
            where, detail = f"{path}:{found.group(2)}", found.group(1).rsplit(": ", 1)[-1]
        else:
            where, detail = str(path), text
        raise UserError(f"{where}: syntax error in the config: {detail}") from e
