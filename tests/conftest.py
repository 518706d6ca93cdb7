"""Test set-up: real data comes from $GDD_DATA (default ./data), filled from $GDD_DATA_MIRROR.

A test that needs MNIST or Fashion-MNIST fails (never skips) when the data cannot be found.
"""
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("GDD_DATA", str(ROOT / "data"))
if "GDD_DATA_MIRROR" not in os.environ and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["GDD_DATA_MIRROR"] = str(ROOT.parent / "shared" / "data")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
PACKAGE = str(ROOT / "gdd") + os.sep  # gdd's own code (not a checkout path that happens to contain "gdd")


@pytest.fixture(scope="session")
def mnist():
    from gdd import data
    return data.load("mnist", train=True, download=False), data.load("mnist", train=False, download=False)


@pytest.fixture(scope="session")
def fashion():
    from gdd import data
    return data.load("fashion_mnist", train=True, download=False), data.load("fashion_mnist", train=False, download=False)


@pytest.fixture
def readbacks(monkeypatch) -> list:
    """Records every ``Tensor.item`` / ``Tensor.tolist`` called from gdd's own code: on a GPU
    each one makes the host wait. (torch's optimisers read their CPU step counters; no wait.)"""
    calls = []
    for name in ("item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(t, _f=original, _n=name):
            if sys._getframe(1).f_code.co_filename.startswith(PACKAGE):
                calls.append(_n)
            return _f(t)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return calls
