"""Build step of the wheel: the recipes in ``configs/`` and the model cards ship inside the package.

Everything else is declared in pyproject.toml. ``configs/`` stays where the README's ``configs/...`` paths
expect it; the wheel gets a copy as ``visionzoo/_configs`` (and ``model_cards/*.md`` as
``visionzoo/_model_cards``), which `visionzoo.cli._configs.configs_root` finds first. An editable install
(``pip install -e .``) copies nothing: there the package sits beside ``configs/`` and reads it in place.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = (  # (source folder, destination inside the package, glob patterns)
    ("configs", "_configs", ("**/*.py", "**/*.md")),
    ("model_cards", "_model_cards", ("*.md",)),
)


class BuildPyWithData(build_py):
    """``build_py`` that also copies the configs and the model cards into ``build_lib/visionzoo/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, dest, patterns in DATA:
            src = ROOT / source
            for pattern in patterns:
                for path in sorted(src.glob(pattern)):
                    if "__pycache__" in path.parts or not path.is_file():
                        continue
                    target = Path(self.build_lib) / "visionzoo" / dest / path.relative_to(src)
                    self.mkpath(str(target.parent))
                    self.copy_file(str(path), str(target), preserve_mode=False)


setup(cmdclass={"build_py": BuildPyWithData})
