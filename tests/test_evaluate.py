import pytest
import torch

from gdd import data
from gdd.evaluate import EvalConfig, evaluate_set


def _subset(xy, ipc, seed=0):
    x, y = xy
    idx = data.class_balanced_subset(y, ipc, 10, torch.Generator().manual_seed(seed))
    return x[idx], y[idx]


def test_real_subset_learns_well_above_chance(mnist):
    train, (xt, yt) = mnist
    x, y = _subset(train, 10)
    r = evaluate_set(x, y, xt[:2000], yt[:2000], "mnist", EvalConfig(epochs=30, runs=2), progress=False)
    assert len(r["accuracies"]) == 2 and r["mean"] > 50.0  # chance is 10 %
    assert r["std"] >= 0 and r["wall_time_s"] > 0


def test_same_seed_same_numbers_other_seed_differs(fashion):
    train, (xt, yt) = fashion
    x, y = _subset(train, 2)
    cfg = EvalConfig(epochs=5, runs=2, seed=3)
    a = evaluate_set(x, y, xt[:500], yt[:500], "fashion_mnist", cfg, progress=False)
    b = evaluate_set(x, y, xt[:500], yt[:500], "fashion_mnist", cfg, progress=False)
    c = evaluate_set(x, y, xt[:500], yt[:500], "fashion_mnist", EvalConfig(epochs=5, runs=2, seed=4), progress=False)
    assert a["accuracies"] == b["accuracies"] and a["accuracies"] != c["accuracies"]


def test_training_together_equals_one_after_another(fashion):
    train, (xt, yt) = fashion
    x, y = _subset(train, 3)
    kw = dict(epochs=4, runs=3, seed=1, model="convnet3")
    together = evaluate_set(x, y, xt[:1000], yt[:1000], "fashion_mnist", EvalConfig(together=True, **kw), progress=False)
    apart = evaluate_set(x, y, xt[:1000], yt[:1000], "fashion_mnist", EvalConfig(together=False, **kw), progress=False)
    assert together["accuracies"] == pytest.approx(apart["accuracies"], abs=0.25)


@pytest.mark.parametrize("together", [True, False])
def test_training_does_not_read_values_back_every_step(mnist, readbacks, together):
    train, (xt, yt) = mnist
    x, y = _subset(train, 2)  # one batch per epoch: a read-back per epoch would be one per step
    evaluate_set(x, y, xt[:200], yt[:200], "mnist", EvalConfig(epochs=40, runs=2, together=together), progress=False)
    assert 0 < len(readbacks) <= 2 * 12 + 2  # per network ~10 progress-bar losses, 1 accuracy; mean, std


def test_bad_inputs():
    x = torch.rand(0, 1, 32, 32)
    with pytest.raises(ValueError, match="empty"):
        evaluate_set(x, torch.zeros(0, dtype=torch.long), x, x, "mnist")
    with pytest.raises(ValueError, match="3 channels, mnist has 1"):
        evaluate_set(torch.rand(4, 3, 32, 32), torch.zeros(4, dtype=torch.long), x, x, "mnist")
