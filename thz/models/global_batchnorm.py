"""BatchNorm over the global batch of all training processes, on any device.

PyTorch's SyncBatchNorm does this on GPUs only; this module is what CPU (gloo) training uses, so N
CPU processes normalise exactly as one process with the whole batch would. Outside distributed
training, or in eval mode, it is plain BatchNorm (same parameters, buffers and state-dict keys,
so checkpoints load into the ordinary network).
"""

from __future__ import annotations

import torch
from torch import nn

from thz.distributed import all_reduce_sum, distributed_training


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch statistics summed over ranks with one differentiable all-reduce of
    [sum, sum of squares, count] per channel; running statistics updated as BatchNorm does
    (momentum, unbiased variance), identically on every rank."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not distributed_training(self):
            return super().forward(x)
        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        xf = x.float()
        count = torch.full((1,), x.numel() / channels, dtype=torch.float32, device=x.device)
        stats = all_reduce_sum(torch.cat([xf.sum(dims), (xf * xf).sum(dims), count]))
        n = stats[-1]
        mean = stats[:channels] / n.clamp_min(1.0)
        var = (stats[channels : 2 * channels] / n.clamp_min(1.0) - mean * mean).clamp_min(0.0)
        if self.track_running_stats and float(n.detach()) > 0:  # no rank had a row: nothing to learn from
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1.0), momentum)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm1d/2d of `module` (in place, keeping parameters and buffers) by its
    global-batch version: torch.nn.SyncBatchNorm on CUDA, GlobalBatchNorm elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm1d | nn.BatchNorm2d):
            replacement = GlobalBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            replacement.load_state_dict(child.state_dict())
            if child.affine:
                replacement.weight, replacement.bias = child.weight, child.bias
            replacement.train(child.training)
            setattr(module, name, replacement)
        else:
            convert_batchnorm(child, device)
    return module
