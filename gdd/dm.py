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
variable and the checkpoint's images are in normalised units. The initial images and the
image set written at the end are pixel units; the output is clamped to [0, 1] at that boundary
only, as the image-set format requires (DM keeps its tensor unclamped). Runs follow the
run-folder protocol (``gdd.runfolder``: lock, resume, refuse another config).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gdd import augment
from gdd.data import class_balanced_subset, get_spec, load, normalize, to_device
from gdd.imageset import save_image_set, save_preview
from gdd.models import StagedNet, make_model
from gdd.runfolder import open_run


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
    width: int | None = 128          # None: the model's own default width
    families: tuple[str, ...] | None = None  # DSA families; None: augment.families_for(dataset) (no flip on MNIST)
    seed: int = 0
    checkpoint_every: int = 500      # steps between checkpoints

    def __post_init__(self):
        get_spec(self.dataset)
        if self.init not in ("real", "noise"):
            raise ValueError(f"unknown init {self.init!r}; valid: real, noise")
        if self.width is not None and self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
        for name in ("ipc", "iterations", "batch_real", "checkpoint_every"):
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
        return make_model(cfg.model, spec.channels, spec.num_classes, **({} if cfg.width is None else {"width": cfg.width}))


def train(cfg: DMConfig, out: Path, real: tuple[torch.Tensor, torch.Tensor] | None = None,
          device: str | torch.device = "cpu", stop_after: int | None = None, progress: bool = True,
          redo_before: float | None = None) -> dict:
    """Run (or resume, or reuse) one DM run in folder ``out`` (``gdd.runfolder``): writes
    ``checkpoint.pt`` every ``cfg.checkpoint_every`` steps, ``losses.csv`` and, when finished,
    ``images.pt`` (an image set: ``ipc`` images per class in [0, 1], clamped there only) with a
    preview ``images.png``, and ``summary.json``. ``real`` (x N x C x 32 x 32 in [0, 1], y N)
    replaces the training set (tests). All randomness (initial images, network seeds, real
    batches, DSA draws) comes from CPU generators seeded with cfg.seed; a resumed run is
    bit-identical to an uninterrupted one (same device and threads). Returns the summary."""
    device = torch.device(device)
    with open_run(out, cfg, device, [], redo_before, stop_after, progress) as run:
        if run.summary is not None:
            return run.summary
        return _train(cfg, run, real, device)


def _train(cfg: DMConfig, run, real, device: torch.device) -> dict:
    spec = get_spec(cfg.dataset)
    x, y = real if real is not None else load(cfg.dataset, train=True)
    x, y = x.to(device), y.to(device)
    labels = syn_labels(spec.num_classes, cfg.ipc)
    g = torch.Generator().manual_seed(cfg.seed)
    run.track(dm=g)
    ckpt = run.resume()
    images = ckpt["images"].to(device) if ckpt else normalize(initial_images(cfg, x, y).float(), cfg.dataset)
    images = images.detach().clone().requires_grad_(True)
    opt = torch.optim.SGD([images], lr=cfg.lr_img, momentum=cfg.momentum)
    if ckpt:
        opt.load_state_dict(ckpt["optimizer"])
        run.restore_rng(ckpt)
    pools, families = class_pools(y, spec.num_classes), cfg.dsa_families()

    def state():
        return {"images": images.detach().cpu().clone(), "optimizer": opt.state_dict()}

    for step in run.steps(cfg.iterations, f"dm ipc{cfg.ipc}"):
        net = fresh_net(cfg, g).to(device).train()
        loss = dm_step(images, labels, real_batches(x, pools, cfg.batch_real, g), net, families, g, cfg.dataset)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.log(step + 1, {"step": step + 1, "loss": loss.detach()}, loss=loss.detach())
        if run.due(step + 1, cfg.checkpoint_every, cfg.iterations):
            run.checkpoint(step + 1, **state())
        if run.stopping(step + 1, cfg.iterations):
            return run.stop(step + 1, **state())

    pixels = to_pixels(images.detach().cpu(), cfg.dataset).clamp(0, 1)
    save_image_set(pixels, labels, {"method": "dm", "dataset": cfg.dataset, "ipc": cfg.ipc, "seed": cfg.seed},
                   run.out / "images.pt")
    save_preview(pixels, cfg.ipc, run.out / "images.png")
    return run.finish({"steps": cfg.iterations, "final": run.rows[-1] if run.rows else {}})
