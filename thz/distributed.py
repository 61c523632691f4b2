"""Data-parallel training across processes started by torchrun (torch.distributed).

One process per GPU (backend nccl) or per group of CPU cores (backend gloo). Every rank draws the
same global identity-balanced batch of P x K images, augments it with the step's generator and
trains on its own P / world identities (thz.data.samplers.rank_rows), so each rank's share is
itself identity-balanced and the global batch is the one a single process would train on.

What keeps N processes equal to one process with the same global batch:
- gradients: one all-reduce (mean) of every trainable parameter's gradient after backward, over
  all the modules the optimiser holds (model, distillation projection, joint teacher). We do this
  instead of wrapping in DistributedDataParallel because the curriculum freezes and unfreezes
  modules between phases and the objective runs several networks, while DDP fixes its gradient
  hooks when it wraps one module and needs every forward to go through the wrapper;
- batch-level losses (SupCon or triplet, relational distillation, identity centres) see the
  embeddings of the whole global batch: `gather_rows` all-gathers them with gradient (the backward
  reduce-scatters each row's gradient to the rank that computed it), every rank computes the same
  global term, and the gradient mean above gives exactly the single-process gradient;
- BatchNorm uses global batch statistics (thz.models.global_batchnorm, on CPU and GPU), so running
  statistics stay the same on every rank and rank 0's checkpoint is the model;
- dropout and curriculum masks draw from a per-rank seed: the only part that differs from one process.

Rank 0 alone validates, logs (DVCLive, progress) and writes checkpoints; the others wait for it at
their next collective.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as collectives  # autograd-aware (torch's advice)

from thz.config import ConfigError
from thz.runtime import set_threads


@dataclass(frozen=True)
class Workers:
    """This process's place among the training processes, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def say(self, *args, **kwargs) -> None:
        """print, on rank 0 only."""
        if self.is_main:
            print(*args, **kwargs, flush=True)


def under_torchrun() -> bool:
    """True inside a worker process started by torchrun (or another launcher setting its variables)."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def choose_device(setting: str, local_rank: int = 0) -> torch.device:
    """train.device: "auto" takes this rank's GPU when CUDA is available, else the CPU."""
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("train.device is cuda but torch sees no CUDA device (use auto or cpu)")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def start(device_setting: str = "auto", threads: int = 0) -> Workers:
    """Join the process group when started by torchrun with more than one process (gloo on CPU,
    nccl on CUDA) and pick the device; a plain process gets a one-worker Workers. CPU threads:
    `threads` if > 0, else this machine's cores shared evenly by the processes on it."""
    if not under_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        device = choose_device(device_setting)
        _set_threads(threads, 1, device)
        return Workers(device=device)
    local_rank = int(os.environ["LOCAL_RANK"])
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    device = choose_device(device_setting, local_rank)
    if device.type == "cuda":
        if local_world > torch.cuda.device_count():
            raise ConfigError(
                f"{local_world} training processes on this node but {torch.cuda.device_count()} GPUs: one process "
                "per GPU (THZ_NPROC or torchrun --nproc-per-node)"
            )
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    workers = Workers(dist.get_rank(), dist.get_world_size(), local_rank, local_world, device)
    _set_threads(threads, local_world, device)
    return workers


def stop(workers: Workers) -> None:
    """Leave the process group after every rank has finished. Only on success: after an error on
    one rank the others wait in a collective, so a barrier would hang; the failing rank just exits
    and torchrun stops the rest."""
    if workers.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _set_threads(threads: int, processes_here: int, device: torch.device) -> None:
    """THZ_THREADS when set (thz.runtime.set_threads), else the cores shared by this node's processes."""
    if threads > 0:
        set_threads(threads)
    elif processes_here > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // processes_here))


def relaunch_under_torchrun(nproc: int) -> int:
    """Run this very command (`python -m MODULE ARGS`) again as `nproc` torchrun workers on this
    machine and return torchrun's exit code. `--standalone` picks a free port, so parallel
    experiments do not collide."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        raise ConfigError(f"THZ_NPROC is {nproc}: start the stage as `python -m stages.NAME` so it can be relaunched")
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = {"OMP_NUM_THREADS": str(threads), **os.environ}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    print(f"THZ_NPROC is {nproc}: " + " ".join([*command[1:], "-m", spec.name, *sys.argv[1:]]), flush=True)
    return subprocess.run([*command, "-m", spec.name, *sys.argv[1:]], env=env).returncode


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's rows concatenated in rank order, with gradient flowing back to the rank that
    computed each row; the tensor itself in a single process."""
    if not _active():
        return tensor
    return collectives.wait_tensor(collectives.all_gather_single(tensor.contiguous(), 0, dist.group.WORLD))


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks of a detached tensor (counts, logged values)."""
    if not _active():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out)
    return out


def mean_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Mean over ranks of a detached tensor (logged loss parts)."""
    return sum_over_ranks(tensor) / (dist.get_world_size() if _active() else 1)


def distributed_training(module: torch.nn.Module) -> bool:
    """True when `module` trains as one of several processes: its batch-dependent layers must then
    make the same collective calls on every rank."""
    return module.training and _active()


def average_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over ranks, in one all-reduce of the flattened gradients.
    A parameter that got no gradient on some rank (an expert no image of its share was routed to)
    counts as zero there; one that got none on any rank keeps none, so the optimiser skips it as
    it would in one process. Frozen parameters (requires_grad false on every rank) are left out."""
    if not _active():
        return
    trainable = [p for p in parameters if p.requires_grad]
    if not trainable:
        return
    device = trainable[0].device
    flat = torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float() for p in trainable]
        + [torch.tensor([float(p.grad is not None) for p in trainable], device=device)]
    )
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p, had_grad in zip(trainable, flat[-len(trainable) :].tolist(), strict=True):
        if had_grad > 0:
            p.grad = flat[offset : offset + p.numel()].view_as(p).to(p.dtype)
        else:
            p.grad = None
        offset += p.numel()


def share_from_main(obj):
    """Rank 0's value of `obj` on every rank (e.g. a checkpoint only rank 0 can read)."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_modules(modules) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not _active():
        return
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)
