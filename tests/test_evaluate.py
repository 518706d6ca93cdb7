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


# ---- DiM's protocol: fresh generator samples every epoch ----

def _tiny_generator(channels=1):
    from gdd.gan import Generator
    torch.manual_seed(0)
    return Generator(channels, 10, width=8, noise=16)


def _record_generator_inputs(G) -> list:
    """(z, y) of every generator call, in order."""
    calls = []
    G.register_forward_hook(lambda module, inputs, output: calls.append((inputs[0].clone(), inputs[1].clone())))
    return calls


def _test_set(n=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_dim_protocol_checks_every_k_epochs_and_after_the_last_best_at_least_final():
    from gdd.evaluate import evaluate_generator
    xt, yt = _test_set()
    cfg = EvalConfig(protocol="dim", epochs=5, eval_every=2, runs=2, batch_size=16)
    r = evaluate_generator(_tiny_generator(), 2, xt, yt, "mnist", cfg, progress=False)
    assert [[epoch for epoch, _ in run] for run in r["checks"]] == [[2, 4, 5], [2, 4, 5]]
    assert r["accuracies"] == [run[-1][1] for run in r["checks"]]         # final = the last check
    assert r["best"] == [max(a for _, a in run) for run in r["checks"]]
    assert all(b >= f for b, f in zip(r["best"], r["accuracies"])) and r["best_mean"] >= r["mean"]
    assert r["samples_per_epoch"] == 20 and r["steps_per_epoch"] == 2 and r["eval"]["protocol"] == "dim"


@pytest.mark.parametrize("ipc, batch_size", [(1, 256), (3, 16)])
def test_dim_protocol_draws_ipc_fresh_samples_of_every_class_per_epoch(ipc, batch_size):
    from gdd.evaluate import evaluate_generator
    G = _tiny_generator()
    calls = _record_generator_inputs(G)
    xt, yt = _test_set()
    epochs = 3
    evaluate_generator(G, ipc, xt, yt, "mnist", EvalConfig(protocol="dim", epochs=epochs, runs=1,
                                                            batch_size=batch_size), progress=False)
    assert not G.training  # sampled in eval mode, as DiM's validate.py
    per_epoch = -(-10 * ipc // batch_size)
    assert len(calls) == epochs * per_epoch
    for e in range(epochs):
        z = torch.cat([z for z, _ in calls[e * per_epoch:(e + 1) * per_epoch]])
        y = torch.cat([y for _, y in calls[e * per_epoch:(e + 1) * per_epoch]])
        assert len(z) == 10 * ipc and torch.bincount(y, minlength=10).tolist() == [ipc] * 10
    z_all = torch.cat([z for z, _ in calls])
    assert len(torch.unique(z_all[:, 0])) == len(z_all)  # fresh noise every sample of every epoch


def test_dim_protocol_same_seed_same_numbers_other_seed_other_samples():
    from gdd.evaluate import evaluate_generator
    xt, yt = _test_set()
    runs = []
    for seed in (0, 0, 1):
        G = _tiny_generator()
        calls = _record_generator_inputs(G)
        r = evaluate_generator(G, 1, xt, yt, "mnist", EvalConfig(protocol="dim", epochs=2, eval_every=1, runs=1,
                                                                  seed=seed), progress=False)
        runs.append((r, torch.cat([z for z, _ in calls]), torch.cat([y for _, y in calls])))
    (a, za, ya), (b, zb, yb), (c, zc, yc) = runs
    assert a["checks"] == b["checks"] and torch.equal(za, zb) and torch.equal(ya, yb)
    assert not torch.equal(za, zc) and not torch.equal(ya, yc)


def test_protocol_is_checked_and_new_fields_keep_stored_keys():
    from gdd.evaluate import evaluate_generator
    from gdd.results import as_dict
    xt, yt = _test_set(10)
    with pytest.raises(ValueError, match="protocol='dim'"):
        evaluate_generator(_tiny_generator(), 1, xt, yt, "mnist", EvalConfig(epochs=1))
    with pytest.raises(ValueError, match="evaluate_generator"):
        evaluate_set(xt, yt, xt, yt, "mnist", EvalConfig(protocol="dim", epochs=1))
    with pytest.raises(ValueError, match="3-channel images"):
        evaluate_generator(_tiny_generator(3), 1, xt, yt, "mnist", EvalConfig(protocol="dim", epochs=1))
    with pytest.raises(ValueError, match="unknown evaluation protocol"):
        EvalConfig(protocol="best")
    # results stored before `protocol` and `eval_every` existed keep their keys
    assert set(as_dict(EvalConfig())) == {"model", "epochs", "runs", "batch_size", "lr", "momentum", "weight_decay",
                                          "dsa", "seed", "together"}
    assert as_dict(EvalConfig(protocol="dim"))["protocol"] == "dim"


def test_compile_only_where_it_was_measured_to_win(monkeypatch):
    """EvalConfig.compile None compiles only long CPU evaluations with batches of >= 100 images
    (benchmarks/compile_eval.py): the cpu profile's at IPC 10 and 50, never IPC 1 or the tests'."""
    from gdd.evaluate import _use_compile
    from gdd import configs
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert _use_compile(EvalConfig(epochs=300, runs=5), cpu, 100)
    assert not _use_compile(EvalConfig(epochs=300, runs=5), cuda, 100)   # not measured on CUDA
    assert not _use_compile(EvalConfig(epochs=1000, runs=5), cpu, 10)    # IPC 1: batches of 10
    assert not _use_compile(EvalConfig(epochs=300, runs=5, compile=False), cpu, 100)
    assert _use_compile(EvalConfig(epochs=1, runs=1, compile=True), cpu, 10)
    p = configs.as_profile("cpu")
    assert [_use_compile(configs.eval_config(p, ipc), cpu, 10 * ipc) for ipc in p.ipcs] == [False, True, True]
    monkeypatch.setattr("shutil.which", lambda name: None)                 # no C++ compiler
    assert not _use_compile(EvalConfig(epochs=300, runs=5), cpu, 100)


def test_compile_flag_wraps_the_network(monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(model) or model)
    x, y = torch.rand(10, 1, 32, 32), torch.arange(10)
    assert not evaluate_set(x, y, x, y, "mnist", EvalConfig(epochs=1, runs=1), progress=False)["compiled"]
    assert calls == []
    r = evaluate_set(x, y, x, y, "mnist", EvalConfig(epochs=1, runs=1, compile=True, together=False), progress=False)
    assert r["compiled"] and len(calls) == 1
