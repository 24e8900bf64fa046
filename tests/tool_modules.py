"""Import a script of tools/ as a module, for tests that call its functions in-process."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_tool(name: str) -> ModuleType:
    """tools/NAME.py as module ``_visionzoo_tool_NAME`` (a private name: ``test`` would shadow the standard
    library's), registered in ``sys.modules`` while it runs, since dataclasses defined in it look themselves up there."""
    module_name = f"_visionzoo_tool_{name}"
    spec = importlib.util.spec_from_file_location(module_name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
