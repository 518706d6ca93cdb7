"""Distribution Matching (DM; Zhao & Bilen, "Dataset Condensation with Distribution
Matching", WACV 2023), as in its released code (``main_DM.py`` of VICO-UoE/DatasetCondensation).

Learn ``ipc`` synthetic images per class S_c so that, under randomly initialised embedding
networks psi_theta, their mean embedding matches that of the real images T_c (DM, Eq. 4):

    min_S  E_{theta, omega} sum_c || mean_{x in T_c} psi_theta(A(x, omega))
                                   - mean_{s in S_c} psi_theta(A(s, omega)) ||^2

psi_theta is a freshly initialised ConvNet-3 at every iteration (never trained), read before
its classifier (``StagedNet.embed``: B x 2048 at width 128); A(., omega) is DSA with ONE
parameter draw omega per class, shared by every real and every synthetic image of that class
(DM calls ``DiffAugment`` on both batches with the same seed, which switches DSA to batch-wise
parameters). The images are updated with SGD (lr 1, momentum 0.5) on the sum over classes.

Units: DM optimises the *normalised* images ((x - mean) / std), and so do we: the optimisation
variable and ``state["images"]`` are in normalised units. What goes in (``init_images``) and
what comes out (the returned images) are pixel units in [0, 1]; the output is clamped to
[0, 1] at that boundary only, as the image-set format requires (DM keeps its tensor unclamped).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch

from gdd import augment
from gdd.data import class_balanced_subset, get_spec, normalize, to_device
from gdd.files import check_finite, read_back
from gdd.models import StagedNet, make_model


@dataclass
class DMConfig:
    """One DM run. Defaults are DM's released ``main_DM.py`` values (its paper's settings)."""
    dataset: str
    ipc: int = 50                    # images per class (main_DM.py default; the paper runs 1/10/50)
    iterations: int = 20000          # SGD steps on the images
    lr_img: float = 1.0              # SGD learning rate, normalised units
    momentum: float = 0.5
    batch_real: int = 256            # real images per class per step
    init: str = "real"               # "real": random real images of the class; "noise": N(0, 1), normalised units
    model: str = "convnet3"          # the embedding network, re-initialised every step
    width: int = 128
    families: tuple[str, ...] | None = None  # DSA families; None: augment.families_for(dataset) (no flip on MNIST)
    seed: int = 0
    checkpoint_every: int = 500      # steps between ``on_checkpoint`` calls

    def __post_init__(self):
        get_spec(self.dataset)
        if self.init not in ("real", "noise"):
            raise ValueError(f"unknown init {self.init!r}; valid: real, noise")
        for name in ("ipc", "iterations", "batch_real", "width", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.families is not None:
            self.families = tuple(self.families)
            unknown = [f for f in self.families if f not in augment.FAMILIES]
            if unknown:
                raise ValueError(f"unknown DSA families {unknown}; valid: {augment.FAMILIES}")

    def dsa_families(self) -> tuple[str, ...]:
        return augment.families_for(self.dataset) if self.families is None else self.families


def syn_labels(num_classes: int, ipc: int) -> torch.Tensor:
    """DM's label layout: [0]*ipc + [1]*ipc + ... (int64, length num_classes * ipc)."""
    return torch.arange(num_classes).repeat_interleave(ipc)


def initial_images(cfg: DMConfig, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The starting images, pixel units, num_classes * ipc x C x 32 x 32 in ``syn_labels`` order.
    ``real``: ``ipc`` distinct random training images per class (DM's ``get_images``); ``noise``:
    DM's ``torch.randn`` in normalised units, mapped to pixel units (not clamped). Seeded by cfg.seed."""
    spec = get_spec(cfg.dataset)
    g = torch.Generator().manual_seed(cfg.seed)
    if cfg.init == "real":
        idx = class_balanced_subset(y.cpu(), cfg.ipc, spec.num_classes, g)
        return x[to_device(idx, x.device)].clone()
    noise = torch.randn(spec.num_classes * cfg.ipc, spec.channels, 32, 32, generator=g)
    return to_pixels(noise, cfg.dataset).to(x.device)


def to_pixels(x: torch.Tensor, dataset: str) -> torch.Tensor:
    """Inverse of ``data.normalize``: normalised units -> pixel units (not clamped)."""
    spec = get_spec(dataset)
    std = to_device(torch.tensor(spec.std).view(1, -1, 1, 1), x.device)
    mean = to_device(torch.tensor(spec.mean).view(1, -1, 1, 1), x.device)
    return x * std + mean


def dm_step(images_syn: torch.Tensor, labels: torch.Tensor, real_by_class: list[torch.Tensor],
            net: StagedNet, families: tuple[str, ...], generator: torch.Generator, dataset: str) -> torch.Tensor:
    """DM's loss for one embedding network (DM, Eq. 4, one sample of theta and omega):

        L = sum_c || mean_i psi(A(normalize(r_ci), omega_c)) - mean_j psi(A(s_cj, omega_c)) ||^2

    images_syn: the optimisation variable (a leaf), N x C x 32 x 32, *normalised* units.
    labels: int64 N (read on the CPU: keep it there). real_by_class: one real batch per class
    c = 0, 1, ..., each B_c x C x 32 x 32 in pixel units [0, 1] (normalised here).
    net: the embedding network; frozen here (requires_grad False), so gradients reach only
    ``images_syn``. families: DSA families, () for none; one draw omega_c per class from
    ``generator``, batch-wise and applied to both batches. Returns the 0-dim loss (with graph);
    the caller calls backward. DM's log prints this divided by the number of classes."""
    net.requires_grad_(False)
    side = images_syn.shape[-1]
    labels = labels.cpu()
    loss = images_syn.new_zeros(())
    for c, real in enumerate(real_by_class):
        syn = images_syn[to_device((labels == c).nonzero().squeeze(1), images_syn.device)]
        real = normalize(real, dataset)
        if families:
            draw = augment.sample(1, families, generator, side=side)
            real = augment.apply(real, augment.batchwise(draw, len(real)))
            syn = augment.apply(syn, augment.batchwise(draw, len(syn)))
        with torch.no_grad():
            mean_real = net.embed(real).mean(0)
        loss = loss + (mean_real - net.embed(syn).mean(0)).square().sum()
    return loss


def class_pools(y: torch.Tensor, num_classes: int) -> list[torch.Tensor]:
    """Per class, the (CPU) indices of its training images."""
    y = y.cpu()
    return [(y == c).nonzero().squeeze(1) for c in range(num_classes)]


def real_batches(x: torch.Tensor, pools: list[torch.Tensor], n: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One batch per class: min(n, class size) distinct random images (DM's ``get_images``)."""
    return [x[to_device(p[torch.randperm(len(p), generator=generator)[:n]], x.device)] for p in pools]


def fresh_net(cfg: DMConfig, generator: torch.Generator) -> StagedNet:
    """A newly initialised embedding network, its weights seeded from ``generator`` (DM seeds
    each one from the clock); built on the CPU, so a seed gives the same weights on any device."""
    spec = get_spec(cfg.dataset)
    seed = int(torch.randint(2 ** 62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_model(cfg.model, spec.channels, spec.num_classes, width=cfg.width)


def distill_dm(cfg: DMConfig, x: torch.Tensor, y: torch.Tensor, init_images: torch.Tensor | None,
               steps: int | None = None, start_step: int = 0, state: dict | None = None,
               on_checkpoint: Callable[[dict, list[dict]], None] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Run DM steps ``start_step + 1 .. steps`` (``steps`` None: cfg.iterations) on the device of ``x``.

    x, y: the real training set, float N x C x 32 x 32 in [0, 1] and int64 N.
    init_images: pixel units, num_classes * ipc images in ``syn_labels`` order
    (``initial_images``); ignored when resuming. state: a dict given to ``on_checkpoint``;
    resuming from it (with ``start_step == state["step"]``) is bit-identical to a run that was
    never interrupted (same device and thread count). All randomness (network seeds, real
    batches, DSA draws) comes from one CPU generator seeded with cfg.seed, kept in the state.

    ``on_checkpoint(state, rows)`` is called every cfg.checkpoint_every steps and after the last
    step; rows = [{"step": s, "loss": float}] for the steps since the previous call (read back
    then, in one transfer). state = {"step", "images" (normalised units, CPU), "labels",
    "optimizer", "rng"}: copies, safe to keep. Raises ``files.NonFiniteLoss`` on NaN/inf.

    Returns (images float32 in [0, 1] clamped, CPU; labels int64; the final state)."""
    spec = get_spec(cfg.dataset)
    steps = cfg.iterations if steps is None else steps
    if state is None and start_step != 0:
        raise ValueError(f"starting at step {start_step} needs the state saved at that step")
    if state is not None and state["step"] != start_step:
        raise ValueError(f"the state is from step {state['step']}, not start_step={start_step}")
    if not start_step <= steps:
        raise ValueError(f"steps={steps} is before start_step={start_step}")
    device = x.device
    labels = syn_labels(spec.num_classes, cfg.ipc)
    g = torch.Generator().manual_seed(cfg.seed)
    if state is None:
        if init_images is None or len(init_images) != len(labels):
            raise ValueError(f"init_images must hold {spec.num_classes} x ipc={cfg.ipc} images in class order")
        images = normalize(init_images.to(device).float(), cfg.dataset)
    else:
        images = state["images"].to(device)
        g.set_state(state["rng"])
    images = images.detach().clone().requires_grad_(True)
    opt = torch.optim.SGD([images], lr=cfg.lr_img, momentum=cfg.momentum)
    if state is not None:
        opt.load_state_dict(state["optimizer"])
    pools, families = class_pools(y, spec.num_classes), cfg.dsa_families()

    def snapshot(step: int) -> dict:
        return {"step": step, "images": images.detach().cpu().clone(), "labels": labels.clone(),
                "optimizer": copy.deepcopy(opt.state_dict()), "rng": g.get_state()}

    pending = []
    for step in range(start_step, steps):
        net = fresh_net(cfg, g).to(device).train()
        real = real_batches(x, pools, cfg.batch_real, g)
        loss = dm_step(images, labels, real, net, families, g, cfg.dataset)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        pending.append({"step": step + 1, "loss": loss.detach()})
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == steps:
            rows = read_back(pending)
            pending.clear()
            for r in rows:
                check_finite(r["step"], loss=r["loss"])
            if on_checkpoint is not None:
                on_checkpoint(snapshot(step + 1), rows)
    final = snapshot(steps)
    return to_pixels(final["images"], cfg.dataset).clamp(0, 1), labels, final
