"""Datasets: MNIST, Fashion-MNIST and CIFAR-10 as float tensors in [0, 1], N x C x 32 x 32.

Where the raw files come from, in order:
  1. the data folder ``$GDD_DATA`` (default ``./data``), in torchvision's layout;
  2. a mirror folder ``$GDD_DATA_MIRROR`` with the same layout, copied into the data folder;
  3. torchvision's download, where a network exists.
Every raw file is checked against torchvision's md5 before it is decoded. Decoded tensors are
cached as uint8 next to the raw files (``gdd_cache_{split}.pt``, with its sha256 and the raw
files' md5s in ``gdd_cache_{split}.json``), so a second load takes a fraction of a second; a
cache that does not match its record is rebuilt.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gdd.files import atomic_write_bytes, atomic_write_json, describe_os_error, file_hash, torch_bytes


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is and which raw files (name -> md5) make it up."""
    name: str
    folder: str                       # sub-folder of the data root, torchvision's name
    raw_dir: str                      # where the raw files live inside ``folder``
    channels: int
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train_size: int                   # images in the official training split
    test_size: int                    # images in the official test split
    train_files: dict[str, str] = field(default_factory=dict)
    test_files: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()        # base URLs tried in order for a download
    archive: tuple[str, str] | None = None  # (file name, md5) of a tarball holding raw_dir

    @property
    def files(self) -> dict[str, str]:
        return {**self.train_files, **self.test_files}

    @property
    def num_classes(self) -> int:
        return len(self.classes)


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist", folder="MNIST", raw_dir="raw", channels=1,
        classes=tuple(str(i) for i in range(10)), mean=(0.1307,), std=(0.3081,), train_size=60000, test_size=10000,
        train_files={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                     "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432"},
        test_files={"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        urls=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist", folder="FashionMNIST", raw_dir="raw", channels=1,
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=(0.2861,), std=(0.3530,), train_size=60000, test_size=10000,
        train_files={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                     "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe"},
        test_files={"t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    ),
    "cifar10": DatasetSpec(
        name="cifar10", folder="", raw_dir="cifar-10-batches-py", channels=3,
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010),
        train_size=50000, test_size=10000,
        train_files={"data_batch_1": "c99cafc152244af753f735de768cd75f",
                     "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                     "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
                     "data_batch_4": "634d18415352ddfa80567beed471001a",
                     "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb"},
        test_files={"test_batch": "40351d587109b95175f43aff81a1287e"},
        urls=("https://www.cs.toronto.edu/~kriz/",),
        archive=("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    ),
}


class DataError(RuntimeError):
    """Missing, corrupt or unknown data; the message says how to fix it."""


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name]


def data_root() -> Path:
    return Path(os.environ.get("GDD_DATA", "./data")).expanduser()


def raw_folder(spec: DatasetSpec, root: Path | None = None) -> Path:
    root = data_root() if root is None else Path(root)
    return root / spec.folder / spec.raw_dir


def _check_md5(path: Path, expected: str) -> None:
    actual = file_hash(path, "md5")
    if actual != expected:
        raise DataError(
            f"corrupt data file {path}: md5 is {actual}, expected {expected}. "
            f"Delete it and run `gdd data fetch` again (with GDD_DATA_MIRROR set to a good copy); "
            f"it is not replaced automatically.")


def _copy_from_mirror(spec: DatasetSpec, dest: Path, mirror: Path) -> None:
    src = mirror / spec.folder / spec.raw_dir
    for fname in spec.files:
        if not (dest / fname).exists() and (src / fname).exists():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / fname, dest / f"{fname}.part")
            os.replace(dest / f"{fname}.part", dest / fname)
    if spec.archive and any(not (dest / f).exists() for f in spec.files):
        tar = mirror / spec.folder / spec.archive[0]
        if tar.exists():
            _check_md5(tar, spec.archive[1])
            _extract(tar, dest.parent)


def _extract(tar: Path, into: Path) -> None:
    with tarfile.open(tar, "r:gz") as t:
        t.extractall(into, filter="data")


def _download(spec: DatasetSpec, dest: Path) -> None:
    from torchvision.datasets.utils import download_url
    if spec.archive:
        fname, md5 = spec.archive
        download_url(spec.urls[0] + fname, str(dest.parent), fname, md5)
        _extract(dest.parent / fname, dest.parent)
        return
    for fname, md5 in spec.files.items():
        if (dest / fname).exists():
            continue
        for base in spec.urls:
            try:
                download_url(base + fname, str(dest), fname, md5)
                break
            except Exception:  # try the next mirror
                continue


def ensure_raw(spec: DatasetSpec, root: Path | None = None, download: bool = True) -> Path:
    """Make every raw file of ``spec`` present and md5-verified; return the raw folder."""
    dest = raw_folder(spec, root)
    missing = [f for f in spec.files if not (dest / f).exists()]
    mirror = os.environ.get("GDD_DATA_MIRROR")
    if missing and mirror:
        _copy_from_mirror(spec, dest, Path(mirror).expanduser())
    missing = [f for f in spec.files if not (dest / f).exists()]
    if missing and download:
        try:
            _download(spec, dest)
        except Exception:  # no network: fall through to the error below
            pass
    missing = [f for f in spec.files if not (dest / f).exists()]
    if missing:
        looked = [str(dest)] + ([str(Path(mirror) / spec.folder / spec.raw_dir)] if mirror else [])
        raise DataError(
            f"dataset {spec.name!r} is missing {', '.join(missing)}; looked in {', '.join(looked)}"
            f"{' and tried a download' if download else ''}. Fix: point GDD_DATA_MIRROR at a folder "
            f"in torchvision's layout (e.g. `GDD_DATA_MIRROR=../shared/data gdd data fetch`), "
            f"or run `gdd data fetch` where a network exists.")
    for fname, md5 in spec.files.items():
        _check_md5(dest / fname, md5)
    return dest


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="latin1")
    return np.asarray(d["data"], np.uint8).reshape(-1, 3, 32, 32), np.asarray(d["labels"], np.int64)


def _decode(spec: DatasetSpec, raw: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images N x C x 32 x 32 and int64 labels N."""
    files = list(spec.train_files if train else spec.test_files)
    if spec.channels == 1:  # idx: images file then labels file
        images = torch.from_numpy(_read_idx(raw / files[0]).copy()).unsqueeze(1)
        labels = torch.from_numpy(_read_idx(raw / files[1]).astype(np.int64))
        images = torch.nn.functional.pad(images, (2, 2, 2, 2))  # 28x28 -> 32x32
    else:
        parts = [_read_cifar_batch(raw / f) for f in files]
        images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
        labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return images, labels


def _cache_paths(spec: DatasetSpec, train: bool, root: Path | None = None) -> tuple[Path, Path]:
    """The decoded cache of a split (uint8 images, int64 labels) and its record (JSON: the
    cache's sha256 and the md5s of the raw files it was decoded from)."""
    folder, split = raw_folder(spec, root).parent, "train" if train else "test"
    return folder / f"gdd_cache_{split}.pt", folder / f"gdd_cache_{split}.json"


def _read_cache(spec: DatasetSpec, train: bool, root: Path | None) -> tuple[dict | None, str]:
    """(the cache's contents, "") if it is present and verified, else (None, why not)."""
    cache, record = _cache_paths(spec, train, root)
    if not cache.exists():
        return None, "missing"
    if not record.exists():
        return None, f"no record {record.name} of its sha256 (an older gdd, or a run killed while writing it)"
    try:
        info = json.loads(record.read_text())
        blob = cache.read_bytes()
    except (OSError, ValueError):
        return None, f"its record {record.name} is unreadable"
    if not isinstance(info, dict) or info.get("raw_md5") != (spec.train_files if train else spec.test_files):
        return None, "it was decoded from other raw files"
    if hashlib.sha256(blob).hexdigest() != info.get("sha256"):
        return None, "its sha256 differs from the recorded one (truncated or modified)"
    try:
        return torch.load(io.BytesIO(blob), weights_only=True), ""
    except Exception as err:  # the recorded hash was of a bad file
        return None, f"it is unreadable ({type(err).__name__})"


def load(name: str | DatasetSpec, train: bool = True, root: Path | None = None,
         download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a split as (images float32 N x C x 32 x 32 in [0, 1], labels int64 N). The decoded
    cache is used only if its sha256 matches its record; otherwise it is rebuilt from the raw
    files (with a notice), or, where the data folder is read-only, the data is kept in memory."""
    spec = name if isinstance(name, DatasetSpec) else get_spec(name)
    blob, problem = _read_cache(spec, train, root)
    if blob is not None:
        return blob["images"].float().div_(255), blob["labels"]
    cache, record = _cache_paths(spec, train, root)
    if problem != "missing":
        print(f"[gdd] rebuilding the decoded data cache {cache}: {problem}", file=sys.stderr)
    ensure_raw(spec, root, download)
    images, labels = _decode(spec, raw_folder(spec, root), train)
    try:
        blob = torch_bytes({"images": images, "labels": labels})
        atomic_write_bytes(blob, cache)
        atomic_write_json({"sha256": hashlib.sha256(blob).hexdigest(),
                           "raw_md5": spec.train_files if train else spec.test_files}, record)
    except OSError as err:  # read-only data folder or full disk: the decoded data is still good
        print(f"[gdd] could not write the decoded data cache ({describe_os_error(err)}); "
              f"using the data in memory", file=sys.stderr)
    return images.float().div_(255), labels


def real_subset(dataset: str, size: int | None, seed: int, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images N x C x 32 x 32 in [0, 1] and labels N: a seeded random subset of ``size`` (train)
    or the first ``size`` test images (None: all)."""
    x, y = load(dataset, train=train)
    if size is None or size >= len(x):
        return x, y
    if not train:
        return x[:size], y[:size]
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:size]
    return x[idx], y[idx]


def normalize(x: torch.Tensor, dataset: str) -> torch.Tensor:
    spec = get_spec(dataset)
    mean = to_device(torch.tensor(spec.mean).view(1, -1, 1, 1), x.device)  # called in inner loops: no sync
    std = to_device(torch.tensor(spec.std).view(1, -1, 1, 1), x.device)
    return (x - mean) / std


def to_device(t: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """``t`` on ``device``. A CPU tensor bound for a GPU (batch indices, augmentation draws) is
    copied from pinned memory asynchronously, so the host does not wait for the GPU's queue to
    drain: a plain ``.to("cuda")`` of pageable memory synchronises, once per call."""
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


@functools.lru_cache(maxsize=1)
def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order (a permutation of ``n``, on the CPU) in which epoch ``epoch`` of a run seeded
    ``seed`` visits the training set; a resumed run gets the same one. Cached: loops ask every
    step, and a new permutation of a large set per step would cost more than the step."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))


def class_balanced_subset(labels: torch.Tensor, ipc: int, num_classes: int,
                          generator: torch.Generator) -> torch.Tensor:
    """Indices of ``ipc`` random examples of every class (sorted by class)."""
    if ipc <= 0:
        raise ValueError(f"images per class must be positive, got ipc={ipc}")
    idx = []
    for c in range(num_classes):
        pool = (labels == c).nonzero().squeeze(1)
        if len(pool) < ipc:
            raise ValueError(f"class {c} has only {len(pool)} examples, fewer than ipc={ipc}")
        idx.append(pool[torch.randperm(len(pool), generator=generator)[:ipc]])
    return torch.cat(idx)


def check(root: Path | None = None, names: list[str] | None = None) -> list[dict]:
    """Per dataset (all, or ``names``): every raw file ("ok", "missing" or "CORRUPT": md5) and
    every decoded cache ("ok", "not built", "STALE": no record of its sha256, or "CORRUPT": it does
    not match its record; with the reason). Never downloads, copies or rebuilds."""
    rows = []
    for spec in (get_spec(n) for n in names) if names else DATASETS.values():
        raw = raw_folder(spec, root)
        for fname, md5 in spec.files.items():
            path = raw / fname
            status = "missing"
            if path.exists():
                status = "ok" if file_hash(path, "md5") == md5 else "CORRUPT"
            rows.append({"dataset": spec.name, "file": str(path), "status": status, "why": ""})
        for train in (True, False):
            cache = _cache_paths(spec, train, root)[0]
            status, why = "not built", ""
            if cache.exists():
                blob, why = _read_cache(spec, train, root)
                status = "ok" if blob is not None else "STALE" if why.startswith("no record") else "CORRUPT"
            rows.append({"dataset": spec.name, "file": str(cache), "status": status, "why": why})
    return rows
