"""tools/train.py end to end on the tiny config: outputs in the work dir, exact resume after SIGKILL, 2-process DDP."""
from __future__ import annotations

import json
import signal

import torch

from visionzoo.engine import load_checkpoint_file

from .conftest import TINY_CONFIG, load_tool, run_tool, trained_run_dir, write_config


def _log_text(work) -> str:
    return "\n".join(p.read_text() for p in work.glob("*/*.log"))


def test_train_writes_checkpoints_metrics_tensorboard_and_config(trained_run):
    work = trained_run
    pointer = (work / "last_checkpoint").read_text().strip()
    assert pointer.endswith("iter_8.pth") and (work / "iter_8.pth").is_file()
    assert (work / "latest.pth").resolve() == (work / "iter_8.pth").resolve()
    assert not list(work.glob(".*.tmp-*")), "no temporary checkpoint files may remain"
    assert len(list(work.glob("best_mean_dice_iter_*.pth"))) == 1
    ckpt = load_checkpoint_file(work / "iter_8.pth")
    assert ckpt["meta"]["iter"] == 8 and "resume_state" in ckpt and "optimizer" in ckpt
    assert (work / "tiny_swin_unetr_brats.py").is_file()  # the resolved config
    assert "data_root" in (work / "tiny_swin_unetr_brats.py").read_text()
    assert list(work.glob("*/vis_data/events.out.tfevents.*")), "TensorBoard event file"
    scalars = [json.loads(line) for p in work.glob("*/vis_data/scalars.json") for line in p.read_text().splitlines()]
    val = [s for s in scalars if "mean_dice" in s]
    assert len(val) == 2 and all(0 <= s["mean_dice"] <= 1 and s["mean_hd95"] >= 0 for s in val)
    assert {"dice_tc", "dice_wt", "dice_et", "hd95_tc", "hd95_wt", "hd95_et"} <= set(val[0])
    log = _log_text(work)
    assert "SYNTHETIC DATA" in log and str(work / "synthetic_brats") in log
    assert log.count("eta: ") >= 8, "a progress line with ETA at every logged iteration"


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, shared_root):
    cfg = write_config(tmp_path / "killed.py", [
        'custom_imports = dict(imports=["visionzoo.engine", "tests.tools.testing_hooks"], allow_failed_imports=False)',
        "custom_hooks = [dict(type='KillAtIterationHook', at_iter=3)]",
    ])
    work = tmp_path / "work"
    killed = run_tool(["tools/train.py", str(cfg), "--work-dir", str(work)], check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (work / "last_checkpoint").read_text().strip().endswith("iter_3.pth")  # 3 of epoch 1's 4 iterations
    assert not (work / "iter_8.pth").exists()

    resumed = run_tool(["tools/train.py", str(TINY_CONFIG), "--work-dir", str(work), "--resume"])
    out = resumed.stdout + resumed.stderr
    assert "resumed epoch: 0, iter: 3" in out and "skipping its first 3 batch(es)" in out
    reference_run = trained_run_dir(shared_root)  # the uninterrupted run (computed once, shared)
    ours, reference = load_checkpoint_file(work / "iter_8.pth"), load_checkpoint_file(reference_run / "iter_8.pth")
    for key, value in reference["state_dict"].items():
        assert torch.equal(ours["state_dict"][key], value), f"weights differ after resume: {key}"
    for pid, state in reference["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(ours["optimizer"]["state"][pid][name]), torch.as_tensor(value)), (pid, name)
    assert ours["param_schedulers"] == reference["param_schedulers"]


def test_distributed_ddp_two_cpu_processes_gloo(tmp_path):
    """torchrun with 2 CPU processes (gloo): trains one short epoch, and both ranks end with the same weights."""
    cfg = write_config(tmp_path / "ddp.py", [
        'custom_imports = dict(imports=["visionzoo.engine", "tests.tools.testing_hooks"], allow_failed_imports=False)',
        "custom_hooks = [dict(type='DumpWeightsHook')]",
        "train_cfg = dict(max_epochs=1)",
    ])
    work = tmp_path / "work"
    proc = run_tool(["-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=2",
                     "tools/train.py", str(cfg), "--work-dir", str(work), "--launcher", "pytorch"], timeout=300)
    log = _log_text(work) + proc.stdout + proc.stderr
    assert "rank 0 of 2" in log and "torch threads per process: 1" in log
    assert "Epoch(train) [1][2/2]" in log, "4 training cases shared by 2 ranks: 2 iterations each"
    w0, w1 = (torch.load(work / f"weights_rank{r}.pt", weights_only=True) for r in (0, 1))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    assert (work / "last_checkpoint").read_text().strip().endswith("iter_2.pth")


def test_unknown_cfg_option_is_an_error_naming_close_keys(capsys):
    train_tool = load_tool("train")
    code = train_tool.main([str(TINY_CONFIG), "--cfg-options", "model.feture_size=24"])
    err = capsys.readouterr().err
    assert code == 2
    assert "model.feture_size" in err and "model.feature_size" in err


def test_empty_data_root_is_an_error_pointing_to_the_generator(tmp_path, capsys):
    train_tool = load_tool("train")
    empty = tmp_path / "empty"
    empty.mkdir()
    code = train_tool.main([str(TINY_CONFIG), "--work-dir", str(tmp_path / "work"), "--cfg-options", f"data_root={empty}"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(empty) in err and "make_synthetic_brats.py" in err
