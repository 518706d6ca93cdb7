"""The paper's experiments as cached functions: each returns a stored record when the same
experiment (profile + config) already ran, and otherwise runs it and stores it under
``results/<profile>/``. ``redo_before`` (a POSIX time, see ``results.is_stale``) recomputes
records and run folders written before it. The grids of ``gdd.grids`` call these."""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import torch

from gdd import configs, coreset, data, dm, pool
from gdd.configs import as_profile
from gdd.deploy import load_generator, sample_to_file
from gdd.distill import (GenConfig, build_gan, load_stage1, matching_draws, matching_losses, train, train_pool_model,
                         training_data)
from gdd.evaluate import evaluate_generator, evaluate_set
from gdd.imageset import load_image_set
from gdd.gan import generator_gan_loss
from gdd.profiles import Profile
from gdd.files import atomic_save, load_pt
from gdd.results import cached_run, config_key, portable, results_root


def test_split(profile: Profile, dataset: str, model: str = "convnet3") -> tuple[torch.Tensor, torch.Tensor]:
    """The profile's test images for ``model`` (the first ``configs.test_size`` of the test set)."""
    x, y = data.load(dataset, train=False)
    n = configs.test_size(profile, model)
    return (x, y) if n is None else (x[:n], y[:n])


def evaluate_images(images, labels, dataset: str, profile: Profile, ipc: int, model: str = "convnet3",
                    device="cpu", seed: int = 0) -> dict:
    """Train the profile's evaluation networks on (images, labels) and test them."""
    xt, yt = test_split(profile, dataset, model)
    return evaluate_set(images, labels, xt, yt, dataset, configs.eval_config(profile, ipc, model, seed), device)


def random_baseline(profile: Profile | str, dataset: str, ipc: int, model: str = "convnet3",
                    seed: int = 0, device="cpu", redo_before: float | None = None) -> dict:
    """Class-balanced random real subset at ``ipc``, trained on with the evaluation protocol."""
    p = as_profile(profile)
    config = {"dataset": dataset, "method": "random", "ipc": ipc, "eval": configs.eval_config(p, ipc, model, seed),
              "test_size": configs.test_size(p, model)}

    def run():
        x, y = data.load(dataset, train=True)
        idx = data.class_balanced_subset(y, ipc, data.get_spec(dataset).num_classes,
                                         torch.Generator().manual_seed(seed))
        return evaluate_images(x[idx], y[idx], dataset, p, ipc, model, device, seed)

    return cached_run(f"{dataset}-random-ipc{ipc}-{model}", config, run, p.name, redo_before, device)


# ---- image-based baselines: DM and the coresets (herding, k-center) ----

IMAGE_METHODS = ("dm", "herding", "k_center")


def coreset_embeddings(profile: Profile | str, dataset: str, seed: int = 0, device="cpu"
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, labels, embeddings) of the pool the coresets select from: the training set (or
    the profile's subset of it) and its embeddings by the feature network
    (``coreset.train_feature_net``), computed once and kept in the run folder."""
    cfg = configs.feature_config(profile, dataset, seed)
    folder = configs.baseline_folder(profile, "features", cfg)
    x, y = data.real_subset(dataset, cfg.train_size, cfg.seed)
    path = folder / "embeddings.pt"
    if path.exists():
        return x, y, load_pt(path, "coreset embeddings")["embeddings"]
    print(f"[gdd] coreset feature network ({cfg.epochs} epochs on {len(x)} images): outputs in {folder}",
          file=sys.stderr)
    net, losses = coreset.train_feature_net(x.to(device), y.to(device), dataset, cfg.epochs, cfg.batch, cfg.lr,
                                            cfg.seed, cfg.width)
    emb = coreset.embed(net, x, dataset)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save({"embeddings": emb, "epoch_losses": losses}, path)
    return x, y, emb


def image_method_result(profile: Profile | str, dataset: str, method: str, ipc: int, model: str = "convnet3",
                        device="cpu", redo_before: float | None = None, seed: int = 0,
                        matcher: str = "convnet3") -> dict:
    """An image-based baseline at ``ipc``: DM's synthetic images (``dm.train``, embedding network
    ``matcher``) or a coreset of real images (``herding``, ``k_center``), evaluated on ``model``
    like every other image set; the record keeps the time it took to make the set (``make_s``)."""
    p = as_profile(profile)
    if method not in IMAGE_METHODS:
        raise ValueError(f"unknown image-based method {method!r}; valid: {', '.join(IMAGE_METHODS)}")
    made_by = (configs.dm_config(p, dataset, ipc, seed, matcher) if method == "dm"
               else configs.feature_config(p, dataset, seed))
    config = {"dataset": dataset, "method": method, "ipc": ipc, "eval": configs.eval_config(p, ipc, model, seed),
              "made_by": made_by, "test_size": configs.test_size(p, model)}

    def run():
        start = time.time()
        if method == "dm":
            folder = configs.baseline_folder(p, f"dm-ipc{ipc}", made_by)
            summary = dm.train(made_by, folder, device=device, redo_before=redo_before)
            images, labels, _ = load_image_set(folder / "images.pt")
            made = {"make_s": summary["wall_time_s"], "dm_provenance": summary["provenance"],
                    "image_set": portable(folder / "images.pt")}
        else:
            x, y, emb = coreset_embeddings(p, dataset, seed, device)
            t0 = time.time()
            idx = coreset.select(method, y, ipc, data.get_spec(dataset).num_classes, emb, seed)
            images, labels = x[idx], y[idx]
            made = {"make_s": time.time() - start, "select_s": time.time() - t0}
        return {**evaluate_images(images, labels, dataset, p, ipc, model, device, seed), **made}

    tag = "" if matcher == "convnet3" else f"-matcher{matcher}"
    return cached_run(f"{dataset}-{method}{tag}-ipc{ipc}-{model}", config, run, p.name, redo_before, device)


def redeploy_race(profile: Profile | str, dataset: str, device="cpu", redo_before: float | None = None,
                  seed: int = 0, arch: str = "resnet18") -> dict:
    """The re-deployment race, measured in one run on one machine: for each IPC of the profile,
    in turn, and for a change of architecture (IPC 10, ``arch``), the wall time to obtain a new
    set by DM optimised from scratch (the profile's DM budget, in a fresh folder; for ``arch``
    with that architecture as its embedding network) and by sampling the trained ``gdd``
    generator once. The accuracy each set reaches is in Table 1 and in ``grids.redeploy``
    (the same configurations). {leg: {"dm_s", "sample_s"}}, legs "1", "10", ..., and ``arch``."""
    p = as_profile(profile)
    gen_cfg = configs.distill_config(p, dataset, "gdd", seed=seed)
    legs = {str(ipc): (ipc, configs.dm_config(p, dataset, ipc, seed)) for ipc in p.ipcs}
    legs[arch] = (10, configs.dm_config(p, dataset, 10, seed, arch))
    config = {"dataset": dataset, "legs": legs, "generator": gen_cfg}

    def run():
        _, folder = train_generator(p, gen_cfg, device, redo_before)
        race = configs.baseline_folder(p, "race", gen_cfg)
        shutil.rmtree(race, ignore_errors=True)  # from scratch: nothing reused
        out = {}
        for leg, (ipc, dm_cfg) in legs.items():
            start = time.time()
            dm.train(dm_cfg, race / f"dm-{leg}", device=device)
            dm_s = time.time() - start
            timing = sample_to_file(folder / "generator.pt", ipc, seed, race / f"gdd-{leg}.pt", device)
            out[leg] = {"ipc": ipc, "dm_s": dm_s, "sample_s": timing["load_s"] + timing["sample_s"]}
        return out

    return cached_run(f"{dataset}-redeploy-race", config, run, p.name, redo_before, device)


# ---- the generative pipeline: stage 1 (GAN), stage 2 (distillation), stage 3 (deployment) ----

def train_generator(profile: Profile | str, cfg: GenConfig, device="cpu", redo_before: float | None = None,
                    stop_after: int | None = None) -> tuple[dict, Path]:
    """Run (or resume, or reuse) a stage-1 or stage-2 run, stage 1 first if stage 2 needs the
    profile's; (summary, run folder)."""
    folder = configs.generator_folder(profile, cfg)
    if cfg.stage == "distill":
        gan = configs.gan_config(profile, cfg.dataset, cfg.seed)
        if cfg.init == portable(configs.generator_folder(profile, gan)):
            summary, _ = train_generator(profile, gan, device, redo_before, stop_after)
            if not summary["finished"]:
                return summary, folder
    return train(cfg, folder, device=device, stop_after=stop_after, redo_before=redo_before), folder


def method_result(profile: Profile | str, dataset: str, method: str, ipc: int, model: str = "convnet3",
                  device="cpu", redo_before: float | None = None, seed: int = 0, protocol: str = "fixed",
                  **distill_overrides) -> dict:
    """Distil with ``method`` (cgan | dim | gdd), sample ``ipc`` images per class, evaluate
    (``protocol="dim"``: DiM's protocol, fresh samples every epoch, instead of the fixed set);
    ``method`` random: the random real subset; dm, herding, k_center: ``image_method_result``."""
    p = as_profile(profile)
    if method == "random":
        return random_baseline(p, dataset, ipc, model, seed, device, redo_before)
    if method in IMAGE_METHODS:
        return image_method_result(p, dataset, method, ipc, model, device, redo_before, seed)
    default = configs.distill_config(p, dataset, method, seed=seed)
    distill_overrides = {k: v for k, v in distill_overrides.items() if getattr(default, k) != v}
    gen_cfg = configs.distill_config(p, dataset, method, seed=seed, **distill_overrides)
    eval_cfg = configs.eval_config(p, ipc, model, seed, protocol)
    config = {"dataset": dataset, "method": method, "ipc": ipc, "eval": eval_cfg,
              "generator": gen_cfg, "gan": configs.gan_config(p, dataset, seed), "sample_seed": seed,
              "test_size": configs.test_size(p, model)}

    def run():
        summary, folder = train_generator(p, gen_cfg, device, redo_before)
        gan_summary = train_generator(p, configs.gan_config(p, dataset, seed), device)[0]
        timings = {"distill_wall_time_s": summary["wall_time_s"], "gan_wall_time_s": gan_summary["wall_time_s"],
                   "generator_provenance": summary["provenance"]}
        if protocol == "dim":
            G, _ = load_generator(folder / "generator.pt", device)
            xt, yt = test_split(p, dataset, model)
            return {**evaluate_generator(G, ipc, xt, yt, dataset, eval_cfg, device), **timings}
        set_path = folder / f"ipc{ipc}-seed{seed}.pt"
        timing = sample_to_file(folder / "generator.pt", ipc, seed, set_path, device)
        x, y, _ = load_image_set(set_path)
        result = evaluate_images(x, y, dataset, p, ipc, model, device, seed)
        return {**result, "sampling": timing, **timings, "image_set": portable(set_path)}

    tag = "".join(f"-{k}{'+'.join(v) if isinstance(v, tuple) else v}" for k, v in sorted(distill_overrides.items()))
    tag += "-dimprotocol" if protocol == "dim" else ""
    return cached_run(f"{dataset}-{method}{tag}-ipc{ipc}-{model}", config, run, p.name, redo_before, device)


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
                     redo_before: float | None = None, **distill_overrides) -> dict:
    """Train (or reuse) the stage-1 GAN (``method="gan"``) or a stage-2 run, and store its loss
    curves and final sample grid (PNG under results/) for the book."""
    p = as_profile(profile)
    cfg = (configs.gan_config(p, dataset) if method == "gan"
           else configs.distill_config(p, dataset, method, **distill_overrides))

    def run():
        summary, folder = train_generator(p, cfg, device, redo_before)
        grid = results_root() / p.name / "images" / f"{dataset}-{method}-{config_key(cfg)}-grid.png"
        grid.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sorted(folder.glob("grid_epoch*.png"))[-1], grid)
        cols = ("d_loss", "wasserstein", "gp", "g_adv", "g_cls", "l_global", "l_local", "pool_loss")
        return {"wall_time_s": summary["wall_time_s"], "steps": summary["steps"], "grid_png": str(grid),
                "curves": _curves(folder / "losses.csv", cols), "provenance": summary["provenance"]}

    return cached_run(f"{dataset}-{method}-generator", {"generator": cfg}, run, p.name, redo_before, device)


def sample_grid(profile: Profile | str, dataset: str, method: str, ipc: int = 10, seed: int = 0,
                device="cpu", redo_before: float | None = None) -> dict:
    """Figure 2: a grid of ``ipc`` sampled images per class (one row per class), stored as PNG."""
    p = as_profile(profile)
    cfg = (configs.gan_config(p, dataset, seed) if method == "gan"
           else configs.distill_config(p, dataset, method, seed=seed))

    def run():
        _, folder = train_generator(p, cfg, device, redo_before)
        png = results_root() / p.name / "images" / f"{dataset}-{method}-ipc{ipc}-seed{seed}.png"
        timing = sample_to_file(folder / "generator.pt", ipc, seed, folder / f"figure-ipc{ipc}-seed{seed}.pt", device)
        png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / f"figure-ipc{ipc}-seed{seed}.png", png)
        return {"png": str(png), "sampling": timing}

    return cached_run(f"{dataset}-{method}-grid-ipc{ipc}", {"generator": cfg, "ipc": ipc, "seed": seed},
                      run, p.name, redo_before, device)


def gradient_shares(profile: Profile | str, dataset: str, batches: int = 5, device="cpu",
                    redo_before: float | None = None) -> dict:
    """How strongly each term of L_G pulls on the generator: the norm of the gradient of
    L_cGAN, L_global and L_local (unweighted) with respect to the stage-1 generator's
    parameters, for each pool model at the start of a distillation epoch (trained for
    ``pool_steps`` SGD steps, as before the epoch's first generator step) and at its end
    (``pool_steps`` x steps per epoch), with the training loop's functions
    (``distill.train_pool_model``, ``distill.matching_losses``). Averaged over ``batches``
    batches; the weighted ratios say whether lambda_g and lambda_l can move the generator next
    to the adversarial term: {pool model: {"start" | "end": {...}}}."""
    p = as_profile(profile)
    gan = configs.gan_config(p, dataset)
    cfg = configs.distill_config(p, dataset, "gdd")
    steps_per_epoch = cfg.steps_per_epoch or (cfg.train_size or data.get_spec(dataset).train_size) // cfg.batch
    checkpoints = {"start": cfg.pool_steps, "end": cfg.pool_steps * steps_per_epoch}
    config = {"gan": gan, "pool": cfg.pool, "pool_width": cfg.pool_width, "pool_lr": cfg.pool_lr,
              "checkpoints": checkpoints, "batches": batches, "batch": cfg.batch,
              "local_reduction": cfg.local_reduction, "lambdas": cfg.weights()}

    def run():
        train_generator(p, gan, device)
        G, D = build_gan(gan)
        load_stage1(cfg, G, D)
        G, D = G.to(device).train(), D.to(device)
        x, y = (t.to(device) for t in training_data(gan))
        spec = data.get_spec(dataset)
        g = torch.Generator().manual_seed(0)
        lam_g, lam_l = cfg.weights()
        out = {}
        for name in cfg.pool:
            model, layer = pool.build(name, spec.channels, spec.num_classes, cfg.pool_width)
            model.to(device)
            opt = torch.optim.SGD(model.parameters(), cfg.pool_lr, momentum=0.9, weight_decay=5e-4)
            trained, out[name] = 0, {}
            for when, steps in checkpoints.items():
                train_pool_model(model, opt, x, y, steps - trained, cfg.batch, dataset, g)
                trained = steps
                norms = {"cgan": [], "global": [], "local": []}
                for _ in range(batches):
                    idx = torch.randint(len(x), (cfg.batch,), generator=g).to(device)
                    xr, yr = x[idx], y[idx]
                    fake = G(torch.randn(len(yr), gan.noise, device=device), yr)
                    l_global, l_local = matching_losses(model, layer, data.normalize(xr, dataset), fake, dataset,
                                                        matching_draws(len(yr), g), cfg.local_reduction)
                    terms = {"cgan": generator_gan_loss(D, fake, yr)[0], "global": l_global, "local": l_local}
                    for k, t in terms.items():
                        grads = torch.autograd.grad(t, list(G.parameters()), retain_graph=True, allow_unused=True)
                        norms[k].append(torch.sqrt(sum((gr ** 2).sum() for gr in grads if gr is not None)).item())
                mean = {k: sum(v) / len(v) for k, v in norms.items()}
                out[name][when] = {"pool_steps": steps, **{f"grad_{k}": v for k, v in mean.items()},
                                   "weighted_global_over_cgan": lam_g * mean["global"] / mean["cgan"],
                                   "weighted_local_over_cgan": lam_l * mean["local"] / mean["cgan"]}
        return out

    return cached_run(f"{dataset}-gradient-shares", config, run, p.name, redo_before, device)
