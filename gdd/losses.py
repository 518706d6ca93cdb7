"""The matching losses of the distillation stage. Both compare a real batch and a synthetic
batch of the same labels, seen through the same augmentation draw by the same pool model.
The real side is computed without gradient; the pool model's parameters are frozen while the
generator is tuned, so gradient reaches the generator only."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def global_loss(real_logits: torch.Tensor, syn_logits: torch.Tensor) -> torch.Tensor:
    """Logit matching (DiM):
    L_global = 1/(B K) sum_i sum_k (log softmax(g(x_i))_k - log softmax(g(x~_i))_k)^2,
    where x_i and x~_i share a label. Logits B x K; returns a scalar."""
    return F.mse_loss(F.log_softmax(syn_logits, 1), F.log_softmax(real_logits, 1).detach())


LOCAL_REDUCTIONS = ("sum", "mean")


def local_loss(real_features: torch.Tensor, syn_features: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
    """Feature matching at a middle layer, in DiM's released form (``dist(.., 'l1')``, used by GDD):
    L_local = sum_{c,h,w} | mean_i f(x_i)_{chw} - mean_i f(x~_i)_{chw} |   (``reduction="sum"``);
    ``"mean"`` divides by C H W (a per-element mean: 10^3-10^4 times smaller for middle layers).
    Features B x C x H x W; returns a scalar."""
    diff = (real_features.detach().mean(0) - syn_features.mean(0)).abs()
    if reduction == "sum":
        return diff.sum()
    if reduction == "mean":
        return diff.mean()
    raise ValueError(f"unknown local-loss reduction {reduction!r}; valid: {', '.join(LOCAL_REDUCTIONS)}")
