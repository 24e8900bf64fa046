"""Train a model from a config (mmengine Runner): checkpoints, logs, TensorBoard and the resolved config go to the work dir.

    visionzoo train swin_unetr_brats_synthetic --work-dir work_dirs/demo     # a packaged config, by name
    python tools/train.py configs/swin_unetr_brats_synthetic.py --work-dir work_dirs/demo
    python tools/train.py configs/swin_unetr_brats.py --cfg-options data_root=/data/BraTS2021_Training_Data
    python tools/train.py configs/swin_unetr_brats.py --resume                 # continue from work_dir/last_checkpoint
    torchrun --nproc_per_node=2 tools/train.py CONFIG --launcher pytorch       # DDP (gloo on CPU, nccl on GPU)

``--cfg-options key=value`` overrides config keys (values parse as Python literals); a key the config does
not have is an error naming the closest keys; write ``+key=value`` to add one on purpose.
"""
from __future__ import annotations

import argparse

from ._configs import load_config
from ._errors import UserError, import_engine, run_main
from ._options import DictAction


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="config file or packaged config name, e.g. configs/swin_unetr_brats.py or "
                                  "swin_unetr_brats_synthetic")
    p.add_argument("--work-dir", help="where logs and checkpoints go (default: work_dirs/<config name>)")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                   help="resume training (optimizer, schedule, RNG, data order) from CKPT, or without CKPT from the "
                        "work dir's last_checkpoint")
    p.add_argument("--amp", action="store_true", help="mixed precision: fp16 autocast + loss scaling on CUDA, bf16 autocast on CPU")
    p.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE",
                   help="override config keys, e.g. train_cfg.max_epochs=10 data_root=/data/brats")
    p.add_argument("--launcher", choices=["none", "pytorch", "slurm"], default="none",
                   help="pytorch: started by torchrun (DDP)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's randomness.seed)")
    p.add_argument("--deterministic", action="store_true", help="deterministic algorithms (bit-reproducible runs)")
    p.add_argument("--local-rank", "--local_rank", type=int, default=0, help=argparse.SUPPRESS)  # torch.distributed.launch
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _main(argv: list[str], prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    build_runner = import_engine().build_runner

    try:  # before training starts, a ValueError is a bad config (an unknown model, a bad argument)
        cfg = load_config(args.config, args.cfg_options)
        runner = build_runner(cfg, work_dir=args.work_dir, resume=args.resume or False, amp=args.amp,
                              launcher=args.launcher, seed=args.seed, deterministic=args.deterministic or None)
    except ValueError as e:
        raise UserError(str(e)) from e
    runner.train()
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    return run_main(lambda a: _main(a, prog), argv)
