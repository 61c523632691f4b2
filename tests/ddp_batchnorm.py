"""GlobalBatchNorm on two torchrun processes against nn.BatchNorm2d on the whole batch, for
`torchrun -m tests.ddp_batchnorm OUT SHARE0`: rank 0 gets the first SHARE0 of 8 rows (0: an empty
share), rank 1 the rest; inputs have |mean| >> std, where E[x^2] - E[x]^2 would cancel. Rank 0
saves the largest differences to OUT."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist

from thz.models.global_batchnorm import GlobalBatchNorm


def main(out: str, share0: str) -> None:
    dist.init_process_group("gloo")
    rank, cut = dist.get_rank(), int(share0)
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4) * 0.05 + 40.0
    weights = torch.randn(8, 3, 4, 4)  # a loss that is not symmetric in the rows
    reference = torch.nn.BatchNorm2d(3).train()
    x_ref = x.clone().requires_grad_()
    y_ref = reference(x_ref)
    ((y_ref * weights).sum() / 8).backward()
    rows = slice(0, cut) if rank == 0 else slice(cut, 8)
    layer = GlobalBatchNorm(3).train()
    x_local = x[rows].clone().requires_grad_()
    y = layer(x_local)
    (y * weights[rows]).sum().backward()  # sums: the rank-sum of the gradients is the whole batch's
    grad_weight = layer.weight.grad.clone()
    dist.all_reduce(grad_weight)
    result = {
        "y": float((y - y_ref[rows]).abs().max()) if len(y) else 0.0,
        "x_grad": float((x_local.grad / 8 - x_ref.grad[rows]).abs().max()) if len(y) else 0.0,
        "weight_grad": float((grad_weight / 8 - reference.weight.grad).abs().max()),
        "running_mean": float((layer.running_mean - reference.running_mean).abs().max()),
        "running_var": float((layer.running_var - reference.running_var).abs().max()),
    }
    every = [None, None]
    dist.all_gather_object(every, result)
    if rank == 0:
        torch.save({k: max(r[k] for r in every) for k in result}, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
