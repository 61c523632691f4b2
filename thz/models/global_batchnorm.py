"""BatchNorm over the global batch of all training processes, on any device.

N processes normalise exactly as one process with the whole batch would, on the CPU (gloo) and on
GPUs (nccl) alike. PyTorch's SyncBatchNorm runs on GPUs only, and under mixed precision a rank with
an empty share (an expert no image of its share was routed to) gathers its statistics in the
input's dtype while the others gather float32 (torch 2.14); this module always works in float32. Outside distributed
training, or in eval mode, it is plain BatchNorm (same parameters, buffers and state-dict keys,
so checkpoints load into the ordinary network).
"""

from __future__ import annotations

import torch
from torch import nn

from thz.distributed import distributed_training, gather_rows


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch statistics combined over ranks from one differentiable all-gather of each rank's
    per-channel mean and variance and its count; running statistics updated as
    BatchNorm does (momentum, unbiased variance), identically on every rank."""

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
        local = x.numel() // channels
        if local:  # per-rank mean and variance in one fused pass, combined over ranks
            var, mean = torch.var_mean(xf, dim=dims, correction=0)
        else:  # an empty share (an expert no image of this rank was routed to): zeros that stay in
            var = mean = xf.sum(dims)  # the graph, so this rank joins the backward collective too
        count = xf.new_full((1,), float(local))
        # every rank's (mean, variance, count), combined as in Chan et al.'s parallel variance: the
        # spread of the rank means is added explicitly, never E[x^2] - E[x]^2, which cancels in
        # float32 where |mean| >> std
        every = gather_rows(torch.cat([mean, var, count])[None])  # (world, 2C + 1)
        counts = every[:, -1:]
        total = counts.sum()
        n = total.clamp_min(1.0)
        mean = (every[:, :channels] * counts).sum(0) / n
        var = ((every[:, channels : 2 * channels] + (every[:, :channels] - mean) ** 2) * counts).sum(0) / n
        if self.track_running_stats and float(total.detach()) > 0:  # no rank had a row: nothing to learn
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1.0), momentum)
        scale = torch.rsqrt(var + self.eps)
        shift = xf.new_zeros(channels)
        if self.affine:
            scale, shift = scale * self.weight, self.bias
        shape = [1, channels] + [1] * (x.dim() - 2)
        # centre first: x * scale - mean * scale would cancel badly where |mean| >> std
        return torch.addcmul(shift.view(shape), xf - mean.view(shape), scale.view(shape)).to(x.dtype)


def convert_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm1d/2d of `module` (in place, keeping parameters and buffers) by
    GlobalBatchNorm."""
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
            convert_batchnorm(child)
    return module
