"""Synthesis: a generator trained against the frozen teacher (model inversion).

Generator loss for a batch x = g(z, y) (y the intended classes, z ~ N(0, I)):

    L_G = w_bn * L_BN(x) + w_task * mean(phi(x) * CE(f_t(x), y)) - w_adv * mean(m(x) * KL(f_t(x) || f_s(x)))

- ``L_BN``: sum over the teacher's BN layers of ||mu_batch - mu_running||_2 + ||var_batch - var_running||_2
  (batch statistics of each BN layer's input, biased variance, read with forward hooks);
- the adversarial term: the generator maximises the teacher-student disagreement (temperature 1),
  counted only where both predict the same class (m(x) = 1[argmax f_s(x) = argmax f_t(x)],
  Fast-Datafree's mask; m = 1 without it);
- ``phi(x) = (1 - share_B(c_t(x))) * (1 - p_t(y | x))^gamma``: share_B(c) is the share of the
  replay buffer whose teacher-predicted class is c, c_t(x) the teacher-predicted class of x,
  p_t(y | x) the teacher's probability of the intended class (a focal-loss difficulty term).
  phi is a weight: no gradient flows through it. Plain adversarial KD uses phi = 1.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class InversionGenerator(nn.Module):
    """Fast-Datafree's generator, label-conditioned: [z (noise), one-hot y] -> linear to
    2w x 8 x 8 -> BN -> upsample -> conv(2w)-BN-LeakyReLU -> upsample -> conv(w)-BN-LeakyReLU
    -> conv(C) -> sigmoid. Output B x C x 32 x 32 in [0, 1]. (Fast-Datafree: noise 256, w = 64.)"""

    def __init__(self, channels: int, num_classes: int, width: int = 64, noise: int = 256):
        super().__init__()
        self.channels, self.num_classes, self.width, self.noise = channels, num_classes, width, noise
        self.fc = nn.Linear(noise + num_classes, 2 * width * 8 * 8)
        self.body = nn.Sequential(
            nn.BatchNorm2d(2 * width), nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(2 * width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Conv2d(width, channels, 3, 1, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z: B x noise, y: B int64 -> images B x C x 32 x 32 in [0, 1]."""
        h = self.fc(torch.cat([z, F.one_hot(y, self.num_classes).to(z)], 1))
        return self.body(h.view(len(z), 2 * self.width, 8, 8))


class BNStatsLoss:
    """Forward hooks on every BatchNorm2d of ``model`` that record, at each forward pass,
    ||mean_batch - running_mean||_2 + ||var_batch - running_var||_2 of the layer's input.
    ``loss()`` is their sum over layers (a differentiable scalar). Use as a context manager
    (removes the hooks) or call ``remove()``."""

    def __init__(self, model: nn.Module):
        self.terms: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if isinstance(m, nn.BatchNorm2d)]
        if not self.handles:
            raise ValueError(f"{type(model).__name__} has no BatchNorm2d layer: the BN-statistics loss "
                             f"needs a teacher with BN (e.g. resnet18_bn or norm='batch')")

    def _hook(self, module: nn.BatchNorm2d, inputs, output) -> None:
        x = inputs[0]
        mean = x.mean(dim=(0, 2, 3))
        var = x.permute(1, 0, 2, 3).flatten(1).var(1, unbiased=False)
        self.terms.append(torch.linalg.vector_norm(mean - module.running_mean)
                          + torch.linalg.vector_norm(var - module.running_var))

    def reset(self) -> None:
        self.terms = []

    def loss(self) -> torch.Tensor:
        return torch.stack(self.terms).sum()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def kl_per_sample(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(softmax(t/T) || softmax(s/T)) per sample (B), in nats, not scaled by T^2."""
    log_p = F.log_softmax(teacher_logits / temperature, 1)
    log_q = F.log_softmax(student_logits / temperature, 1)
    return (log_p.exp() * (log_p - log_q)).sum(1)


def adversarial_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor, mask: bool = True) -> torch.Tensor:
    """The generator's adversarial term per sample (B): KL(softmax(t) || softmax(s)), zeroed with
    ``mask`` where student and teacher predict different classes (Fast-Datafree): once a sample
    is across the decision boundary, pushing it further rewards the generator for nothing the
    student can learn from."""
    kl = kl_per_sample(teacher_logits, student_logits)
    if mask:
        kl = kl * (student_logits.argmax(1) == teacher_logits.argmax(1)).to(kl)
    return kl


def modulation(teacher_logits: torch.Tensor, labels: torch.Tensor, class_shares: torch.Tensor,
               gamma: float, diversity: bool = True, difficulty: bool = True) -> torch.Tensor:
    """phi(x) = (1 - class_shares[argmax t(x)]) * (1 - softmax(t(x))[y])^gamma, per sample (B).

    teacher_logits: B x K, labels: B intended classes, class_shares: K (share of the replay
    buffer per teacher-predicted class). Either factor can be switched off (then 1)."""
    probs = F.softmax(teacher_logits.detach().float(), 1)
    phi = torch.ones(len(labels), device=teacher_logits.device)
    if diversity:
        phi = phi * (1 - class_shares.to(probs.device)[probs.argmax(1)])
    if difficulty:
        phi = phi * (1 - probs.gather(1, labels.view(-1, 1)).squeeze(1)) ** gamma
    return phi
