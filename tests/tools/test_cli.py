"""The ``visionzoo`` command: list, info, configs resolved by name / path / unknown name, ``python -m visionzoo``,
one-line user errors (``--debug`` for the traceback), and the thin ``tools/*.py`` wrappers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from visionzoo.cli import main as cli_main
from visionzoo.cli._configs import ConfigNotFoundError, configs_root, list_configs, resolve_config
from visionzoo.cli._errors import UserError, one_line, run_main

from .conftest import REPO, TINY_CONFIG, run_tool, tool_env


def _vz(args: list[str], cwd: Path = REPO, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "visionzoo", *args], cwd=cwd, env=tool_env(), capture_output=True,
                          text=True, timeout=timeout)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err[-2000:]
    return lines[0]


# --- python -m visionzoo, list, info ------------------------------------------------------------------
def test_python_m_visionzoo_help_lists_every_command(tmp_path):
    proc = _vz(["--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("list", "info", "train", "test", "infer", "export", "benchmark", "download", "convert"):
        assert f"\n  {command} " in proc.stdout
    sub = _vz(["train", "--help"], cwd=tmp_path)
    assert sub.returncode == 0 and sub.stdout.startswith("usage: visionzoo train") and "--cfg-options" in sub.stdout


def test_list_models_pretrained_and_configs(capsys):
    assert cli_main(["list", "swin_unetr*"]) == 0
    assert capsys.readouterr().out.split() == ["swin_unetr", "swin_unetr_brats"]
    assert cli_main(["list", "swin_unetr_brats", "--pretrained"]) == 0
    tags = capsys.readouterr().out.split()
    assert "swin_unetr_brats.brats21_fold0" in tags and all(t.startswith("swin_unetr_brats.") for t in tags)
    assert cli_main(["list", "--configs"]) == 0
    configs = capsys.readouterr().out.split()
    assert "swin_unetr_brats_synthetic" in configs and "classification/swin_tiny_in1k" in configs
    assert not any("_base_" in c for c in configs)
    assert cli_main(["list", "no_such_*"]) == 2
    assert _one_error_line(capsys.readouterr().err) == "error: no models match 'no_such_*'"


def test_info_counts_on_meta_and_names_weights_licence_card(capsys):
    assert cli_main(["info", "swin_unetr_brats"]) == 0
    out = capsys.readouterr().out
    assert "params:       62.19 M" in out and "GMACs:" in out and "4x128x128x128" in out
    assert "swin_unetr_brats.brats21_fold0 (default)" in out and "licence apache-2.0" in out
    assert out.count("card:") == 1 and "swin_unetr.md" in out
    assert "swin_unetr_brats_synthetic" in out  # the configs that train it
    assert cli_main(["info", "swin_unetr_britz"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "Unknown model 'swin_unetr_britz'" in line and "swin_unetr_brats" in line


def test_unknown_command_and_debug_traceback(tmp_path):
    proc = _vz(["trian"], cwd=tmp_path)
    assert proc.returncode == 2 and "did you mean train" in _one_error_line(proc.stderr)
    proc = _vz(["info", "no_such_model", "--debug"], cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ValueError: Unknown model" in proc.stderr


# --- configs by name, path, unknown name --------------------------------------------------------------
def test_configs_resolve_by_name_subfolder_and_path(tmp_path, monkeypatch):
    root = configs_root()
    assert (root / "swin_unetr_brats_synthetic.py").is_file()
    assert resolve_config("swin_unetr_brats_synthetic") == root / "swin_unetr_brats_synthetic.py"
    assert resolve_config("swin_unetr_brats_synthetic.py") == root / "swin_unetr_brats_synthetic.py"
    assert resolve_config("swin_tiny_in1k") == root / "classification" / "swin_tiny_in1k.py"
    assert resolve_config("classification/swin_tiny_in1k") == root / "classification" / "swin_tiny_in1k.py"
    assert resolve_config(str(TINY_CONFIG)) == TINY_CONFIG  # a path is used as it is
    monkeypatch.chdir(tmp_path)  # a README path (configs/...) run from elsewhere still finds the packaged file
    assert resolve_config("configs/swin_unetr_brats.py") == root / "swin_unetr_brats.py"
    assert "default_runtime" not in " ".join(list_configs())  # _base_ fragments are not recipes


def test_unknown_config_is_one_line_with_close_matches():
    with pytest.raises(ConfigNotFoundError) as info:
        resolve_config("swin_unetr_brats_synthetik")
    message = str(info.value)
    assert "closest: swin_unetr_brats_synthetic" in message and "\n" not in message


def test_packaged_config_loads_with_its_base_files():
    from visionzoo.cli._configs import load_config

    cfg = load_config("swin_unetr_brats_synthetic", {"train_cfg.max_epochs": 1})
    assert cfg.model["name"] == "swin_unetr_brats" and cfg.model["feature_size"] == 12  # merged over _base_
    assert cfg.train_cfg.max_epochs == 1 and cfg.default_scope == "visionzoo"  # from _base_/default_runtime.py
    cls = load_config("swin_tiny_in1k")  # _base_/recipes -> datasets, schedules, runtime (nested _base_)
    assert cls.model is not None


def test_wheel_layout_configs_resolve_and_inherit_from_the_package(tmp_path, monkeypatch):
    """In a wheel, configs/ is visionzoo/_configs (setup.py's build step): found first, _base_ resolved there."""
    import shutil

    import visionzoo.cli._configs as configs

    package = tmp_path / "site-packages" / "visionzoo"
    shutil.copytree(REPO / "configs", package / "_configs")
    monkeypatch.setattr(configs, "_PACKAGE", package)
    monkeypatch.chdir(tmp_path)
    assert configs.configs_root() == package / "_configs"
    assert configs.resolve_config("detr_shapes_synthetic") == package / "_configs" / "detr_shapes_synthetic.py"
    cfg = configs.load_config("detr_shapes_synthetic")  # _base_ = ["detr_r50_coco.py"] -> _base_/datasets, schedules
    assert cfg.filename == str(package / "_configs" / "detr_shapes_synthetic.py")
    assert cfg.default_scope == "visionzoo" and cfg.optim_wrapper is not None


def test_train_errors_are_one_line_exit_2(tmp_path):
    proc = _vz(["train", "swin_unetr_brats_synthetik", "--work-dir", str(tmp_path / "wd")], cwd=tmp_path)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "'swin_unetr_brats_synthetik' not found" in line and "closest: swin_unetr_brats_synthetic" in line
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(\n")
    proc = _vz(["train", str(bad)], cwd=tmp_path)
    assert proc.returncode == 2 and f"{bad}:1: syntax error in the config" in _one_error_line(proc.stderr)
    unknown = tmp_path / "unknown_model.py"
    unknown.write_text(f"_base_ = [{str(TINY_CONFIG)!r}]\nmodel = dict(name='swin_unetr_britz')\n")
    proc = _vz(["train", str(unknown), "--work-dir", str(tmp_path / "wd2")], cwd=tmp_path)
    assert proc.returncode == 2 and "Unknown model 'swin_unetr_britz'" in _one_error_line(proc.stderr)
    assert not (tmp_path / "wd2" / "latest.pth").exists()


def test_export_takes_a_packaged_config_name(tmp_path, capsys):
    from visionzoo.cli.export import load_model_config

    model_args, cfg = load_model_config("swin_unetr_brats_synthetic")
    assert model_args["name"] == "swin_unetr_brats" and cfg is not None
    model_args, cfg = load_model_config("swin_unetr_brats")  # a registered model wins over the config of that name
    assert model_args == {"model_name": "swin_unetr_brats"} and cfg is None


# --- the shared error helper ----------------------------------------------------------------------------
def test_run_main_reports_user_errors_and_reraises_bugs(capsys, monkeypatch):
    def fail(error):
        def fn(argv):
            raise error
        return fn

    assert run_main(fail(UserError("bad input")), []) == 2
    assert capsys.readouterr().err == "error: bad input\n"
    assert run_main(fail(FileNotFoundError("no such file: x")), []) == 2
    assert run_main(fail(ValueError("first\n  detail\nlast")), [], user_errors=(ValueError,)) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "error: first. last"
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_main(fail(ZeroDivisionError("bug")), [])
    with pytest.raises(UserError):
        run_main(fail(UserError("shown with --debug")), ["--debug"])
    missing = ModuleNotFoundError("No module named 'monai'", name="monai")
    assert 'pip install "visionzoo[medical]"' in one_line(missing)
    assert run_main(fail(missing), []) == 2 and "visionzoo[medical]" in capsys.readouterr().err
    seen = []
    assert run_main(lambda argv: seen.append(argv) or 0, ["a", "--debug", "b"]) == 0 and seen == [["a", "b"]]


# --- the thin wrappers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("tool, module", [("train", "train"), ("test", "test"), ("infer", "infer"),
                                          ("export_onnx", "export"), ("benchmark", "benchmark"),
                                          ("download_weights", "download"), ("convert_checkpoint", "convert")])
def test_tools_are_thin_wrappers_over_the_cli(tool, module):
    text = (REPO / "tools" / f"{tool}.py").read_text()
    assert f"from visionzoo.cli.{module} import main" in text and len(text.splitlines()) <= 15


def test_wrapper_runs_from_the_repository_root():
    proc = run_tool(["tools/export_onnx.py", "no_such_model"], check=False)
    assert proc.returncode == 2 and "error: Unknown model 'no_such_model'" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_tool(["tools/make_synthetic_brats.py", "/tmp/visionzoo_never_written", "--cases", "0"], check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert not Path("/tmp/visionzoo_never_written").exists()


# --- the core install: no optional dependency imported, a missing one named with its extra -----------------
CORE_ONLY = r'''
import importlib.abc, importlib.machinery, os, sys

BLOCKED = set(os.environ["VZ_BLOCKED"].split(","))


class _Missing(importlib.abc.Loader):
    def create_module(self, spec):  # what importing a package that is not installed raises
        raise ModuleNotFoundError(f"No module named {spec.name!r}", name=spec.name)

    def exec_module(self, module):  # pragma: no cover - create_module always raises
        raise ModuleNotFoundError(module.__name__)


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, _Missing()) if name.split(".")[0] in BLOCKED else None


sys.meta_path.insert(0, _Blocker())
from visionzoo.cli import main

code = main(sys.argv[1:])
loaded = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in BLOCKED and sys.modules[m] is not None})
print(f"loaded optional: {loaded}")
sys.exit(code)
'''


EXTRA_MODULES = {
    "train": ["mmengine", "tensorboard", "sklearn", "cv2", "matplotlib"],
    "medical": ["monai", "nibabel", "scipy"],
    "detection": ["pycocotools", "albumentations", "albucore", "scipy"],
    "export": ["onnx", "onnxscript", "onnxruntime", "onnx_ir"],
}


def _run_without(tmp_path: Path, missing: list[str], argv: list[str]) -> subprocess.CompletedProcess:
    """``visionzoo ARGV`` in a process where the optional modules of the `missing` extras cannot be imported."""
    blocked = {m for extra in missing for m in EXTRA_MODULES[extra]}
    if "train" not in missing:
        blocked.discard("scipy")  # scikit-learn, in [train], requires scipy
    return subprocess.run([sys.executable, "-c", CORE_ONLY, *argv], cwd=tmp_path, capture_output=True, text=True,
                          env={**tool_env(), "VZ_BLOCKED": ",".join(sorted(blocked))}, timeout=240)


@pytest.mark.parametrize("argv, extra", [(["list", "vit_small*"], None), (["info", "vit_tiny_patch16_224"], None),
                                         (["train", "swin_unetr_brats_synthetic", "--work-dir", "wd"], "train"),
                                         (["export", "vit_tiny_patch16_224", "--output", "x.onnx"], "export")])
def test_core_install_runs_list_info_and_names_the_extra_for_the_rest(tmp_path, argv, extra):
    proc = _run_without(tmp_path, list(EXTRA_MODULES), argv)
    assert "loaded optional: []" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    if extra is None:
        assert proc.returncode == 0, proc.stderr[-2000:]
    else:
        line = _one_error_line(proc.stderr)
        assert proc.returncode == 2 and f'pip install "visionzoo[{extra}]"' in line, line
        assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("config, extra", [("swin_unetr_brats_synthetic", "medical"), ("detr_shapes_synthetic", "detection")])
def test_train_extra_alone_names_the_task_extra_a_config_needs(tmp_path, config, extra):
    proc = _run_without(tmp_path, ["medical", "detection", "export"], ["train", config, "--work-dir", "wd"])
    line = _one_error_line(proc.stderr)
    assert proc.returncode == 2 and f'needs {"monai" if extra == "medical" else "albumentations"}' in line, line
    assert f'pip install "visionzoo[{extra}]"' in line and "loaded optional: []" in proc.stdout, line
    assert list(tmp_path.iterdir()) == []  # refused before the work dir or synthetic data was written


def test_train_extra_alone_trains_and_tests_an_image_classifier(tmp_path):
    """Image classification needs only [train]: no MONAI, albumentations, pycocotools or ONNX is imported."""
    options = ["--cfg-options", "train_cfg.max_epochs=1", "train_cfg.val_interval=1"]
    proc = _run_without(tmp_path, ["medical", "detection", "export"],
                        ["train", "classification/digits_resnet18_cbam", "--work-dir", "wd", *options])
    assert proc.returncode == 0 and "loaded optional: []" in proc.stdout, proc.stderr[-3000:]
    assert (tmp_path / "wd" / "latest.pth").exists()


def test_one_opencv_wheel_is_declared_and_installed():
    """mmengine would bring opencv-python next to albumentations' opencv-python-headless; both write ``cv2/``."""
    import importlib.metadata
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [r for reqs in project["optional-dependencies"].values() for r in reqs] + project["dependencies"]
    names = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower() for r in requirements}
    assert "mmengine" not in names and "mmengine-lite" in names
    assert {n for n in names if n.startswith("opencv")} == {"opencv-python-headless"}
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert {n for n in installed if n.startswith("opencv")} == {"opencv-python-headless"}, installed
