"""Differentiable Siamese augmentation (DSA, Zhao & Bilen 2021).

Two ways of drawing, both as in the DC/DSA and DiM code:

- ``sample``: DSA's evaluation mode: one family (color, crop, cutout, flip, scale, rotate)
  picked at random per call, its parameters drawn independently for every image.
- ``sample_chain``: DiM's ``DiffAug(strategy)``: every family of a chain applied in order
  (e.g. ``POOL_CHAIN`` = color then crop), parameters per image (``per_image=True``, DiM's
  ``batch=False``) or one set for the whole batch (DiM's ``batch=True``).

``sample`` then ``apply`` lets two batches (real and synthetic, when matched) see exactly the
same draw; gradients flow to the input. Images are expected normalised (mean/std).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gdd.data import to_device

FAMILIES = ("color", "crop", "cutout", "flip", "scale", "rotate")
POOL_CHAIN = ("color", "crop")               # DiM's pool-model training (`aug_rand`, per image)
MATCH_CHAIN = ("color", "crop", "cutout")    # DiM's matching draw (`aug`, one set per batch)


@dataclass
class AugDraw:
    """One augmentation draw: the family and its per-sample parameter tensors (length N)."""
    family: str
    values: dict[str, torch.Tensor]


def families_for(dataset: str) -> tuple[str, ...]:
    """Flip is off for handwritten digits (a mirrored digit is another glyph)."""
    return tuple(f for f in FAMILIES if not (f == "flip" and dataset == "mnist"))


def sample(n: int, families=FAMILIES, generator: torch.Generator | None = None,
           scale_ratio: float = 1.2, rotate_deg: float = 15.0, crop_ratio: float = 0.125,
           cutout_ratio: float = 0.5, side: int = 32) -> AugDraw:
    """Draw one family and per-sample parameters for a batch of ``n`` images."""
    g = generator
    family = families[int(torch.randint(len(families), (1,), generator=g))]
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    if family == "color":
        values = {"brightness": u(n) - 0.5, "saturation": u(n) * 2.0, "contrast": u(n) + 0.5}
    elif family == "crop":
        shift = int(side * crop_ratio + 0.5)
        values = {"shift": torch.randint(-shift, shift + 1, (n, 2), generator=g).float()}
    elif family == "cutout":  # a size x size hole, its centre anywhere (DSA's `rand_cutout`)
        size = int(side * cutout_ratio + 0.5)
        values = {"center": torch.randint(0, side + 1 - size % 2, (n, 2), generator=g),
                  "size": torch.full((n,), size)}
    elif family == "flip":
        values = {"flip": u(n) < 0.5}
    elif family == "scale":
        values = {"scale": u(n, 2) * (scale_ratio - 1 / scale_ratio) + 1 / scale_ratio}
    elif family == "rotate":
        values = {"angle": (u(n) - 0.5) * 2 * math.radians(rotate_deg)}
    else:
        raise ValueError(f"unknown augmentation family {family!r}; valid: {FAMILIES}")
    return AugDraw(family, values)


def sample_chain(n: int, chain: tuple[str, ...], generator: torch.Generator | None = None,
                 per_image: bool = True, side: int = 32) -> list[AugDraw]:
    """One draw of every family of ``chain``, in order (DiM's ``DiffAug(strategy)``); with
    ``per_image=False`` one parameter set is drawn and shared by all ``n`` images."""
    draws = [sample(n if per_image else 1, (family,), generator, side=side) for family in chain]
    return draws if per_image else [batchwise(d, n) for d in draws]


def batchwise(draw: AugDraw, n: int) -> AugDraw:
    """A one-image draw repeated for ``n`` images: DSA's batch mode (every image the same parameters)."""
    return AugDraw(draw.family, {k: v.repeat(n, *[1] * (v.dim() - 1)) for k, v in draw.values.items()})


def apply_chain(x: torch.Tensor, draws: list[AugDraw]) -> torch.Tensor:
    """``apply`` each draw in order."""
    for draw in draws:
        x = apply(x, draw)
    return x


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    # align_corners=False: the DSA/DiM code's (PyTorch's default) resampling grid
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def apply(x: torch.Tensor, draw: AugDraw) -> torch.Tensor:
    """Apply ``draw`` to images ``x`` (N x C x H x W); differentiable in ``x``."""
    n, c, h, w = x.shape
    values = dict(draw.values)
    if len(next(iter(values.values()))) != n:
        raise ValueError(f"augmentation draw is for {len(next(iter(values.values())))} images, got {n}")
    if draw.family == "crop":  # pixels -> affine units, where the draw lies (the CPU: no GPU sync)
        shift = values.pop("shift")
        values["t"] = shift * 2.0 / torch.tensor([w, h], device=shift.device)
    v = {k: to_device(t, x.device) for k, t in values.items()}
    if draw.family == "color":
        x = x + v["brightness"].view(n, 1, 1, 1).to(x)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * v["saturation"].view(n, 1, 1, 1).to(x) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * v["contrast"].view(n, 1, 1, 1).to(x) + mean
    if draw.family == "crop":  # integer translation with zero fill
        eye = torch.eye(2, device=x.device).expand(n, 2, 2)
        return _affine(x, torch.cat([eye, v["t"].unsqueeze(2)], dim=2))
    if draw.family == "cutout":
        ys = torch.arange(h, device=x.device).view(1, h, 1)
        xs = torch.arange(w, device=x.device).view(1, 1, w)
        cy, cx = v["center"][:, 0].view(n, 1, 1), v["center"][:, 1].view(n, 1, 1)
        size = v["size"].view(n, 1, 1)
        lo_y, lo_x = cy - size // 2, cx - size // 2
        hole = (ys >= lo_y) & (ys < lo_y + size) & (xs >= lo_x) & (xs < lo_x + size)
        return x * (~hole).unsqueeze(1).to(x)
    if draw.family == "flip":
        return torch.where(v["flip"].view(n, 1, 1, 1), x.flip(3), x)
    if draw.family == "scale":
        theta = torch.zeros(n, 2, 3, device=x.device)
        theta[:, 0, 0], theta[:, 1, 1] = v["scale"][:, 0], v["scale"][:, 1]
        return _affine(x, theta)
    if draw.family == "rotate":
        a = v["angle"]
        theta = torch.stack([torch.stack([a.cos(), -a.sin(), torch.zeros_like(a)], 1),
                             torch.stack([a.sin(), a.cos(), torch.zeros_like(a)], 1)], 1)
        return _affine(x, theta)
    raise ValueError(f"unknown augmentation family {draw.family!r}")


def augment(x: torch.Tensor, families=FAMILIES, generator: torch.Generator | None = None) -> torch.Tensor:
    """One fresh DSA draw applied to ``x``."""
    return apply(x, sample(len(x), families, generator, side=x.shape[-1]))
