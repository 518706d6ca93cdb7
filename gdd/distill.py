"""Stages 1 and 2 as one loop: conditional-GAN training, and distillation = the same loop
started from the stage-1 generator with the matching terms switched on:

    L_G = L_cGAN + lambda_g * L_global + lambda_l * L_local

Methods of the paper's comparison, one code path with different weights:
``cgan`` (lambda_g = lambda_l = 0: no matching step), ``dim`` (lambda_l = 0), ``gdd`` (both).

Every step follows DiM's released ``pool_match.py: train``: a generator step on fresh noise with
the real batch's labels (when matching: first ``pool_steps`` SGD steps of the current pool
model on random real batches, then the matching terms under one batch-wide augmentation draw
shared by the real and the synthetic batch), then a critic step on new noise with random
labels. A new pool model is drawn and freshly initialised at every epoch. Stage 2 starts from
the stage-1 weights *and* Adam states, with the learning rates reset. Runs follow the run-folder protocol (``gdd.runfolder``): they
checkpoint every ``checkpoint_every`` steps and at each epoch's end, resume when rerun, and
refuse another config.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gdd import augment, data, pool
from gdd.data import normalize, to_device
from gdd.files import BadFile, IncompatibleCheckpoint, atomic_save, load_pt, save_png
from gdd.gan import Critic, Generator, critic_loss, from_unit, generator_gan_loss, to_unit
from gdd.losses import LOCAL_REDUCTIONS, global_loss, local_loss
from gdd.results import local
from gdd.runfolder import open_run

METHODS = ("cgan", "dim", "gdd")

# Stage 2 starts from DiM's matching-stage settings; GenConfig's own defaults are stage 1's.
STAGE_DEFAULTS = {"gan": {}, "distill": {"epochs": 100, "batch": 64, "lr_g": 5e-6, "lr_d": 5e-6}}


@dataclass
class GenConfig:
    """One generator-training run. Defaults are DiM's stage-1 (GAN) settings; stage 2 starts
    from ``STAGE_DEFAULTS["distill"]`` (``for_stage``)."""
    dataset: str
    stage: str = "gan"                     # "gan": from scratch; "distill": tune the ``init`` generator
    method: str = "cgan"                   # cgan | dim | gdd
    lambda_global: float = 0.01
    lambda_local: float = 0.001
    pool: tuple[str, ...] = ("convnet3", "resnet10", "resnet18", "resnet10_ap", "resnet18_ap")
    pool_width: int | None = None          # None: each pool model's default width
    pool_lr: float = 0.01
    pool_steps: int = 16                   # SGD steps of the pool model before each generator step
    local_reduction: str = "sum"           # L_local over C*H*W: "sum" (DiM's code) or "mean"
    width: int = 196
    noise: int = 100
    epochs: int = 150
    batch: int = 128
    steps_per_epoch: int | None = None     # None: one pass over the training data
    train_size: int | None = None          # None: the whole training set
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    gp_weight: float = 10.0
    init: str | None = None                # folder of the stage-1 run (stage "distill")
    seed: int = 0
    checkpoint_every: int = 100            # steps

    def __post_init__(self):
        data.get_spec(self.dataset)
        self.pool, self.betas = tuple(self.pool), tuple(self.betas)
        if self.stage not in ("gan", "distill"):
            raise ValueError(f"unknown stage {self.stage!r}; valid: gan, distill")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        if self.lambda_global < 0 or self.lambda_local < 0:
            raise ValueError(f"loss weights must be >= 0, got lambda_global={self.lambda_global}, "
                             f"lambda_local={self.lambda_local}")
        if self.stage == "distill" and not self.init:
            raise ValueError("stage 'distill' needs the stage-1 run folder (--gan DIR)")
        if self.local_reduction not in LOCAL_REDUCTIONS:
            raise ValueError(f"unknown local-loss reduction {self.local_reduction!r}; "
                             f"valid: {', '.join(LOCAL_REDUCTIONS)}")
        for name in ("epochs", "batch", "width", "noise", "pool_steps", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        pool.check_pool(self.pool)

    @classmethod
    def for_stage(cls, dataset: str, stage: str, **fields) -> "GenConfig":
        """A config of ``stage`` with that stage's defaults, then ``fields``."""
        return cls(dataset=dataset, stage=stage, **{**STAGE_DEFAULTS[stage], **fields})

    def weights(self) -> tuple[float, float]:
        """(lambda_g, lambda_l) actually used by the method."""
        if self.method == "cgan":
            return 0.0, 0.0
        if self.method == "dim":
            return self.lambda_global, 0.0
        return self.lambda_global, self.lambda_local


def training_data(cfg: GenConfig) -> tuple[torch.Tensor, torch.Tensor]:
    return data.real_subset(cfg.dataset, cfg.train_size, cfg.seed)


def build_gan(cfg: GenConfig) -> tuple[Generator, Critic]:
    spec = data.get_spec(cfg.dataset)
    return (Generator(spec.channels, spec.num_classes, cfg.width, cfg.noise),
            Critic(spec.channels, spec.num_classes, cfg.width))


def new_pool_model(cfg: GenConfig, epoch: int, device) -> tuple[str, torch.nn.Module, str, torch.optim.Optimizer]:
    """Epoch ``epoch``'s pool model, freshly initialised: (name, model, middle layer, its SGD)."""
    spec = data.get_spec(cfg.dataset)
    name = pool.draw(cfg.pool, torch.Generator().manual_seed(cfg.seed * 100003 + epoch))
    model, layer = pool.build(name, spec.channels, spec.num_classes, cfg.pool_width)
    model.to(device)
    return name, model, layer, torch.optim.SGD(model.parameters(), cfg.pool_lr, momentum=0.9, weight_decay=5e-4)


def pool_step(model, opt, real_in: torch.Tensor, labels: torch.Tensor, generator) -> torch.Tensor:
    """One SGD step of the pool model on a real batch (normalised, B x C x 32 x 32) under a
    per-image ``augment.POOL_CHAIN`` draw (DiM's ``aug_rand``); its cross-entropy (0-dim, detached)."""
    model.train()
    draws = augment.sample_chain(len(real_in), augment.POOL_CHAIN, generator, side=real_in.shape[-1])
    loss = F.cross_entropy(model(augment.apply_chain(real_in, draws)), labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def train_pool_model(model, opt, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int, dataset: str,
                     generator: torch.Generator) -> torch.Tensor:
    """DiM's ``train_match_model``: ``steps`` SGD steps of the pool model on the first batches of
    a fresh shuffle of the training set (x: N x C x 32 x 32 in [0, 1]); mean cross-entropy."""
    order = torch.randperm(len(x), generator=generator)
    losses = []
    for idx in order[torch.arange(steps * batch) % len(x)].split(batch):
        idx = to_device(idx, x.device)
        losses.append(pool_step(model, opt, normalize(x[idx], dataset), y[idx], generator))
    return torch.stack(losses).mean()


def matching_draws(n: int, generator: torch.Generator) -> list[augment.AugDraw]:
    """DiM's matching augmentation: one ``augment.MATCH_CHAIN`` parameter set for the whole
    batch, applied to the real and the synthetic batch alike."""
    return augment.sample_chain(n, augment.MATCH_CHAIN, generator, per_image=False)


def matching_losses(model, layer: str, real_in: torch.Tensor, fake: torch.Tensor, dataset: str,
                    draws: list[augment.AugDraw], reduction: str = "sum") -> tuple[torch.Tensor, torch.Tensor]:
    """(L_global, L_local), unweighted, of generated images ``fake`` (B x C x 32 x 32 in [-1, 1])
    against the real batch ``real_in`` of the same labels (normalised): both go through the same
    augmentation ``draws`` and the pool model, whose parameters get no gradient (gradient reaches
    the generator only)."""
    model.requires_grad_(False)
    with torch.no_grad():
        real_logits, real_feat = model.forward_with(augment.apply_chain(real_in, draws), layer)
    syn_logits, syn_feat = model.forward_with(augment.apply_chain(normalize(to_unit(fake), dataset), draws), layer)
    model.requires_grad_(True)
    return global_loss(real_logits, syn_logits), local_loss(real_feat, syn_feat, reduction)


def load_stage1(cfg: GenConfig, G: Generator, D: Critic, opt_g: torch.optim.Optimizer | None = None,
                opt_d: torch.optim.Optimizer | None = None) -> None:
    """Load the finished stage-1 run ``cfg.init`` into ``G`` and ``D`` (dataset checked) and, when
    given, its Adam states into ``opt_g`` and ``opt_d`` with the learning rates reset to ``cfg``'s
    (DiM's matching stage)."""
    init = local(cfg.init)
    gen_path, critic_path = init / "generator.pt", init / "critic.pt"
    if not gen_path.exists() or not critic_path.exists():
        raise FileNotFoundError(f"no finished stage-1 run in {init} (generator.pt and critic.pt expected); "
                                f"run `gdd train-gan --out {init}` first")
    for module, path in ((G, gen_path), (D, critic_path)):
        blob = load_pt(path, "stage-1 checkpoint")
        if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict):
            raise BadFile(f"{path} is not a gdd stage-1 checkpoint: it holds no state_dict")
        made_for = blob.get("meta", {}).get("dataset")
        if made_for != cfg.dataset:
            raise IncompatibleCheckpoint(f"{path} was trained on {made_for}, not {cfg.dataset}; "
                                         f"give --gan a stage-1 run of {cfg.dataset}")
        load_state(module, blob["state_dict"], path)
    if opt_g is None:
        return
    path = init / "optimizers.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the stage-1 run in {init} predates saved optimiser "
                                f"states; rerun it (`gdd train-gan --out {init}` in an empty folder)")
    blob = load_pt(path, "stage-1 optimiser states")
    for opt, key, lr in ((opt_g, "opt_g", cfg.lr_g), (opt_d, "opt_d", cfg.lr_d)):
        try:
            opt.load_state_dict(blob[key])
        except (KeyError, TypeError, ValueError) as err:
            raise IncompatibleCheckpoint(f"{path} holds no usable {key} ({err}); rerun the stage-1 run") from None
        for group in opt.param_groups:
            group["lr"] = lr


def train(cfg: GenConfig, out: Path, real: tuple[torch.Tensor, torch.Tensor] | None = None,
          device: str | torch.device = "cpu", stop_after: int | None = None, progress: bool = True,
          redo_before: float | None = None) -> dict:
    """Run (or resume, or reuse) one generator-training run in folder ``out`` (``gdd.runfolder``).

    Writes ``checkpoint.pt`` (everything needed to resume), ``losses.csv``, ``grid_epochNNN.png``
    per epoch and, when finished, ``generator.pt`` (the deployment artefact), ``critic.pt`` and
    ``summary.json``. ``real`` replaces the training data (tests, benchmarks); ``stop_after``
    ends the call after that many steps. Returns the summary (``finished`` False if stopped)."""
    device = torch.device(device)
    stage1 = [] if cfg.stage == "gan" else [local(cfg.init) / f for f in ("generator.pt", "critic.pt", "optimizers.pt")]
    with open_run(out, cfg, device, [p for p in stage1 if p.exists()], redo_before, stop_after, progress) as run:
        if run.summary is not None:
            return run.summary
        return _train(cfg, run, real, device)


def _train(cfg: GenConfig, run, real, device: torch.device) -> dict:
    x, y = real if real is not None else training_data(cfg)
    x, y = x.to(device), y.to(device)  # the whole training set lives on the device
    spec = data.get_spec(cfg.dataset)
    torch.manual_seed(cfg.seed)
    G, D = build_gan(cfg)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr_d, betas=cfg.betas)
    if cfg.stage == "distill":
        load_stage1(cfg, G, D, opt_g, opt_d)
    lam_g, lam_l = cfg.weights()
    matching = lam_g > 0 or lam_l > 0
    steps_per_epoch = cfg.steps_per_epoch or max(1, len(x) // cfg.batch)
    total = cfg.epochs * steps_per_epoch
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1)
    pool_gen = torch.Generator().manual_seed(cfg.seed + 3)   # the pool model's batches and augmentation
    run.track(aug=aug_gen, pool=pool_gen)
    grid_z = torch.randn(10 * spec.num_classes, cfg.noise, generator=torch.Generator().manual_seed(cfg.seed + 2))
    grid_y = torch.arange(spec.num_classes).repeat_interleave(10)

    model = model_opt = model_name = layer = None
    ckpt = run.resume()
    if ckpt is not None:
        G.load_state_dict(ckpt["G"]), D.load_state_dict(ckpt["D"])
        opt_g.load_state_dict(ckpt["opt_g"]), opt_d.load_state_dict(ckpt["opt_d"])
        if ckpt["pool"]:
            # the model of the epoch of the last step done (its draw is seeded by the epoch)
            model_name, model, layer, model_opt = new_pool_model(cfg, (run.start - 1) // steps_per_epoch, device)
            model.load_state_dict(ckpt["pool"]["model"]), model_opt.load_state_dict(ckpt["pool"]["opt"])
        run.restore_rng(ckpt)  # after building the pool model, which draws from the global generator

    def state():
        return {"G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "pool": {} if model is None else {"model": model.state_dict(), "opt": model_opt.state_dict()}}

    def save_grid(epoch):
        G.eval()
        with torch.no_grad():
            save_png(to_unit(G(grid_z.to(device), grid_y.to(device))).cpu(), run.out / f"grid_epoch{epoch:03d}.png")
        G.train()

    for step in run.steps(total, f"{cfg.stage}:{cfg.method}"):
        epoch, i = divmod(step, steps_per_epoch)
        if matching and (i == 0 or model is None):
            model_name, model, layer, model_opt = new_pool_model(cfg, epoch, device)
        perm = data.epoch_order(len(x), cfg.seed, epoch)
        idx = to_device(perm[torch.arange(i * cfg.batch, (i + 1) * cfg.batch) % len(x)], device)
        xr, yr = x[idx], y[idx]

        # the generator: fresh noise with the real batch's labels (the critic is not trained here)
        D.requires_grad_(False)
        fake = G(torch.randn(len(yr), cfg.noise, device=device), yr)
        g_loss, g_row = generator_gan_loss(D, fake, yr)
        matched = {"l_global": 0.0, "l_local": 0.0, "pool": model_name or ""}
        if matching:
            pool_loss = train_pool_model(model, model_opt, x, y, cfg.pool_steps, cfg.batch, cfg.dataset, pool_gen)
            l_g, l_l = matching_losses(model, layer, normalize(xr, cfg.dataset), fake, cfg.dataset,
                                       matching_draws(len(yr), aug_gen), cfg.local_reduction)
            g_loss = g_loss + lam_g * l_g + lam_l * l_l
            matched.update(l_global=l_g.detach(), l_local=l_l.detach(), pool_loss=pool_loss)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)

        # the critic: new noise with random labels against the real batch
        y_fake = torch.randint(spec.num_classes, (len(yr),), device=device)
        with torch.no_grad():
            fake = G(torch.randn(len(yr), cfg.noise, device=device), y_fake)
        d_loss, parts = critic_loss(D, from_unit(xr), yr, fake, y_fake, cfg.gp_weight)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        row = {"step": step + 1, "epoch": epoch, **parts, **g_row, **matched}
        run.log(step + 1, row, d_loss=parts["d_loss"], g_loss=g_loss.detach())

        end_of_epoch = i == steps_per_epoch - 1
        if end_of_epoch:  # the side output first: the checkpoint below marks the epoch done
            save_grid(epoch + 1)
        if end_of_epoch or run.due(step + 1, cfg.checkpoint_every, total):
            run.checkpoint(step + 1, **state())
        if run.stopping(step + 1, total):
            return run.stop(step + 1, **state())

    meta = {"dataset": cfg.dataset, "channels": spec.channels, "num_classes": spec.num_classes,
            "width": cfg.width, "noise": cfg.noise, "method": cfg.method, "stage": cfg.stage}
    atomic_save({"state_dict": G.state_dict(), "meta": meta, "config": asdict(cfg)}, run.out / "generator.pt")
    atomic_save({"state_dict": D.state_dict(), "meta": meta}, run.out / "critic.pt")
    atomic_save({"opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict()}, run.out / "optimizers.pt")
    return run.finish({"steps": total, "final": run.rows[-1] if run.rows else {}})


def load_state(module: torch.nn.Module, state: dict, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise IncompatibleCheckpoint(
            f"{path} does not fit this {type(module).__name__} ({first[0] if first else err}); "
            f"check width/noise/dataset match the run that wrote it") from None
