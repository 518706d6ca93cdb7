import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from gdd import pool
from gdd.data import DataError
from gdd.deploy import load_generator, sample
from gdd.distill import GenConfig, IncompatibleCheckpoint, train
from gdd.gan import Generator
from gdd.files import ConfigMismatch, NonFiniteLoss, load_pt
from gdd.losses import global_loss, local_loss
from gdd.models import make_model


def tiny(**kw):
    base = dict(dataset="mnist", width=8, noise=16, epochs=2, batch=8, steps_per_epoch=3, train_size=64,
                checkpoint_every=2, pool=("convnet3", "resnet10"), pool_width=4, pool_steps=2)
    return GenConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gan")
    train(tiny(), out, progress=False)
    return out


def test_losses_zero_on_identical_inputs_positive_otherwise():
    a, b = torch.randn(4, 10), torch.randn(4, 10)
    assert global_loss(a, a.clone()).item() == 0 and global_loss(a, b).item() > 0
    f, g = torch.randn(4, 8, 5, 5), torch.randn(4, 8, 5, 5)
    assert local_loss(f, f.clone()).item() == 0 and local_loss(f, g).item() > 0


def test_local_loss_is_dims_released_sum_unless_asked_for_the_mean():
    f, g = torch.randn(4, 8, 5, 5), torch.randn(4, 8, 5, 5)
    by_hand = (f.mean(0) - g.mean(0)).abs().sum()  # DiM's dist(f.mean(0), g.mean(0), 'l1')
    assert torch.allclose(local_loss(f, g), by_hand)
    assert torch.allclose(local_loss(f, g, "mean"), by_hand / (8 * 5 * 5))
    with pytest.raises(ValueError, match="unknown local-loss reduction 'max'; valid: sum, mean"):
        local_loss(f, g, "max")
    with pytest.raises(ValueError, match="local-loss reduction"):
        tiny(local_reduction="max")


def test_default_pool_is_dims_five_models():
    cfg = GenConfig(dataset="mnist")
    assert cfg.pool == ("convnet3", "resnet10", "resnet18", "resnet10_ap", "resnet18_ap")
    assert cfg.pool_steps == 16 and cfg.local_reduction == "sum"
    for name in cfg.pool:  # each builds and has the middle layer the local loss reads
        model, layer = pool.build(name, 1, 10, width=4)
        _, feat = model.forward_with(torch.rand(2, 1, 32, 32), layer)
        assert feat.dim() == 4


def test_pool_model_takes_pool_steps_sgd_steps_on_distinct_real_batches(monkeypatch):
    from gdd import augment, distill
    model = make_model("convnet3", 1, 10, width=4)
    opt = torch.optim.SGD(model.parameters(), 0.01)
    x, y = torch.rand(100, 1, 32, 32), torch.arange(100) % 10
    seen, chains = [], []
    real_step = distill.pool_step
    monkeypatch.setattr(distill, "pool_step", lambda m, o, xb, yb, g: seen.append(yb) or real_step(m, o, xb, yb, g))
    real_chain = augment.sample_chain
    monkeypatch.setattr(augment, "sample_chain", lambda *a, **k: chains.append((a, k)) or real_chain(*a, **k))
    loss = distill.train_pool_model(model, opt, x, y, 5, 16, "mnist", torch.Generator().manual_seed(0))
    assert len(seen) == 5 and loss.dim() == 0 and torch.isfinite(loss)
    assert len(torch.cat(seen)) == 80  # 5 batches of 16 from one shuffle: no image twice
    # each batch under a per-image color-then-crop draw (DiM's aug_rand)
    assert all(a[1] == augment.POOL_CHAIN and k.get("per_image", True) for a, k in chains) and len(chains) == 5


def test_step_order_and_labels_follow_dims_train(monkeypatch, tmp_path):
    """Generator step first on the real batch's labels; then the critic on new noise with
    random labels (DiM's pool_match.py: train)."""
    from gdd import distill
    calls = []
    real_critic, real_gen = distill.critic_loss, distill.generator_gan_loss
    monkeypatch.setattr(distill, "generator_gan_loss", lambda D, f, y: calls.append(("G", y)) or real_gen(D, f, y))
    monkeypatch.setattr(distill, "critic_loss", lambda D, xr, yr, f, yf, gp: calls.append(("D", yr, yf))
                        or real_critic(D, xr, yr, f, yf, gp))
    train(tiny(epochs=1, steps_per_epoch=4, batch=32), tmp_path, progress=False)
    assert [c[0] for c in calls] == ["G", "D"] * 4
    for (_, y_gen), (_, y_real, y_fake) in zip(calls[::2], calls[1::2]):
        assert torch.equal(y_gen, y_real) and not torch.equal(y_fake, y_real)


def test_stage2_starts_from_stage1_adam_state_with_the_learning_rate_reset(gan_run):
    from gdd.distill import build_gan, load_stage1
    cfg = tiny(stage="distill", method="gdd", init=str(gan_run), lr_g=3e-6, lr_d=4e-6)
    G, D = build_gan(cfg)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), 1.0, betas=cfg.betas) for m in (G, D))
    load_stage1(cfg, G, D, opt_g, opt_d)
    stage1 = load_pt(gan_run / "optimizers.pt", "optimizers")
    assert opt_g.state_dict()["state"][0]["step"] == stage1["opt_g"]["state"][0]["step"] == 6
    assert torch.equal(opt_d.state_dict()["state"][0]["exp_avg"], stage1["opt_d"]["state"][0]["exp_avg"])
    assert [g["lr"] for g in opt_g.param_groups] == [3e-6] and [g["lr"] for g in opt_d.param_groups] == [4e-6]


def test_stage2_refuses_a_stage1_run_without_optimiser_states(gan_run, tmp_path):
    import shutil
    old = tmp_path / "old-gan"
    shutil.copytree(gan_run, old)
    (old / "optimizers.pt").unlink()
    with pytest.raises(FileNotFoundError, match="optimizers.pt is missing.*rerun it"):
        train(tiny(stage="distill", method="gdd", init=str(old)), tmp_path / "d", progress=False)


def test_matching_gradient_reaches_generator_only():
    G = Generator(1, 10, width=8, noise=16)
    model = make_model("convnet3", 1, 10, width=4)
    y = torch.arange(10)
    real = torch.rand(10, 1, 32, 32)
    fake = G(torch.randn(10, 16), y)
    model.requires_grad_(False)
    with torch.no_grad():
        rl, rf = model.forward_with(real, "block2")
    sl, sf = model.forward_with(fake, "block2")
    (global_loss(rl, sl) + local_loss(rf, sf)).backward()
    assert all(p.grad is None for p in model.parameters())
    assert sum(p.grad.abs().sum() for p in G.parameters() if p.grad is not None) > 0


def test_pool_draws_every_member():
    g = torch.Generator().manual_seed(0)
    names = ("convnet3", "resnet10", "resnet18")
    assert {pool.draw(names, g) for _ in range(60)} == set(names)
    with pytest.raises(ValueError, match="unknown pool model"):
        pool.check_pool(("convnet3", "lenet"))


def test_methods_are_one_code_path(gan_run, tmp_path):
    dim, gdd = tiny(stage="distill", method="dim", init=str(gan_run)), tiny(stage="distill", method="gdd", init=str(gan_run))
    diff = {k for k, v in dataclasses.asdict(dim).items() if dataclasses.asdict(gdd)[k] != v}
    assert diff == {"method"}
    assert dim.weights() == (0.01, 0.0) and gdd.weights() == (0.01, 0.001)
    assert tiny(stage="distill", method="cgan", init=str(gan_run)).weights() == (0.0, 0.0)
    # gdd with lambda_l = 0 is dim, step for step
    train(dim, tmp_path / "dim", progress=False)
    train(dataclasses.replace(gdd, lambda_local=0.0), tmp_path / "gdd0", progress=False)
    train(gdd, tmp_path / "gdd", progress=False)
    a, b, c = (torch.load(tmp_path / n / "generator.pt")["state_dict"] for n in ("dim", "gdd0", "gdd"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_sampling_is_class_balanced_and_seeded(gan_run):
    G, meta = load_generator(gan_run)
    x, y = sample(G, 3, seed=5)
    assert x.shape == (30, 1, 32, 32) and torch.bincount(y).tolist() == [3] * 10
    assert 0 <= x.min() and x.max() <= 1
    assert torch.equal(x, sample(G, 3, seed=5)[0]) and not torch.equal(x, sample(G, 3, seed=6)[0])
    with pytest.raises(ValueError, match="ipc=0"):
        sample(G, 0)


def test_resume_gives_the_same_generator_as_an_uninterrupted_run(gan_run, tmp_path):
    cfg = tiny(stage="distill", method="gdd", init=str(gan_run))
    train(cfg, tmp_path / "whole", progress=False)
    part = train(cfg, tmp_path / "split", stop_after=4, progress=False)
    assert part == {"finished": False, "step": 4, "total": 6}
    assert load_pt(tmp_path / "split" / "checkpoint.pt", "checkpoint")["step"] == 4
    assert train(cfg, tmp_path / "split", progress=False)["finished"]
    a, b = (torch.load(tmp_path / n / "generator.pt")["state_dict"] for n in ("whole", "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "split" / "losses.csv").read_text() == (tmp_path / "whole" / "losses.csv").read_text()


def test_finished_run_is_reused_not_retrained(gan_run):
    mtime = (gan_run / "generator.pt").stat().st_mtime_ns
    again = train(tiny(), gan_run, progress=False)  # config read back from JSON (lists, not tuples)
    assert again["finished"] and (gan_run / "generator.pt").stat().st_mtime_ns == mtime
    with pytest.raises(ConfigMismatch, match="width: 8 -> 9"):
        train(tiny(width=9), gan_run, progress=False)


def test_resume_with_another_config_is_refused(tmp_path):
    train(tiny(), tmp_path, stop_after=2, progress=False)
    with pytest.raises(ConfigMismatch, match=r"batch: 8 -> 16.*lr_g"):
        train(tiny(batch=16, lr_g=1e-3), tmp_path, progress=False)


def test_nan_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    cfg = tiny()
    train(cfg, tmp_path, stop_after=2, progress=False)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    x = torch.full((64, 1, 32, 32), float("nan"))
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 3"):
        train(cfg, tmp_path, real=(x, torch.zeros(64, dtype=torch.long)), progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert load_pt(tmp_path / "checkpoint.pt", "checkpoint")["step"] == 2


def test_losses_are_read_back_once_per_checkpoint_not_every_step(tmp_path, readbacks):
    summary = train(tiny(method="gdd", epochs=1, steps_per_epoch=12, checkpoint_every=4), tmp_path, progress=False)
    assert summary["steps"] == 12 and len(readbacks) == 3  # 12 steps, 3 checkpoints
    rows = (tmp_path / "losses.csv").read_text().splitlines()
    assert len(rows) == 13 and rows[0].startswith("step,epoch,d_loss")


def test_invalid_configs_and_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="unknown method 'dm'"):
        tiny(method="dm")
    with pytest.raises(ValueError, match="loss weights must be >= 0"):
        tiny(lambda_local=-1.0)
    with pytest.raises(DataError, match="unknown dataset"):
        tiny(dataset="svhn")
    with pytest.raises(ValueError, match="needs the stage-1 run folder"):
        tiny(stage="distill", method="gdd")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_generator(tmp_path / "nothing.pt")
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(IncompatibleCheckpoint, match="not a gdd generator checkpoint"):
        load_generator(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="no finished stage-1 run"):
        train(tiny(stage="distill", method="gdd", init=str(tmp_path)), tmp_path / "d", progress=False)


def _gdd(*args, **kw):
    return subprocess.run([sys.executable, "-m", "gdd", *map(str, args)], capture_output=True, text=True, **kw)


def test_smoke_all_three_stages_from_the_command_line(tmp_path):
    # no wall-time assertion: speed is measured by benchmarks/, not by tests (CI load varies)
    r = _gdd("train-gan", "--dataset", "mnist", "--profile", "smoke", "--out", tmp_path / "gan", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    r = _gdd("distill", "--dataset", "mnist", "--profile", "smoke", "--method", "gdd", "--gan", tmp_path / "gan",
             "--out", tmp_path / "gdd", "--lambda-local", "0.01", "--pool", "convnet3,resnet10", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    r = _gdd("sample", "--generator", tmp_path / "gdd" / "generator.pt", "--ipc", "2", "--out", tmp_path / "set.pt",
             "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "set.png").stat().st_size > 0 and len(list((tmp_path / "gan").glob("grid_epoch*.png"))) == 1
    blob = torch.load(tmp_path / "set.pt")
    assert blob["images"].shape == (20, 1, 32, 32) and blob["meta"]["ipc"] == 2
    r = _gdd("evaluate", "--dataset", "mnist", "--source", tmp_path / "set.pt", "--runs", "1", "--epochs", "2",
             "--out", tmp_path / "r.json", "--device", "cpu")
    assert r.returncode == 0, r.stderr


def test_kill_9_then_rerun_resumes_and_finishes(tmp_path):
    args = ["train-gan", "--dataset", "mnist", "--profile", "smoke", "--steps-per-epoch", "400", "--checkpoint-every", "3",
            "--out", tmp_path, "--device", "cpu"]
    proc = subprocess.Popen([sys.executable, "-m", "gdd", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # generous: a loaded CI machine may start slowly
    while not (tmp_path / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert (tmp_path / "checkpoint.pt").exists(), "no checkpoint written within 600 s"
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "generator.pt").exists()
    r = _gdd(*args)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stdout and "from step" in r.stdout and "finished" in r.stdout
    assert (tmp_path / "generator.pt").exists()


def test_cli_rejects_bad_arguments(tmp_path):
    r = _gdd("distill", "--dataset", "mnist", "--method", "gdd", "--gan", tmp_path, "--out", tmp_path / "o",
             "--lambda-local", "-0.1")
    assert r.returncode != 0 and "must be >= 0" in r.stderr
    r = _gdd("distill", "--dataset", "mnist", "--method", "dm", "--gan", tmp_path, "--out", tmp_path / "o")
    assert r.returncode != 0 and "invalid choice: 'dm'" in r.stderr
    r = _gdd("sample", "--generator", tmp_path / "none.pt", "--ipc", "1", "--out", tmp_path / "s.pt")
    assert r.returncode != 0 and "does not exist" in r.stderr
    r = _gdd("sample", "--generator", tmp_path / "none.pt", "--ipc", "-2", "--out", tmp_path / "s.pt")
    assert r.returncode != 0 and "positive integer" in r.stderr


def test_experiment_configs_do_not_depend_on_where_the_checkout_lies(tmp_path, monkeypatch):
    """A config names run folders as $GDD_RUNS/..., so a fresh clone elsewhere finds the stored
    results instead of recomputing them; every committed record follows that rule."""
    import json
    from pathlib import Path
    from gdd import configs
    from gdd.results import config_key, local, portable
    keys = set()
    for where in ("a", "b"):
        monkeypatch.setenv("GDD_RUNS", str(tmp_path / where / "runs"))
        cfg = configs.distill_config("smoke", "mnist", "gdd")
        assert cfg.init.startswith("$GDD_RUNS/") and local(cfg.init) == configs.generator_folder(
            "smoke", configs.gan_config("smoke", "mnist"))
        keys.add((config_key(cfg), config_key(configs.datafree_config("smoke", "mnist", "ssdkd"))))
    assert len(keys) == 1
    assert portable(tmp_path / "elsewhere") == str(tmp_path / "elsewhere") == str(local(tmp_path / "elsewhere"))
    root = Path(__file__).resolve().parent.parent / "results"
    records = sorted(root.glob("*/*.json"))
    assert records, "no committed results"
    for path in records:
        record = json.loads(path.read_text())
        text = json.dumps(record["config"])
        assert '"/' not in text, f"{path.name}: its config holds an absolute path"
        assert path.stem.endswith(config_key(record["config"])), f"{path.name}: file key != config key"
