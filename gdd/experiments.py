"""The paper's experiments as cached functions: each returns a stored record when the same
experiment (profile + config) already ran, and otherwise runs it and stores it under
``results/<profile>/``. Notebooks and ``gdd reproduce`` call these; nothing else trains."""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from gdd import data
from gdd.deploy import sample_to_file
from gdd.distill import GenConfig, load_finished, train
from gdd.evaluate import EvalConfig, evaluate_set
from gdd.files import load_image_set
from gdd.profiles import Profile, get_profile
from gdd.results import cached_run, config_key, is_stale, local, portable, results_root, runs_root


def _profile(profile: Profile | str) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def test_size(profile: Profile, model: str = "convnet3") -> int | None:
    """How many test images to use (None: all): ``eval_test_size``, or ``cross_test_size`` for
    the other architectures of Table 2, which are slow to test on a CPU."""
    return profile.eval_test_size if model == "convnet3" else (profile.cross_test_size or profile.eval_test_size)


def test_split(dataset: str, profile: Profile, model: str = "convnet3") -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.load(dataset, train=False)
    n = test_size(profile, model)
    return (x, y) if n is None else (x[:n], y[:n])


def eval_config(profile: Profile, ipc: int, model: str = "convnet3", seed: int = 0) -> EvalConfig:
    """The profile's evaluation budget; Table 2's other architectures use the ``cross_*`` budget."""
    if model != "convnet3":
        return EvalConfig(model=model, epochs=profile.cross_epochs or profile.epochs_for(ipc),
                          runs=profile.cross_runs or profile.eval_runs, seed=seed)
    return EvalConfig(model=model, epochs=profile.epochs_for(ipc), runs=profile.eval_runs, seed=seed)


def evaluate_images(images, labels, dataset: str, profile: Profile, ipc: int, model: str = "convnet3",
                    device="cpu", seed: int = 0) -> dict:
    xt, yt = test_split(dataset, profile, model)
    return evaluate_set(images, labels, xt, yt, dataset, eval_config(profile, ipc, model, seed), device)


def random_baseline(profile: Profile | str, dataset: str, ipc: int, model: str = "convnet3",
                    seed: int = 0, device="cpu", force: bool | float = False) -> dict:
    """Class-balanced random real subset at ``ipc``, trained on with the evaluation protocol."""
    profile = _profile(profile)
    cfg = eval_config(profile, ipc, model, seed)
    config = {"dataset": dataset, "method": "random", "ipc": ipc, "eval": cfg,
              "test_size": test_size(profile, model)}

    def run():
        x, y = data.load(dataset, train=True)
        idx = data.class_balanced_subset(y, ipc, data.get_spec(dataset).num_classes,
                                         torch.Generator().manual_seed(seed))
        return evaluate_images(x[idx], y[idx], dataset, profile, ipc, model, device, seed)

    return cached_run(f"{dataset}-random-ipc{ipc}-{model}", config, run, profile.name, force, device)


# ---- the generative pipeline: stage 1 (GAN), stage 2 (distillation), stage 3 (deployment) ----

def gan_config(profile: Profile | str, dataset: str, seed: int = 0) -> GenConfig:
    p = _profile(profile)
    return GenConfig(dataset=dataset, stage="gan", method="cgan", width=p.gan_width, noise=p.gan_noise,
                     epochs=p.gan_epochs, batch=p.gan_batch, steps_per_epoch=p.gan_steps_per_epoch,
                     train_size=p.gan_train_size, lr_g=p.gan_lr, lr_d=p.gan_lr, seed=seed,
                     checkpoint_every=p.checkpoint_every)


def run_folder(profile: Profile | str, cfg: GenConfig) -> Path:
    key = config_key(cfg)
    return runs_root() / _profile(profile).name / cfg.dataset / f"{cfg.stage}-{cfg.method}-{key}"


def distill_config(profile: Profile | str, dataset: str, method: str, lambda_global: float | None = None,
                   lambda_local: float | None = None, pool: tuple[str, ...] | None = None,
                   seed: int = 0) -> GenConfig:
    p = _profile(profile)
    gan = gan_config(p, dataset, seed)
    return GenConfig(dataset=dataset, stage="distill", method=method,
                     lambda_global=p.lambda_global if lambda_global is None else lambda_global,
                     lambda_local=p.lambda_local if lambda_local is None else lambda_local,
                     pool=tuple(pool or p.pool), pool_width=p.pool_width, width=gan.width, noise=gan.noise,
                     epochs=p.distill_epochs, batch=p.distill_batch, steps_per_epoch=p.distill_steps_per_epoch,
                     train_size=p.gan_train_size, lr_g=p.distill_lr, lr_d=p.distill_lr, seed=seed,
                     init=portable(run_folder(p, gan)), checkpoint_every=p.checkpoint_every)


def train_generator(profile: Profile | str, cfg: GenConfig, device="cpu", force: bool | float = False,
                    stop_after: int | None = None) -> tuple[dict, Path]:
    """Run (or resume, or reuse) a stage-1 or stage-2 run; (summary, run folder).
    ``force`` as in ``results.is_stale``: the run is redone if its last write is stale."""
    folder = run_folder(profile, cfg)
    last = max(folder.glob("*.json"), key=lambda f: f.stat().st_mtime, default=None) if folder.exists() else None
    if last is not None and is_stale(last, force):
        shutil.rmtree(folder)
    if cfg.stage == "distill":
        init = gan_config(profile, cfg.dataset, cfg.seed)
        if cfg.init == portable(run_folder(profile, init)):
            summary, _ = train_generator(profile, init, device, force, stop_after=stop_after)
            if not summary["finished"]:
                return summary, folder
    return train(cfg, folder, device=device, stop_after=stop_after), folder


def method_result(profile: Profile | str, dataset: str, method: str, ipc: int, model: str = "convnet3",
                  device="cpu", force: bool | float = False, seed: int = 0, **distill_overrides) -> dict:
    """Distil with ``method`` (cgan | dim | gdd), sample ``ipc`` images per class, evaluate."""
    p = _profile(profile)
    if method == "random":
        return random_baseline(p, dataset, ipc, model, seed, device, force)
    default = distill_config(p, dataset, method, seed=seed)
    distill_overrides = {k: v for k, v in distill_overrides.items() if getattr(default, k) != v}
    gen_cfg = distill_config(p, dataset, method, seed=seed, **distill_overrides)
    cfg = eval_config(p, ipc, model, seed)
    config = {"dataset": dataset, "method": method, "ipc": ipc, "eval": cfg, "generator": gen_cfg,
              "gan": gan_config(p, dataset, seed), "sample_seed": seed, "test_size": test_size(p, model)}

    def run():
        summary, folder = train_generator(p, gen_cfg, device, force)
        gan_summary = load_finished(local(gen_cfg.init))
        set_path = folder / f"ipc{ipc}-seed{seed}.pt"
        timing = sample_to_file(folder / "generator.pt", ipc, seed, set_path, device)
        x, y, _ = load_image_set(set_path)
        result = evaluate_images(x, y, dataset, p, ipc, model, device, seed)
        return {**result, "sampling": timing, "distill_wall_time_s": summary["wall_time_s"],
                "gan_wall_time_s": gan_summary["wall_time_s"], "image_set": str(set_path)}

    tag = "".join(f"-{k}{'+'.join(v) if isinstance(v, tuple) else v}" for k, v in sorted(distill_overrides.items()))
    return cached_run(f"{dataset}-{method}{tag}-ipc{ipc}-{model}", config, run, p.name, force, device)


def strong_matching(profile: Profile | str, device="cpu", force: bool | float = False,
                    ipcs: tuple[int, ...] = (1, 10)) -> dict[tuple[str, int], dict]:
    """``dim`` and ``gdd`` on the focus dataset with the profile's ``strong_lambdas`` (matching
    weights at which the matching gradients can pull): {(method, ipc): record}."""
    p = _profile(profile)
    lam_g, lam_l = p.strong_lambdas
    return {(m, ipc): method_result(p, p.focus_dataset, m, ipc, device=device, force=force, lambda_global=lam_g,
                                    lambda_local=lam_l) for m in ("dim", "gdd") for ipc in ipcs}


# ---- small artefacts the book's figures need (committed under results/, unlike runs/) ----

def _curves(csv_path: Path, columns: tuple[str, ...], points: int = 200) -> dict:
    """Loss curves from a run's losses.csv, averaged into at most ``points`` bins."""
    import csv
    rows = list(csv.DictReader(open(csv_path)))
    bins = max(1, len(rows) // points)
    out = {"step": []} | {c: [] for c in columns}
    for i in range(0, len(rows), bins):
        chunk = rows[i:i + bins]
        out["step"].append(int(chunk[-1]["step"]))
        for c in columns:
            vals = [float(r[c]) for r in chunk if r.get(c) not in (None, "")]
            out[c].append(sum(vals) / len(vals) if vals else None)
    return out


def generator_record(profile: Profile | str, dataset: str, method: str = "gan", device="cpu",
                     force: bool | float = False, **distill_overrides) -> dict:
    """Train (or reuse) the stage-1 GAN (``method="gan"``) or a stage-2 run, and store its loss
    curves and final sample grid (PNG under results/) for the book."""
    p = _profile(profile)
    cfg = gan_config(p, dataset) if method == "gan" else distill_config(p, dataset, method, **distill_overrides)

    def run():
        summary, folder = train_generator(p, cfg, device, force)
        grid = results_root() / p.name / "images" / f"{dataset}-{method}-{config_key(cfg)}-grid.png"
        grid.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sorted(folder.glob("grid_epoch*.png"))[-1], grid)
        cols = ("d_loss", "wasserstein", "gp", "g_adv", "g_cls", "l_global", "l_local", "pool_loss")
        return {"wall_time_s": summary["wall_time_s"], "steps": summary["steps"], "grid_png": str(grid),
                "curves": _curves(folder / "losses.csv", cols)}

    return cached_run(f"{dataset}-{method}-generator", {"generator": cfg}, run, p.name, force, device)


def sample_grid(profile: Profile | str, dataset: str, method: str, ipc: int = 10, seed: int = 0,
                device="cpu", force: bool | float = False) -> dict:
    """Figure 2: a grid of ``ipc`` sampled images per class (one row per class), stored as PNG."""
    p = _profile(profile)
    cfg = gan_config(p, dataset, seed) if method == "gan" else distill_config(p, dataset, method, seed=seed)

    def run():
        _, folder = train_generator(p, cfg, device, force)
        png = results_root() / p.name / "images" / f"{dataset}-{method}-ipc{ipc}-seed{seed}.png"
        timing = sample_to_file(folder / "generator.pt", ipc, seed, folder / f"figure-ipc{ipc}-seed{seed}.pt", device)
        png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / f"figure-ipc{ipc}-seed{seed}.png", png)
        return {"png": str(png), "sampling": timing}

    return cached_run(f"{dataset}-{method}-grid-ipc{ipc}", {"generator": cfg, "ipc": ipc, "seed": seed},
                      run, p.name, force, device)


def gradient_shares(profile: Profile | str, dataset: str, pool_steps: int = 50, batches: int = 5,
                    device="cpu", force: bool | float = False) -> dict:
    """How strongly each term of L_G pulls on the generator: the norm of the gradient of
    L_cGAN, L_global and L_local (unweighted) with respect to the stage-1 generator's
    parameters, with each pool model trained for ``pool_steps`` SGD steps on real batches first.
    Averaged over ``batches`` batches; the weighted ratios say whether lambda_g and lambda_l
    can move the generator at all next to the adversarial term."""
    from gdd import augment, pool
    from gdd.distill import build_gan
    from gdd.data import normalize
    from gdd.gan import generator_gan_loss, to_unit
    from gdd.losses import global_loss, local_loss
    p = _profile(profile)
    gan = gan_config(p, dataset)
    cfg = distill_config(p, dataset, "gdd")
    config = {"gan": gan, "pool": cfg.pool, "pool_width": cfg.pool_width, "pool_steps": pool_steps,
              "batches": batches, "batch": cfg.batch}

    def run():
        _, folder = train_generator(p, gan, device)
        G, D = build_gan(gan)
        G.load_state_dict(torch.load(folder / "generator.pt")["state_dict"])
        D.load_state_dict(torch.load(folder / "critic.pt")["state_dict"])
        G, D = G.to(device).train(), D.to(device)
        x, y = data.load(dataset, train=True)
        spec = data.get_spec(dataset)
        g = torch.Generator().manual_seed(0)
        fam = augment.families_for(dataset)
        out = {}
        for name in cfg.pool:
            model, layer = pool.build(name, spec.channels, spec.num_classes, cfg.pool_width)
            model.to(device)
            opt = torch.optim.SGD(model.parameters(), cfg.pool_lr, momentum=0.9, weight_decay=5e-4)
            for _ in range(pool_steps):
                idx = torch.randint(len(x), (cfg.batch,), generator=g)
                loss = torch.nn.functional.cross_entropy(
                    model(augment.augment(normalize(x[idx].to(device), dataset), fam, g)), y[idx].to(device))
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.requires_grad_(False)
            norms = {"cgan": [], "global": [], "local": []}
            for _ in range(batches):
                idx = torch.randint(len(x), (cfg.batch,), generator=g)
                xr, yr = x[idx].to(device), y[idx].to(device)
                fake = G(torch.randn(len(yr), gan.noise, device=device), yr)
                draw = augment.sample(len(yr), fam, g)
                with torch.no_grad():
                    rl, rf = model.forward_with(augment.apply(normalize(xr, dataset), draw), layer)
                sl, sf = model.forward_with(augment.apply(normalize(to_unit(fake), dataset), draw), layer)
                terms = {"cgan": generator_gan_loss(D, fake, yr)[0], "global": global_loss(rl, sl),
                         "local": local_loss(rf, sf)}
                for k, t in terms.items():
                    grads = torch.autograd.grad(t, list(G.parameters()), retain_graph=True, allow_unused=True)
                    norms[k].append(torch.sqrt(sum((gr ** 2).sum() for gr in grads if gr is not None)).item())
            mean = {k: sum(v) / len(v) for k, v in norms.items()}
            out[name] = {**{f"grad_{k}": v for k, v in mean.items()},
                         "weighted_global_over_cgan": cfg.lambda_global * mean["global"] / mean["cgan"],
                         "weighted_local_over_cgan": cfg.lambda_local * mean["local"] / mean["cgan"]}
        return out

    return cached_run(f"{dataset}-gradient-shares", config, run, p.name, force, device)
