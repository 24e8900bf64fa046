"""Loading configs and applying ``--cfg-options`` strictly: a key that the config lacks is an error, not a new key.

mmengine's ``merge_from_dict`` silently adds unknown keys, so a typo (``model.feture_size=24``) would
train the default model. `check_cfg_options` rejects such keys and names the closest existing ones; a
key written with a leading ``+`` (``+model.drop_path_rate=0.1``) deliberately adds a new key under an
existing dict.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mmengine.config import Config, DictAction

__all__ = ["load_config", "check_cfg_options", "config_keys", "UnknownConfigKeyError", "CfgOptionsAction"]


class CfgOptionsAction(DictAction):
    """mmengine's ``--cfg-options KEY=VALUE ...`` parser; an item without ``=`` is a usage error naming it."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001 (argparse's signature)
        bad = [v for v in (values or ()) if "=" not in v]
        if bad:
            parser.error(f"{option_string} takes KEY=VALUE items: {bad[0]!r} has no '=' (write {bad[0]}=VALUE)")
        super().__call__(parser, namespace, values, option_string)


class UnknownConfigKeyError(KeyError):
    """A ``--cfg-options`` key that does not exist in the config."""

    def __str__(self) -> str:  # KeyError quotes its message; show it as written
        return str(self.args[0]) if self.args else ""


def config_keys(cfg: Mapping | Config) -> list[str]:
    """Every dotted key path in `cfg`, containers included (``model``, ``model.feature_size``, ``a.0.b``)."""
    return sorted(path for path, _ in _walk(_as_mapping(cfg), ""))


def config_types(cfg: Mapping | Config) -> set[str]:
    """Every string ``type=`` that `cfg` names, at any depth (registry names of models, datasets, hooks, ...)."""
    return {value for path, value in _walk(_as_mapping(cfg), "")
            if path.rpartition(".")[2] == "type" and isinstance(value, str)}


def _as_mapping(cfg: Mapping | Config) -> Mapping:
    return cfg._cfg_dict if isinstance(cfg, Config) else cfg


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        items = ((str(k), v) for k, v in node.items())
    elif isinstance(node, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        return
    for key, value in items:
        path = f"{prefix}{key}"
        yield path, value
        yield from _walk(value, path + ".")


def _lookup(cfg: Mapping, path: str) -> tuple[bool, Any]:
    node: Any = cfg
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _closest(key: str, keys: list[str], n: int = 5) -> list[str]:
    parent = key.rpartition(".")[0]
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    close = difflib.get_close_matches(key, keys, n=n, cutoff=0.6)
    close += [k for k in difflib.get_close_matches(key, siblings, n=n, cutoff=0.3) if k not in close]
    leaf = key.rpartition(".")[2]
    close += [k for k in keys if k.rpartition(".")[2] == leaf and k not in close]
    return close[:n]


def check_cfg_options(cfg: Config, options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``--cfg-options`` against `cfg`; returns them ready for ``cfg.merge_from_dict`` (``+`` stripped).

    Raises `UnknownConfigKeyError` naming the key and its closest existing keys.
    """
    keys = config_keys(cfg)
    checked: dict[str, Any] = {}
    for raw_key, value in options.items():
        add = raw_key.startswith("+")
        key = raw_key[1:] if add else raw_key
        if not key or any(not part for part in key.split(".")):
            raise UnknownConfigKeyError(
                f"--cfg-options: malformed key {raw_key!r}; write dotted paths like model.feature_size=24."
            )
        exists, _ = _lookup(cfg._cfg_dict, key)
        if add:
            parent = key.rpartition(".")[0]
            found, node = _lookup(cfg._cfg_dict, parent) if parent else (True, cfg._cfg_dict)
            if not found or not isinstance(node, Mapping):
                raise UnknownConfigKeyError(
                    f"--cfg-options: cannot add {key!r}: its parent {parent!r} is not a dict in the config "
                    f"(closest keys: {', '.join(_closest(parent, keys)) or 'none'})."
                )
        elif not exists:
            close = _closest(key, keys)
            hint = f" Closest existing keys: {', '.join(close)}." if close else ""
            raise UnknownConfigKeyError(
                f"--cfg-options: unknown config key {key!r}.{hint} Fix the spelling, or write +{key}=... to add a new key "
                f"on purpose."
            )
        checked[key] = value
    return checked


def load_config(path: str | Path, cfg_options: Mapping[str, Any] | None = None) -> Config:
    """Read a Python config (``_base_`` inheritance) and apply validated `cfg_options`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"config file {str(path)!r} does not exist (configs live in configs/, e.g. configs/swin_unetr_brats.py)."
        )
    cfg = Config.fromfile(str(path))
    if cfg_options:
        cfg.merge_from_dict(check_cfg_options(cfg, cfg_options))
    return cfg
