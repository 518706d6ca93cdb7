"""The image-set format every stage writes and reads: a ``torch.save`` dict with ``images``
(float32 N x C x 32 x 32 in [0, 1]), ``labels`` (int64 N) and ``meta`` (plain data, e.g. the
dataset's name), validated on load so a bad set is refused in one line, never trained on."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gdd.data import DATASETS
from gdd.files import BadFile, atomic_save, load_pt, save_png


def save_image_set(images: torch.Tensor, labels: torch.Tensor, meta: dict, path: Path) -> None:
    """The image-set format every stage writes: float32 N x C x 32 x 32 in [0, 1], int64 N, and
    ``meta`` (plain data: str, numbers, lists, dicts, None) such as the dataset's name."""
    atomic_save({"images": images.detach().float().cpu().clamp(0, 1),
                 "labels": labels.detach().long().cpu(), "meta": meta}, path)


def save_preview(images: torch.Tensor, ipc: int, path: Path) -> None:
    """A grid PNG of an image set in class order (``ipc`` images per class): up to 10 images of
    every class, one row per class."""
    show = min(ipc, 10)
    keep = torch.cat([torch.arange(c * ipc, c * ipc + show) for c in range(len(images) // ipc)])
    save_png(images[keep], path, nrow=show)


def _image_set_problem(blob: Any, dataset: str | None) -> str | None:
    """What is wrong with the contents of an image-set file (None: nothing). ``dataset``: the
    run's dataset; it, or else the one the set's meta names, fixes channels and classes."""
    if not isinstance(blob, dict) or not {"images", "labels"} <= set(blob):
        return f"expected a dict with 'images' and 'labels', found {type(blob).__name__}" + \
            (f" with keys {sorted(map(str, blob))}" if isinstance(blob, dict) else "")
    x, y, meta = blob["images"], blob["labels"], blob.get("meta", {})
    if not torch.is_tensor(x) or not torch.is_tensor(y) or not isinstance(meta, dict):
        return "'images' and 'labels' must be tensors and 'meta' a dict"
    named = meta.get("dataset")
    if dataset is not None and named is not None and named != dataset:
        return f"it was made from {named}, not {dataset}"
    spec = DATASETS.get(dataset or named)
    if not x.is_floating_point():
        return f"images must be floats in [0, 1], found dtype {x.dtype}"
    if x.ndim != 4 or x.shape[1] not in (1, 3) or tuple(x.shape[2:]) != (32, 32):
        return f"images must be N x C x 32 x 32 with C = 1 or 3, found shape {tuple(x.shape)}"
    if len(x) == 0:
        return "it holds no images"
    if spec is not None and x.shape[1] != spec.channels:
        return f"images have {x.shape[1]} channels, {spec.name} has {spec.channels}"
    if tuple(y.shape) != (len(x),):
        return f"{len(x)} images but labels of shape {tuple(y.shape)}"
    if not torch.isfinite(x).all():
        return f"{(~torch.isfinite(x)).sum().item()} pixel values are NaN or infinite"
    if x.min() < 0 or x.max() > 1:
        return f"pixel values must lie in [0, 1], found {x.min().item():g} .. {x.max().item():g}"
    if y.dtype == torch.bool or y.is_complex():
        return f"labels must be integer class indices, found dtype {y.dtype}"
    if y.is_floating_point() and (y != y.round()).any():
        return f"labels must be integer class indices, found {y[y != y.round()][0].item():g}"
    top = spec.num_classes if spec is not None else None
    if y.min() < 0 or (top is not None and y.max() >= top):
        return (f"labels must be class indices 0..{top - 1 if top else 'C-1'}, "
                f"found {y.min().item():g} .. {y.max().item():g}")
    return None


def load_image_set(path: Path, dataset: str | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(images float32 N x C x 32 x 32 in [0, 1], labels int64 N, meta) of an image-set file,
    validated: N > 0, C 1 or 3, finite pixels in [0, 1], integer labels, one per image, in
    range of the classes of ``dataset`` (or of the dataset the set names). One line naming the
    file and what is wrong otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image set {path} does not exist; write one with `gdd sample`")
    blob = load_pt(path, "image set")
    problem = _image_set_problem(blob, dataset)
    if problem:
        raise BadFile(f"{path} is not a valid gdd image set: {problem}")
    return blob["images"].float(), blob["labels"].long(), blob.get("meta", {})


def is_image_set(path: Path) -> bool:
    try:
        load_image_set(path)
        return True
    except (BadFile, OSError):
        return False
