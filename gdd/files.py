"""Atomic writes, checkpoints that resume only under the same config, image-set files and PNG grids.

Every ``.pt`` file gdd reads goes through ``load_pt`` (``torch.load(weights_only=True)``): only
tensors and plain data (dict, list, tuple, str, numbers, None) are loaded, so a crafted file
cannot run code. Every ``.pt`` file gdd writes holds nothing else (``atomic_save`` checks).
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import io
import json
import math
import os
import re
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

_STARTED = time.time()  # temp files older than this process are leftovers of killed runs


class WriteError(OSError):
    """Writing ``filename`` failed (no space left, permission denied, ...)."""


def describe_os_error(err: OSError) -> str:
    """One line for an OSError: "no space left on device writing runs/x.pt", "permission denied: x"."""
    if err.strerror is None or err.filename is None:
        return str(err)
    verb = " writing" if isinstance(err, WriteError) else ":"
    return f"{err.strerror[:1].lower()}{err.strerror[1:]}{verb} {err.filename}"


def _umask() -> int:
    try:  # Linux: read it; setting it to read it back would affect every thread for a moment
        return int(re.search(r"^Umask:\s*([0-7]+)", Path("/proc/self/status").read_text(), re.M).group(1), 8)
    except (OSError, AttributeError):
        mask = os.umask(0)
        os.umask(mask)
        return mask


def _remove_stale_tmp(path: Path) -> None:
    """Remove ``.NAME.*.tmp`` siblings of ``path`` left behind by runs killed mid-write."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if tmp.stat().st_mtime < _STARTED:
                tmp.unlink()
        except FileNotFoundError:  # another process cleaned it first
            pass


def _atomic(path: Path, write: Callable) -> None:
    """``write(f)`` into a temp file beside ``path``, then rename it over ``path``: readers see
    the old file or the new one, never half of one. The file gets the mode the umask allows
    (as ``open`` would give it). Any OSError becomes a WriteError that names ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise WriteError(err.errno, err.strerror or str(err), str(path)) from None
        raise


_PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.Size)


def check_plain(obj: Any, where: str = "") -> None:
    """Refuse to save what ``load_pt`` would refuse to load: anything but tensors, dicts, lists,
    tuples, str, numbers and None (``where`` is the key path, for the message)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"key {k!r} at {where or 'top level'} is a {type(k).__name__}; gdd saves plain data only")
            check_plain(v, f"{where}/{k}")
    elif isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}/{i}")
    elif not isinstance(obj, _PLAIN):
        raise TypeError(f"{where or 'the object'} is a {type(obj).__name__}; gdd saves only tensors and plain data "
                        f"(dict, list, tuple, str, numbers, None), which load with weights_only=True")


def torch_bytes(obj: Any) -> bytes:
    """``obj`` (tensors and plain data only) as the bytes ``torch.save`` writes."""
    check_plain(obj)
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename over ``path``."""
    atomic_write_bytes(torch_bytes(obj), path)


def atomic_write_json(obj: Any, path: Path) -> None:
    _atomic(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def atomic_write_text(text: str, path: Path) -> None:
    _atomic(path, lambda f: f.write(text.encode()))


def atomic_write_bytes(blob: bytes, path: Path) -> None:
    _atomic(path, lambda f: f.write(blob))


def file_hash(path: Path, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """The hex digest of a file's bytes (sha256; md5 where torchvision's checksums are md5)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class BadFile(ValueError):
    """A file given to gdd that is not what it should be; the message names it and the fix."""


def _looks_like(head: bytes) -> str:
    """What a file that is no torch.save archive is, from its first bytes."""
    if not head:
        return "it is empty"
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image"
    if head.startswith(b"PK"):
        return "it is truncated or corrupt (an incomplete archive)"
    if head[:1] == b"\x80":
        return "it is a plain pickle, not a torch.save archive"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "it is a text file"
    return "it is not a torch.save archive"


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
    with open(path, "rb") as f:
        head = f.read(512)
    if not zipfile.is_zipfile(path):
        raise BadFile(f"{path} is not a gdd {what}: {_looks_like(head)}")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # unpickling refused, truncated, not a torch archive at all
        refused = re.search(r"GLOBAL ([\w.]+)", str(err))
        if refused:
            reason = (f"it holds a Python object ({refused.group(1)}) where gdd writes only tensors and plain "
                      f"data; refused without running it")
        else:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            reason = f"it is truncated or corrupt ({first[:120]})"
        raise BadFile(f"{path} is not a gdd {what}: {reason}") from None


def check_output(path: Path, what: str, ours: Callable[[Path], bool]) -> None:
    """Refuse, before any work, an output file ``path`` that could not be written or must not be:
    a folder, an existing file that ``ours(path)`` does not recognise as a gdd ``what`` (never
    overwritten), a location under a file or unwritable. Missing folders are created."""
    path = Path(path)
    if path.is_dir():
        raise BadFile(f"{path} is a folder; give a file path for the {what}")
    if path.exists() and not ours(path):
        raise BadFile(f"{path} exists and is not a gdd {what}; refusing to overwrite it "
                      f"(move it away or choose another path)")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise BadFile(f"cannot write {path}: {folder} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise WriteError(err.errno, err.strerror or str(err), str(path)) from None


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


def is_png(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


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
