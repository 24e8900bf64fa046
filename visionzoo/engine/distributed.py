"""Process-group setup and CPU threads for mmengine runs, including CPU-only machines.

mmengine 0.10.7's ``pytorch`` and ``slurm`` launchers call ``torch.cuda.set_device`` and so fail without
an NVIDIA driver. `init_distributed` therefore starts the group itself: gloo on CPU (torchrun's
``env://`` rendezvous), mmengine's launcher (nccl) on GPU; mmengine then finds the group ready. On CPU,
processes that share cores must also share the threads: two processes with 2 threads each on 2 cores
measured 10-20x slower than with 1 each, so `configure_threads` gives each process
``available cores // processes on this node`` unless told otherwise.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from mmengine.dist import get_dist_info, init_dist

__all__ = ["init_distributed", "configure_threads", "available_cpus", "local_world_size", "SetupError"]


class SetupError(RuntimeError):
    """The requested launch cannot work on this machine (e.g. a CUDA-only option without CUDA)."""

_TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, which containers and taskset restrict)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def local_world_size() -> int:
    """Processes of this job on this machine (torchrun's LOCAL_WORLD_SIZE; 1 outside a launcher)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("SLURM_NTASKS_PER_NODE", "1")))


def init_distributed(launcher: str, backend: str | None = None, timeout_s: int | None = None) -> tuple[int, int]:
    """Start the process group for `launcher` (``none``, ``pytorch``, ``slurm``); returns (rank, world size).

    CPU: gloo through torchrun's environment (``--launcher pytorch`` only). GPU: mmengine's launcher
    with `backend` (default nccl), which also pins each process to its LOCAL_RANK device.
    """
    if launcher == "none":
        return 0, 1
    if launcher not in ("pytorch", "slurm", "mpi"):
        raise ValueError(f"unknown launcher {launcher!r}; use none, pytorch (torchrun) or slurm.")
    if not dist.is_initialized():
        kwargs = {} if timeout_s is None else {"timeout": timeout_s}
        if torch.cuda.is_available():
            init_dist(launcher, backend=backend or "nccl", **kwargs)
        elif launcher == "pytorch":
            missing = [k for k in _TORCHRUN_ENV if k not in os.environ]
            if missing:
                raise SetupError(
                    f"--launcher pytorch expects torchrun's environment ({', '.join(missing)} missing): start with "
                    f"torchrun --nproc_per_node=N tools/train.py CONFIG --launcher pytorch."
                )
            timeout = datetime.timedelta(seconds=timeout_s) if timeout_s is not None else None
            dist.init_process_group("gloo", init_method="env://", **({"timeout": timeout} if timeout else {}))
        else:
            raise SetupError(
                f"--launcher {launcher} needs CUDA (mmengine's {launcher} launcher pins a GPU per process); on a "
                f"CPU-only machine start processes with torchrun and --launcher pytorch (gloo)."
            )
    return get_dist_info()


def configure_threads(requested: int | None = None, processes_per_node: int | None = None) -> tuple[int, str]:
    """Set torch's intra-op threads for this process; returns (threads, why).

    Priority: `requested` (config ``env_cfg.torch_threads``), then ``OMP_NUM_THREADS`` (torchrun sets 1 when
    unset), then available cores // processes on this node.
    """
    if requested:
        n, why = int(requested), "env_cfg.torch_threads"
    elif os.environ.get("OMP_NUM_THREADS", "").strip().isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        n, why = int(os.environ["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    else:
        procs = processes_per_node or local_world_size()
        n, why = max(1, available_cpus() // max(1, procs)), f"{available_cpus()} cores / {procs} process(es)"
    torch.set_num_threads(n)
    return n, why
