import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch

from gdd import data, files


def test_mnist_shapes_and_range(mnist):
    (x, y), (xt, yt) = mnist
    assert x.shape == (60000, 1, 32, 32) and xt.shape == (10000, 1, 32, 32)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x[:, :, :2].abs().sum() == 0  # 28x28 digits are zero-padded to 32x32
    assert torch.bincount(y).tolist()[:2] == [5923, 6742]


def test_fashion_shapes(fashion):
    (x, y), (xt, yt) = fashion
    assert x.shape == (60000, 1, 32, 32) and set(yt.unique().tolist()) == set(range(10))
    spec = data.get_spec("fashion_mnist")
    assert spec.classes[9] == "Ankle boot" and spec.mean == (0.2861,)


def test_md5s_agree_with_torchvision():
    from torchvision.datasets import CIFAR10, MNIST
    assert dict(MNIST.resources) == data.DATASETS["mnist"].files
    assert dict(CIFAR10.train_list + CIFAR10.test_list) == data.DATASETS["cifar10"].files
    assert data.DATASETS["cifar10"].archive[1] == CIFAR10.tgz_md5


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(data.DataError, match="unknown dataset 'svhn'.*mnist, fashion_mnist, cifar10"):
        data.get_spec("svhn")


def test_missing_data_error_names_files_places_and_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("GDD_DATA_MIRROR", raising=False)
    with pytest.raises(data.DataError) as err:
        data.load("fashion_mnist", root=tmp_path, download=False)
    msg = str(err.value)
    assert "'fashion_mnist'" in msg and "train-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "FashionMNIST" / "raw") in msg and "gdd data fetch" in msg


def test_mirror_copy_then_corrupt_file_is_reported_not_replaced(tmp_path, monkeypatch):
    x, _ = data.load("mnist", train=False, root=tmp_path, download=False)  # copies from the mirror
    assert x.shape == (10000, 1, 32, 32)
    raw = tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    raw.write_bytes(b"not the labels")
    (tmp_path / "MNIST" / "gdd_cache_test.pt").unlink()
    with pytest.raises(data.DataError) as err:
        data.load("mnist", train=False, root=tmp_path, download=False)
    msg = str(err.value)
    assert str(raw) in msg and "ec29112dd5afa0611ce80d1b7f02629c" in msg and files.file_hash(raw, "md5") in msg
    assert raw.read_bytes() == b"not the labels"  # nothing silently re-fetched over it


def test_cache_makes_second_load_fast(tmp_path):
    import time
    data.load("mnist", train=False, root=tmp_path, download=False)
    start = time.perf_counter()
    x, y = data.load("mnist", train=False, root=tmp_path, download=False)
    assert time.perf_counter() - start < 1.0 and len(x) == 10000


def _flip_byte(path):
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # in the image data: a pixel 0 would read 255
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("damage", [
    _flip_byte,
    lambda p: p.write_bytes(p.read_bytes()[:1000]),                   # truncated
    lambda p: p.write_bytes(b""),                                      # empty
    lambda p: p.with_suffix(".json").write_text("{not json"),          # its record garbled
    lambda p: p.with_suffix(".json").unlink(),                         # written by an older gdd
], ids=["flipped-byte", "truncated", "empty", "bad-record", "no-record"])
def test_a_damaged_cache_is_detected_and_rebuilt_with_a_notice(tmp_path, capsys, damage):
    x, y = data.load("mnist", train=False, root=tmp_path, download=False)
    cache = tmp_path / "MNIST" / "gdd_cache_test.pt"
    assert [r["status"] for r in data.check(tmp_path, ["mnist"]) if r["file"] == str(cache)] == ["ok"]
    damage(cache)
    assert [r["status"] for r in data.check(tmp_path, ["mnist"]) if r["file"] == str(cache)] != ["ok"]
    capsys.readouterr()
    x2, y2 = data.load("mnist", train=False, root=tmp_path, download=False)
    assert f"rebuilding the decoded data cache {cache}" in capsys.readouterr().err
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert [r["status"] for r in data.check(tmp_path, ["mnist"]) if r["file"] == str(cache)] == ["ok"]


def test_read_only_data_folder_decodes_into_memory(tmp_path, monkeypatch, capsys):
    """Simulated (the tests run as root, whom a read-only mode does not stop): writes fail."""
    import errno
    from gdd.files import WriteError
    data.ensure_raw(data.get_spec("mnist"), tmp_path, download=False)  # raw files present, no cache

    def refuse(blob, path):
        raise WriteError(errno.EROFS, "Read-only file system", str(path))
    monkeypatch.setattr(data, "atomic_write_bytes", refuse)
    x, y = data.load("mnist", train=False, root=tmp_path, download=False)
    assert x.shape == (10000, 1, 32, 32) and not (tmp_path / "MNIST" / "gdd_cache_test.pt").exists()
    assert "read-only file system writing" in capsys.readouterr().err


def _write_cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             "labels": rng.integers(0, 10, n).tolist(), "batch_label": path.name}
    with open(path, "wb") as f:
        pickle.dump(batch, f)
    return batch


def test_cifar10_official_pickle_format(tmp_path):
    raw = tmp_path / "cifar-10-batches-py"
    raw.mkdir()
    batches = {name: _write_cifar_batch(raw / name, 7, i) for i, name in enumerate(data.DATASETS["cifar10"].files)}
    spec = data.DATASETS["cifar10"]
    with pytest.raises(data.DataError, match="corrupt data file .*data_batch_1: md5 is"):
        data.load(spec, root=tmp_path, download=False)  # tiny files are not the official ones
    tiny = replace(spec, train_files={f: files.file_hash(raw / f, "md5") for f in spec.train_files},
                   test_files={f: files.file_hash(raw / f, "md5") for f in spec.test_files})
    x, y = data.load(tiny, train=True, root=tmp_path, download=False)
    xt, yt = data.load(tiny, train=False, root=tmp_path, download=False)
    assert x.shape == (35, 3, 32, 32) and xt.shape == (7, 3, 32, 32) and y.dtype == torch.int64
    first = batches["data_batch_1"]
    # row layout of the official format: 1024 red, then 1024 green, then 1024 blue values
    assert torch.equal((x[0, 1] * 255).round().to(torch.uint8).flatten(),
                       torch.from_numpy(first["data"][0, 1024:2048]))
    assert y[:7].tolist() == first["labels"]


def test_class_balanced_subset():
    labels = torch.arange(100) % 10
    idx = data.class_balanced_subset(labels, 3, 10, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[idx]).tolist() == [3] * 10
    with pytest.raises(ValueError, match="ipc=0"):
        data.class_balanced_subset(labels, 0, 10, torch.Generator())
