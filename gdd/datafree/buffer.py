"""The replay buffer of synthetic samples and its priority sampling (SSD-KD, section 4 of PAPERS.md).

The buffer holds, per synthetic sample: the image (float16, C x 32 x 32 in [0, 1]), the
teacher's logits (cached: the teacher is frozen, so they never change), the intended class,
the priority delta and the importance weight of its last draw. A full buffer evicts its oldest
samples first (a ring), so it is refreshed as synthesis goes on; ``capacity=None`` is the
unbounded pool of plain adversarial data-free KD. It lives on the training device, so adding,
drawing and re-prioritising samples never makes the host wait for a GPU.

Priority sampling (prioritised experience replay, Schaul et al. 2016, as SSD-KD uses it):

    delta_i(x) = w_{i-1}(x) * KL(f_t(x) || f_s(x))            (w_{-1} = 1)
    P_i(x)     = (|delta_i(x)| + eps)^alpha / sum_{x' in B} (|delta_i(x')| + eps)^alpha
    w_i(x)     = (N * P_i(x))^(-beta)                        (N = samples in the buffer)

The KD loss of a drawn batch is ``mean(w * KL) / E_P[w]``: the weights are normalised by
their expectation under P, sum_x P(x) w(x), so that on average they are 1 and the student's
step size is that of uniform replay at the same learning rate (at beta = 1 the raw weights
already have expectation 1: the loss is then an unbiased estimate of the uniform one). PER
normalises by the largest weight in the buffer instead, for stability in Q-learning; with
priorities as skewed as a buffer's KL values that shrinks the KD loss, and with it the
student's effective learning rate, more and more as the buffer fills (``max_norm_scale``:
E_P[w] / max w, what PER's normalisation multiplies the loss by; in a 200-step Fashion-MNIST
test run it fell from 0.9 to 0.15, mean 0.41).
"""
from __future__ import annotations

import torch


def sampling_probabilities(delta: torch.Tensor, alpha: float, eps: float) -> torch.Tensor:
    """P = (|delta| + eps)^alpha / sum (|delta| + eps)^alpha, for priorities ``delta`` (N)."""
    p = (delta.abs().double() + eps) ** alpha
    return (p / p.sum()).float()


def importance_weights(probs: torch.Tensor, beta: float, n: int | None = None) -> torch.Tensor:
    """w = (N * P)^(-beta) for sampling probabilities ``probs`` (N); 1 everywhere if P is uniform."""
    n = len(probs) if n is None else n
    return (n * probs.double()).pow(-beta).float()


def anneal(start: float, end: float, step: int, total: int) -> float:
    """Linear schedule from ``start`` (step 0) to ``end`` (step ``total``), constant after."""
    if total <= 0:
        return end
    return start + (end - start) * min(1.0, step / total)


class ReplayBuffer:
    """Fixed-capacity FIFO store of synthetic samples with priorities (see module docstring)."""

    def __init__(self, capacity: int | None, shape: tuple[int, ...], num_classes: int,
                 device: str | torch.device = "cpu"):
        if capacity is not None and capacity <= 0:
            raise ValueError(f"buffer capacity must be positive (or None for unbounded), got {capacity}")
        self.capacity, self.shape, self.num_classes = capacity, tuple(shape), num_classes
        self.device = torch.device(device)
        empty = lambda *size, dtype=torch.float32: torch.empty(*size, dtype=dtype, device=self.device)  # noqa: E731
        self.images = empty(0, *shape, dtype=torch.float16)
        self.teacher_logits = empty(0, num_classes)
        self.labels = empty(0, dtype=torch.long)             # intended class of the generator
        self.delta = empty(0)                                # priority
        self.weight = empty(0)                               # importance weight of the last draw (w_{i-1})
        self.added = 0                                       # samples ever added
        self.max_norm_scale = torch.ones((), device=self.device)  # of the last prioritised draw

    def __len__(self) -> int:
        return len(self.images)

    def add(self, images: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            delta: torch.Tensor) -> None:
        """Append a batch (images B x C x H x W in [0, 1], logits B x K, labels B, priorities B);
        evict the oldest samples beyond ``capacity``."""
        b, dev = len(images), self.device
        self.images = torch.cat([self.images, images.detach().to(dev, torch.float16)])
        self.teacher_logits = torch.cat([self.teacher_logits, teacher_logits.detach().to(dev, torch.float32)])
        self.labels = torch.cat([self.labels, labels.detach().to(dev, torch.long)])
        self.delta = torch.cat([self.delta, delta.detach().to(dev, torch.float32)])
        self.weight = torch.cat([self.weight, torch.ones(b, device=dev)])
        self.added += b
        if self.capacity is not None and len(self) > self.capacity:
            keep = slice(len(self) - self.capacity, None)  # FIFO: the newest ``capacity`` samples
            for name in ("images", "teacher_logits", "labels", "delta", "weight"):
                setattr(self, name, getattr(self, name)[keep].clone())

    def class_shares(self) -> torch.Tensor:
        """Share (K, sums to 1) of buffer samples per teacher-predicted class; zeros if empty."""
        counts = torch.zeros(self.num_classes, device=self.device)
        if len(self) == 0:
            return counts
        # a sum of ones, not bincount: bincount on a GPU reads its input's maximum back to the host
        counts.index_add_(0, self.teacher_logits.argmax(1), torch.ones(len(self), device=self.device))
        return counts / len(self)

    def probabilities(self, alpha: float, eps: float) -> torch.Tensor:
        return sampling_probabilities(self.delta, alpha, eps)

    def sample(self, batch: int, generator: torch.Generator, prioritized: bool, alpha: float = 0.6,
               beta: float = 0.4, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices B, loss weights B), on the buffer's device, drawn with ``generator`` (on that
        device too). Uniform: weights 1. Prioritised: indices drawn with replacement from P,
        weights (N P)^-beta / E_P[(N P)^-beta]; the raw weights are remembered as w_{i-1} for
        the next priority update, and ``max_norm_scale`` (E_P[w] / max w, a 0-dim tensor) says
        what PER's normalisation by the largest weight would have multiplied them by."""
        n = len(self)
        if n == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        if not prioritized:
            return (torch.randint(n, (batch,), generator=generator, device=self.device),
                    torch.ones(batch, device=self.device))
        probs = self.probabilities(alpha, eps)
        idx = torch.multinomial(probs, batch, replacement=True, generator=generator)
        w = importance_weights(probs, beta)
        self.weight[idx] = w[idx]
        expected = (probs * w).sum()
        self.max_norm_scale = expected / w.max()
        return idx, w[idx] / expected

    def update_priorities(self, idx: torch.Tensor | slice, kl: torch.Tensor) -> None:
        """delta = w_{i-1} * KL(teacher || student) for the samples ``idx`` (KL per sample)."""
        self.delta[idx] = self.weight[idx] * kl.detach().to(self.device, torch.float32)

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("capacity", "shape", "num_classes", "images", "teacher_logits",
                                               "labels", "delta", "weight", "added")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v.to(self.device) if torch.is_tensor(v) else v)
