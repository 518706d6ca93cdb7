"""Atomic writes, checkpoints that resume only under the same config, image-set files and PNG grids."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename over ``path``."""
    _atomic(path, lambda f: torch.save(obj, f))


def atomic_write_json(obj: Any, path: Path) -> None:
    _atomic(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def atomic_write_text(text: str, path: Path) -> None:
    _atomic(path, lambda f: f.write(text.encode()))


def atomic_write_bytes(blob: bytes, path: Path) -> None:
    _atomic(path, lambda f: f.write(blob))


class BadFile(ValueError):
    """A file given to gdd that is not what it should be; the message names it and the fix."""


def load_pt(path: Path, what: str) -> Any:
    """The contents of a ``torch.save`` file written by gdd (``what`` names its kind in errors:
    "image set", "generator", "checkpoint", ...). Loaded with ``weights_only=True``: tensors and
    plain data (dict, list, tuple, str, numbers, None) only, so a crafted file cannot run code
    when loaded; anything else is refused with one line that names the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} does not exist")
    if path.is_dir():
        raise BadFile(f"{what} {path} is a folder, not a file")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # unpickling refused, truncated, not a torch file at all
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            reason = "it holds Python objects other than tensors and plain data, which gdd never writes " \
                     "(refused without running them)"
        else:
            reason = f"it is not a readable torch file ({first[:120]})"
        raise BadFile(f"{path} is not a gdd {what}: {reason}") from None


class ConfigMismatch(RuntimeError):
    """A run folder holds a checkpoint made under another config."""


def config_dict(config) -> dict:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def _json_form(d: dict) -> dict:
    """The config as JSON would store it (tuples become lists), so saved and live compare equal."""
    return json.loads(json.dumps(d, default=str))


def check_same_config(saved: dict, config, where: Path) -> None:
    saved, new = _json_form(saved), _json_form(config_dict(config))
    differ = sorted(k for k in set(saved) | set(new) if saved.get(k) != new.get(k))
    if differ:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in differ)
        raise ConfigMismatch(
            f"{where} holds a run with a different config ({detail}). "
            f"Use another --out folder, or delete it to start over.")


def read_back(records: list[dict]) -> list[dict]:
    """``records`` with every tensor value (0-dim, on any device) replaced by its Python number,
    all read back in one transfer: on a GPU each read-back makes the host wait for the device,
    so training loops keep their losses as tensors and read them back at checkpoints."""
    tensors = [v for r in records for v in r.values() if torch.is_tensor(v)]
    values = iter(torch.stack(tensors).tolist() if tensors else [])
    return [{k: next(values) if torch.is_tensor(v) else v for k, v in r.items()} for r in records]


class NonFiniteLoss(FloatingPointError):
    pass


class IncompatibleCheckpoint(RuntimeError):
    pass


def check_finite(step: int, **losses: float) -> None:
    """Stop a run on NaN/inf before anything of it is saved."""
    bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
    if bad:
        raise NonFiniteLoss(
            f"non-finite loss at step {step}: {bad}. The last good checkpoint is kept; "
            f"lower the learning rate or the loss weights and rerun to resume.")


def save_image_set(images: torch.Tensor, labels: torch.Tensor, meta: dict, path: Path) -> None:
    """The image-set format every stage writes: float32 N x C x 32 x 32 in [0, 1], int64 N."""
    atomic_save({"images": images.detach().float().cpu().clamp(0, 1),
                 "labels": labels.detach().long().cpu(), "meta": meta}, path)


def load_image_set(path: Path) -> tuple[torch.Tensor, torch.Tensor, dict]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image set {path} does not exist; write one with `gdd sample`")
    blob = torch.load(path, weights_only=False, map_location="cpu")
    if not isinstance(blob, dict) or not {"images", "labels"} <= set(blob):
        raise ValueError(f"{path} is not an image set: expected a dict with 'images' and 'labels'")
    images, labels = blob["images"], blob["labels"]
    if images.ndim != 4 or images.shape[-2:] != (32, 32) or len(images) != len(labels):
        raise ValueError(f"{path}: images must be N x C x 32 x 32 with N labels, "
                         f"got {tuple(images.shape)} and {tuple(labels.shape)}")
    return images.float(), labels.long(), blob.get("meta", {})


def save_png(images: torch.Tensor, path: Path, nrow: int = 10) -> None:
    """Images in [0, 1] (N x C x H x W) as one grid PNG, written atomically."""
    from torchvision.utils import save_image
    buf = io.BytesIO()
    save_image(images, buf, nrow=nrow, format="png", padding=1)
    atomic_write_bytes(buf.getvalue(), path)


def rows_to_csv(rows: list[dict]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
