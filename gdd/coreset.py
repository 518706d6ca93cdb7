"""Coreset baselines: keep ``ipc`` real training images per class, chosen by

- ``random``: uniformly, without replacement (``data.class_balanced_subset``);
- ``herding`` (Welling, ICML 2009; as used for coresets in iCaRL, DC and DC-BENCH): greedily add
  the image whose addition brings the running mean of the chosen embeddings closest to the
  class mean mu_c:  i_k = argmin_{i not chosen} || mu_c - (sum_{j<k} e_{i_j} + e_i) / k ||;
- ``k_center`` (greedy farthest-point, Sener & Savarese 2018): start at the image nearest mu_c,
  then repeatedly add the image whose distance to its nearest chosen image is largest.

Embeddings are ``StagedNet.embed`` of a ConvNet-3 trained on the real training set
(``train_feature_net``). Ties go to the lowest index, so selection is deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gdd.data import class_balanced_subset, get_spec, normalize, to_device
from gdd.files import read_back
from gdd.models import StagedNet, make_model

METHODS = ("random", "herding", "k_center")


@dataclass
class FeatureConfig:
    """The feature network of herding and k-center (``train_feature_net``) and the pool the
    images are selected from. Neither coreset paper fixes this network's training; ours is a
    ConvNet-3 trained like the evaluation networks, without augmentation."""
    dataset: str
    epochs: int = 10
    batch: int = 256
    lr: float = 0.01
    width: int = 128
    train_size: int | None = None          # a seeded random subset of the training set (None: all of it)
    seed: int = 0

    def __post_init__(self):
        get_spec(self.dataset)
        for name in ("epochs", "batch", "width"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def train_feature_net(x: torch.Tensor, y: torch.Tensor, dataset: str, epochs: int, batch: int,
                      lr: float, seed: int, width: int = 128, model: str = "convnet3"
                      ) -> tuple[StagedNet, list[float]]:
    """Train the feature network for herding / k-center on the real training set: cross-entropy,
    SGD (momentum 0.9, weight decay 5e-4, constant ``lr``), shuffled mini-batches of ``batch``,
    no augmentation, on the device of ``x``. Weights and batch order are seeded by ``seed``.

    x: float N x C x 32 x 32 in [0, 1]; y: int64 N. Returns the network (eval mode) and the
    mean training loss of each epoch."""
    spec = get_spec(dataset)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = make_model(model, spec.channels, spec.num_classes, width=width)
    net = net.to(x.device).train()
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(seed)
    epoch_losses = []
    for _ in range(epochs):
        total = x.new_zeros(())
        for idx in torch.randperm(len(x), generator=g).split(batch):
            idx = to_device(idx, x.device)
            loss = F.cross_entropy(net(normalize(x[idx], dataset)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total = total + loss.detach() * len(idx)
        epoch_losses.append(total / len(x))
    return net.eval(), [r["loss"] for r in read_back([{"loss": t} for t in epoch_losses])]


@torch.no_grad()
def embed(model: StagedNet, x: torch.Tensor, dataset: str, batch: int = 512) -> torch.Tensor:
    """Embeddings (the classifier's input, float32 N x D, on the CPU) of images ``x`` (N x C x 32
    x 32 in [0, 1]), normalised and run through ``model`` in eval mode, ``batch`` at a time."""
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model.embed(normalize(xb.to(device), dataset)).float().cpu() for xb in x.split(batch)])


def herding(emb: torch.Tensor, k: int) -> torch.Tensor:
    """Positions (int64, selection order) of ``k`` rows of ``emb`` (n x D) chosen by herding."""
    emb = emb.double()
    mu, chosen_sum = emb.mean(0), torch.zeros_like(emb[0])
    free = torch.ones(len(emb), dtype=torch.bool)
    picks = []
    for step in range(1, k + 1):
        # || mu - (chosen_sum + e_i) / step ||, scaled by step: same argmin
        dist = (step * mu - chosen_sum - emb).square().sum(1)
        i = int(torch.where(free, dist, torch.inf).argmin())
        picks.append(i)
        free[i] = False
        chosen_sum += emb[i]
    return torch.tensor(picks, dtype=torch.long)


def k_center(emb: torch.Tensor, k: int) -> torch.Tensor:
    """Positions (int64, selection order) of ``k`` rows of ``emb`` (n x D) chosen by greedy
    k-center: first the row nearest the mean, then each time the row farthest from its
    nearest chosen row (Euclidean distance)."""
    emb = emb.double()
    i = int((emb - emb.mean(0)).square().sum(1).argmin())
    picks, nearest = [i], (emb - emb[i]).square().sum(1)
    for _ in range(k - 1):
        i = int(nearest.argmax())  # chosen rows have distance 0; argmax avoids them while any row is left
        picks.append(i)
        nearest = torch.minimum(nearest, (emb - emb[i]).square().sum(1))
    return torch.tensor(picks, dtype=torch.long)


def select(method: str, labels: torch.Tensor, ipc: int, num_classes: int,
           embeddings: torch.Tensor | None = None, seed: int = 0) -> torch.Tensor:
    """Indices into the training set (int64, ``ipc`` per class, grouped by class 0, 1, ...;
    within a class in selection order). ``embeddings`` (N x D, one row per training image) are
    needed by ``herding`` and ``k_center``; ``seed`` drives ``random``."""
    if method not in METHODS:
        raise ValueError(f"unknown coreset method {method!r}; valid: {', '.join(METHODS)}")
    if ipc <= 0:
        raise ValueError(f"images per class must be positive, got ipc={ipc}")
    labels = labels.cpu()
    if method == "random":
        return class_balanced_subset(labels, ipc, num_classes, torch.Generator().manual_seed(seed))
    if embeddings is None or len(embeddings) != len(labels):
        raise ValueError(f"{method} needs one embedding per training image ({len(labels)})")
    pick = herding if method == "herding" else k_center
    idx = []
    for c in range(num_classes):
        pool = (labels == c).nonzero().squeeze(1)
        if len(pool) < ipc:
            raise ValueError(f"class {c} has only {len(pool)} examples, fewer than ipc={ipc}")
        idx.append(pool[pick(embeddings[pool], ipc)])
    return torch.cat(idx)
