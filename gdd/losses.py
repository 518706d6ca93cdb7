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


def local_loss(real_features: torch.Tensor, syn_features: torch.Tensor) -> torch.Tensor:
    """Feature matching at a middle layer (DiM's released form, used by GDD):
    L_local = 1/(C H W) sum_{c,h,w} | mean_i f(x_i)_{chw} - mean_i f(x~_i)_{chw} |.
    Features B x C x H x W; returns a scalar."""
    return (real_features.detach().mean(0) - syn_features.mean(0)).abs().mean()
