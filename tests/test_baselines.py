"""Baselines: Distribution Matching (gdd.dm) and coreset selection (gdd.coreset)."""
import pytest
import torch

from gdd import augment, coreset, data, dm
from gdd.files import ConfigMismatch
from gdd.imageset import load_image_set, save_image_set

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks: one thread is faster than two (and the CPU is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# ---------------------------------------------------------------- coresets on hand-made embeddings


def test_herding_first_pick_is_nearest_the_mean_then_it_balances():
    # mean 0.75: nearest is 1.0, then 2.0 (running mean 1.5 -> 0.5 wanted), then -10 pulls the
    # running mean back towards 0.75 ((1 + 2 - 10) / 3 = -2.33; +10 would give 4.33)
    emb = torch.tensor([[10.0], [-10.0], [1.0], [2.0]])
    assert coreset.herding(emb, 3).tolist() == [2, 3, 1]
    # ranking by distance to the mean would take 10 third: herding is not that
    assert (emb - emb.mean()).abs().squeeze(1).argsort()[:3].tolist() == [2, 3, 0]


def test_herding_matches_its_definition_by_brute_force():
    emb = torch.randn(40, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mu, chosen = emb.mean(0), []
    for _ in range(10):  # argmin over free i of || mu - mean(chosen + [i]) ||
        gaps = {i: (mu - emb[chosen + [i]].mean(0)).norm().item() for i in range(40) if i not in chosen}
        chosen.append(min(gaps, key=gaps.get))
    assert coreset.herding(emb, 10).tolist() == chosen
    assert sorted(coreset.herding(emb, 40).tolist()) == list(range(40))  # without replacement


def test_k_center_starts_at_the_mean_then_takes_the_farthest_point():
    emb = torch.tensor([[0.1, 0.0], [0.0, 0.1], [-0.1, 0.0], [3.0, 0.0], [0.0, -5.0]])
    # mean (0.6, -0.98): nearest is row 0; farthest from it row 4; then row 3 (8.41 from row 0)
    assert coreset.k_center(emb, 4).tolist() == [0, 4, 3, 2]


def test_select_is_class_balanced_grouped_deterministic():
    labels = torch.tensor([2, 0, 1, 0, 2, 1, 1, 0, 2, 2, 0, 1])
    emb = torch.randn(len(labels), 3, generator=torch.Generator().manual_seed(1))
    for method in coreset.METHODS:
        idx = coreset.select(method, labels, 2, 3, emb, seed=4)
        assert idx.dtype == torch.long and len(idx.unique()) == 6
        assert labels[idx].tolist() == [0, 0, 1, 1, 2, 2]
        assert torch.equal(idx, coreset.select(method, labels, 2, 3, emb, seed=4))
    pool = (labels == 1).nonzero().squeeze(1)  # inside a class: the method on that class alone
    assert torch.equal(coreset.select("herding", labels, 2, 3, emb)[2:4], pool[coreset.herding(emb[pool], 2)])
    assert torch.equal(coreset.select("k_center", labels, 2, 3, emb)[2:4], pool[coreset.k_center(emb[pool], 2)])
    with pytest.raises(ValueError, match="needs one embedding"):
        coreset.select("herding", labels, 2, 3)
    with pytest.raises(ValueError, match="fewer than ipc"):
        coreset.select("k_center", labels, 5, 3, emb)


# ---------------------------------------------------------------- on real MNIST


@pytest.fixture(scope="module")
def small(mnist):
    """20 MNIST training images per class (200), grouped by class."""
    (x, y), _ = mnist
    idx = data.class_balanced_subset(y, 20, 10, torch.Generator().manual_seed(0))
    return x[idx], y[idx]


def test_feature_net_trains_and_embed_is_the_heads_input(small, tmp_path):
    x, y = small
    net, losses = coreset.train_feature_net(x, y, "mnist", epochs=3, batch=50, lr=0.05, seed=0, width=8)
    assert len(losses) == 3 and losses[-1] < losses[0]
    emb = coreset.embed(net, x, "mnist", batch=64)
    assert emb.shape == (200, 8 * 4 * 4) and emb.dtype == torch.float32
    xn = data.normalize(x[:5], "mnist")
    with torch.no_grad():
        logits, last = net.forward_with(xn, net.stage_names[-1])
        assert torch.allclose(emb[:5], last.flatten(1), atol=1e-5)
        assert torch.allclose(net.head(emb[:5]), logits, atol=1e-5)
    assert torch.allclose(emb, coreset.embed(net, x, "mnist", batch=7), atol=1e-5)  # batching does not matter
    idx = coreset.select("herding", y, 3, 10, emb)
    save_image_set(x[idx], y[idx], {"method": "herding"}, tmp_path / "herding.pt")  # a coreset is an image set
    assert load_image_set(tmp_path / "herding.pt")[1].bincount().tolist() == [3] * 10


def _tiny_cfg(**kw):
    return dm.DMConfig("mnist", **{"ipc": 2, "batch_real": 8, "width": 8, "checkpoint_every": 2, **kw})


def _net(seed=0):
    """A seeded width-8 ConvNet-3 (the global RNG is left alone)."""
    return dm.fresh_net(_tiny_cfg(), torch.Generator().manual_seed(seed))


def test_dm_defaults_are_dms_published_values():
    cfg = dm.DMConfig("mnist")
    assert (cfg.iterations, cfg.lr_img, cfg.momentum, cfg.batch_real, cfg.init, cfg.model, cfg.width) == \
        (20000, 1.0, 0.5, 256, "real", "convnet3", 128)
    assert "flip" not in cfg.dsa_families() and "flip" in dm.DMConfig("cifar10").dsa_families()


def _dm_problem(small, per_class: int):
    """A tiny DM problem: (config, labels, synthetic leaf in normalised units, ``per_class`` real
    images of each class, a ConvNet)."""
    x, y = small
    cfg = _tiny_cfg()
    syn = data.normalize(dm.initial_images(cfg, x, y), "mnist").requires_grad_(True)
    real = dm.real_batches(x, dm.class_pools(y, 10), per_class, torch.Generator().manual_seed(0))
    return cfg, dm.syn_labels(10, 2), syn, real, _net()


def test_dm_loss_is_eq4_and_gradients_reach_only_the_synthetic_images(small):
    cfg, labels, syn, real, net = _dm_problem(small, 8)
    loss = dm.dm_step(syn, labels, real, net, (), torch.Generator(), "mnist")
    with torch.no_grad():
        expected = sum((net.embed(data.normalize(r, "mnist")).mean(0) - net.embed(syn[2 * c:2 * c + 2]).mean(0))
                       .square().sum() for c, r in enumerate(real))
    assert torch.allclose(loss, expected, rtol=1e-5) and loss > 0
    loss.backward()
    assert (syn.grad.flatten(1).abs().sum(1) > 0).all()  # every synthetic image of every class
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())
    assert all(r.grad is None and not r.requires_grad for r in real)


def test_dm_one_batchwise_draw_per_class_shared_by_real_and_synthetic(small, monkeypatch):
    x, y = small
    seen, apply = [], augment.apply
    monkeypatch.setattr(augment, "apply", lambda t, d: seen.append((len(t), d)) or apply(t, d))
    labels = dm.syn_labels(10, 2)
    syn = data.normalize(x[::10], "mnist").requires_grad_(True)
    real = dm.real_batches(x, dm.class_pools(y, 10), 8, torch.Generator().manual_seed(0))
    dm.dm_step(syn, labels, real, _net(), augment.FAMILIES,
               torch.Generator().manual_seed(5), "mnist")
    assert [n for n, _ in seen] == [8, 2] * 10  # per class: the real batch, then the synthetic one
    for (_, d_real), (_, d_syn) in zip(seen[::2], seen[1::2]):
        assert d_real.family == d_syn.family
        for k, v in d_real.values.items():
            assert (v == v[:1]).all() and (d_syn.values[k] == v[:1]).all()  # one value for all 10 images
    assert len({repr(d.values) for _, d in seen[::2]}) == 10  # a new draw for each class


@pytest.mark.parametrize("family", augment.FAMILIES)
def test_dm_identical_real_and_synthetic_images_match_exactly_under_augmentation(small, family):
    # real batch: 6 copies of one image; synthetic: that image once. A shared batch-wise draw
    # transforms all 7 identically, so the loss vanishes; any per-image or per-batch draw would not.
    x, _ = small
    a = x[:1]
    loss = dm.dm_step(data.normalize(a, "mnist").requires_grad_(True), torch.zeros(1, dtype=torch.long),
                      [a.repeat(6, 1, 1, 1)], _net(), (family,),
                      torch.Generator().manual_seed(2), "mnist")
    assert loss < 1e-9


def test_dm_loss_decreases_under_a_fixed_network_and_draws(small):
    cfg, labels, syn, real, net = _dm_problem(small, 10)
    opt = torch.optim.SGD([syn], lr=cfg.lr_img, momentum=cfg.momentum)
    losses = []
    for _ in range(6):  # the same draws every step: plain gradient descent on one objective
        loss = dm.dm_step(syn, labels, real, net, ("crop", "scale"), torch.Generator().manual_seed(3), "mnist")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.7 * losses[0]


def test_dm_run_lowers_the_loss_on_unseen_networks(small, tmp_path):
    # DM's premise: matching under fresh random networks generalises to other random networks
    # (cfg.seed 0-7 give ratios 0.59-0.72 here: the bound is not a lucky draw)
    x, y = small
    cfg = _tiny_cfg(ipc=1, batch_real=10, families=(), iterations=20, checkpoint_every=10)
    init = dm.initial_images(cfg, x, y)
    dm.train(cfg, tmp_path, real=(x, y), progress=False)
    out, labels, _ = load_image_set(tmp_path / "images.pt")
    real = [x[y == c] for c in range(10)]

    def held_out_loss(images):
        with torch.no_grad():
            return sum(dm.dm_step(data.normalize(images, "mnist"), labels, real, _net(100 + k), (), None, "mnist")
                       for k in range(4))

    assert held_out_loss(out) < 0.85 * held_out_loss(init)


def test_dm_resume_is_bit_identical(small, tmp_path):
    x, y = small
    cfg = _tiny_cfg(seed=3, iterations=5)
    dm.train(cfg, tmp_path / "whole", real=(x, y), progress=False)
    part = dm.train(cfg, tmp_path / "split", real=(x, y), stop_after=2, progress=False)
    assert part == {"finished": False, "step": 2, "total": 5}
    assert dm.train(cfg, tmp_path / "split", real=(x, y), progress=False)["finished"]
    a, b = (load_image_set(tmp_path / n / "images.pt")[0] for n in ("whole", "split"))
    assert torch.equal(a, b)
    assert (tmp_path / "split" / "losses.csv").read_text() == (tmp_path / "whole" / "losses.csv").read_text()
    with pytest.raises(ConfigMismatch, match="ipc: 2 -> 3"):
        dm.train(_tiny_cfg(seed=3, iterations=5, ipc=3), tmp_path / "split", real=(x, y), progress=False)


def test_dm_output_is_an_image_set(small, tmp_path):
    x, y = small
    cfg = _tiny_cfg(ipc=3, iterations=2)
    init = dm.initial_images(cfg, x, y)
    assert all(any(torch.equal(im, r) for r in x[y == c]) for im, c in zip(init, dm.syn_labels(10, 3)))
    summary = dm.train(cfg, tmp_path, real=(x, y), progress=False)
    images, labels, meta = load_image_set(tmp_path / "images.pt", "mnist")
    assert summary["finished"] and meta["method"] == "dm" and meta["ipc"] == 3
    assert images.dtype == torch.float32 and images.shape == (30, 1, 32, 32)
    assert images.min() >= 0 and images.max() <= 1 and not torch.equal(images, init)
    assert labels.dtype == torch.long and labels.bincount().tolist() == [3] * 10
    assert (tmp_path / "images.png").exists()
    noise = dm.initial_images(_tiny_cfg(init="noise"), x, y)
    assert noise.shape == (20, 1, 32, 32) and noise.min() < 0  # N(0, 1) in normalised units, unclamped
