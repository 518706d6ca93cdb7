"""Stages 1 and 2 as one loop: conditional-GAN training, and distillation = the same loop
started from the stage-1 generator with the matching terms switched on:

    L_G = L_cGAN + lambda_g * L_global + lambda_l * L_local

Methods of the paper's comparison, one code path with different weights:
``cgan`` (lambda_g = lambda_l = 0: no matching step), ``dim`` (lambda_l = 0), ``gdd`` (both).

Every step: one critic step on a real batch, one SGD step of the current pool model on the
same real batch (when matching), one generator step. A new pool model is drawn and freshly
initialised at every epoch. Runs checkpoint every ``checkpoint_every`` steps and at each
epoch's end, resume from the last checkpoint when rerun, and refuse another config.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.utils import save_image
from tqdm.auto import tqdm

from gdd import augment, data, files, pool
from gdd.data import to_device
from gdd.data import normalize
from gdd.gan import Critic, Generator, critic_loss, from_unit, generator_gan_loss, to_unit
from gdd.files import (IncompatibleCheckpoint, atomic_save, atomic_write_bytes, atomic_write_json, atomic_write_text,
                    check_finite, check_same_config, load_checkpoint, read_back, save_checkpoint)
from gdd.losses import global_loss, local_loss
from gdd.results import local

METHODS = ("cgan", "dim", "gdd")


@dataclass
class GenConfig:
    """One generator-training run. Defaults are DiM's stage-1 (GAN) settings."""
    dataset: str
    stage: str = "gan"                     # "gan": from scratch; "distill": tune the ``init`` generator
    method: str = "cgan"                   # cgan | dim | gdd
    lambda_global: float = 0.01
    lambda_local: float = 0.001
    pool: tuple[str, ...] = ("convnet3", "resnet10", "resnet18")
    pool_width: int | None = None          # None: each pool model's default width
    pool_lr: float = 0.01
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
    extra: dict = field(default_factory=dict)  # free-form, recorded only

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
        for name in ("epochs", "batch", "width", "noise", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        pool.check_pool(self.pool)

    def weights(self) -> tuple[float, float]:
        """(lambda_g, lambda_l) actually used by the method."""
        if self.method == "cgan":
            return 0.0, 0.0
        if self.method == "dim":
            return self.lambda_global, 0.0
        return self.lambda_global, self.lambda_local


def training_data(cfg: GenConfig) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.load(cfg.dataset, train=True)
    if cfg.train_size is not None and cfg.train_size < len(x):
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.train_size]
        x, y = x[idx], y[idx]
    return x, y


def build_gan(cfg: GenConfig) -> tuple[Generator, Critic]:
    spec = data.get_spec(cfg.dataset)
    return (Generator(spec.channels, spec.num_classes, cfg.width, cfg.noise),
            Critic(spec.channels, spec.num_classes, cfg.width))


def load_finished(out: Path) -> dict | None:
    path = Path(out) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def train(cfg: GenConfig, out: Path, real: tuple[torch.Tensor, torch.Tensor] | None = None,
          device: str | torch.device = "cpu", stop_after: int | None = None, progress: bool = True) -> dict:
    """Run (or resume, or reuse) one generator-training run in folder ``out``; a second process
    asking for the same folder waits for the first (file lock) and then reuses its result.

    Writes ``checkpoint.pt`` (everything needed to resume), ``losses.csv``, ``grid_epochNNN.png``
    per epoch and, when finished, ``generator.pt`` (the deployment artefact), ``critic.pt`` and
    ``summary.json``. ``stop_after`` ends the call after that many steps (a resumable stage).
    Returns the summary (``finished`` False if stopped early)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _train(cfg, out, real, torch.device(device), stop_after, progress)


def _train(cfg, out, real, device, stop_after, progress) -> dict:
    done = load_finished(out)
    if done is not None:
        check_same_config(done["config"], cfg, out / "summary.json")
        return done
    x, y = real if real is not None else training_data(cfg)
    x, y = x.to(device), y.to(device)  # the whole training set lives on the device
    spec = data.get_spec(cfg.dataset)
    torch.manual_seed(cfg.seed)
    G, D = build_gan(cfg)
    if cfg.stage == "distill":
        init = local(cfg.init)
        gen_path, critic_path = init / "generator.pt", init / "critic.pt"
        if not gen_path.exists() or not critic_path.exists():
            raise FileNotFoundError(f"no finished stage-1 run in {init} (generator.pt and critic.pt expected); "
                                    f"run `gdd train-gan --out {init}` first")
        load_state(G, files.load_weights(gen_path, "generator"), gen_path)
        load_state(D, files.load_weights(critic_path, "critic"), critic_path)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), cfg.lr_d, betas=cfg.betas)
    lam_g, lam_l = cfg.weights()
    matching = lam_g > 0 or lam_l > 0
    steps_per_epoch = cfg.steps_per_epoch or max(1, len(x) // cfg.batch)
    total = cfg.epochs * steps_per_epoch
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1)
    grid_z = torch.randn(10 * spec.num_classes, cfg.noise, generator=torch.Generator().manual_seed(cfg.seed + 2))
    grid_y = torch.arange(spec.num_classes).repeat_interleave(10)
    families = augment.families_for(cfg.dataset)

    start, rows, elapsed = 0, [], 0.0
    model = model_opt = model_name = layer = None
    ckpt = load_checkpoint(out, cfg)
    if ckpt is not None:
        start, rows, elapsed = ckpt["step"], ckpt["rows"], ckpt["elapsed_s"]
        G.load_state_dict(ckpt["G"]), D.load_state_dict(ckpt["D"])
        opt_g.load_state_dict(ckpt["opt_g"]), opt_d.load_state_dict(ckpt["opt_d"])
        if ckpt.get("pool") is not None:
            model_name = ckpt["pool"]["name"]
            model, layer = pool.build(model_name, spec.channels, spec.num_classes, cfg.pool_width)
            model.to(device).load_state_dict(ckpt["pool"]["model"])
            model_opt = torch.optim.SGD(model.parameters(), cfg.pool_lr, momentum=0.9, weight_decay=5e-4)
            model_opt.load_state_dict(ckpt["pool"]["opt"])
        torch.set_rng_state(ckpt["rng"]), aug_gen.set_state(ckpt["aug_rng"])  # after building the pool model
        print(f"[gdd] resuming {out} from step {start}/{total}")
    else:
        print(f"[gdd] {cfg.stage} ({cfg.method}) on {cfg.dataset}: {total} steps, outputs in {out}")

    pending = []  # rows (losses as 0-dim tensors, plus the total generator loss) not yet read back

    def flush():
        """Read the pending steps' losses back in one transfer (one host-device sync per
        checkpoint, not several per step), stop on a non-finite one, append them to ``rows``."""
        if not pending:
            return
        for r in read_back(pending):
            check_finite(r["step"] - 1, d_loss=r["d_loss"], g_loss=r.pop("g_total"))
            rows.append({k: (round(x, 6) if isinstance(x, float) else x) for k, x in r.items()})
        pending.clear()
        r = rows[-1]
        bar.set_postfix(d=f"{r['d_loss']:.2f}", g=f"{r['g_adv']:.2f}", glob=f"{r['l_global']:.3f}",
                        loc=f"{r['l_local']:.3f}")

    def checkpoint(step):
        flush()
        pool_state = None if model is None else {"name": model_name, "model": model.state_dict(),
                                                 "opt": model_opt.state_dict()}
        save_checkpoint(out, cfg, step=step, rows=rows, elapsed_s=elapsed + time.time() - t0,
                        G=G.state_dict(), D=D.state_dict(), opt_g=opt_g.state_dict(), opt_d=opt_d.state_dict(),
                        rng=torch.get_rng_state(), aug_rng=aug_gen.get_state(), pool=pool_state)
        atomic_write_text(rows_to_csv(rows), out / "losses.csv")

    t0 = time.time()
    bar = tqdm(range(start, total), desc=f"{cfg.stage}:{cfg.method}", disable=not progress,
               initial=start, total=total)
    for step in bar:
        epoch, i = divmod(step, steps_per_epoch)
        if matching and (i == 0 or model is None):
            model_name = pool.draw(cfg.pool, torch.Generator().manual_seed(cfg.seed * 100003 + epoch))
            model, layer = pool.build(model_name, spec.channels, spec.num_classes, cfg.pool_width)
            model.to(device)
            model_opt = torch.optim.SGD(model.parameters(), cfg.pool_lr, momentum=0.9, weight_decay=5e-4)
        perm = data.epoch_order(len(x), cfg.seed, epoch)
        idx = to_device(perm[torch.arange(i * cfg.batch, (i + 1) * cfg.batch) % len(x)], device)
        xr, yr = x[idx], y[idx]

        fake = G(torch.randn(len(yr), cfg.noise, device=device), yr)
        d_loss, parts = critic_loss(D, from_unit(xr), fake, yr, cfg.gp_weight)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        g_loss, g_row = generator_gan_loss(D, fake, yr)
        row = {"step": step + 1, "epoch": epoch, **parts, **g_row, "l_global": 0.0, "l_local": 0.0,
               "pool": model_name or ""}
        if matching:
            real_in = normalize(xr, cfg.dataset)
            model.train()
            pool_loss = F.cross_entropy(model(augment.augment(real_in, families, aug_gen)), yr)
            model_opt.zero_grad(set_to_none=True)
            pool_loss.backward()
            model_opt.step()
            draw = augment.sample(len(yr), families, aug_gen)  # one draw shared by real and synthetic
            model.requires_grad_(False)
            with torch.no_grad():
                real_logits, real_feat = model.forward_with(augment.apply(real_in, draw), layer)
            syn_logits, syn_feat = model.forward_with(augment.apply(normalize(to_unit(fake), cfg.dataset), draw), layer)
            model.requires_grad_(True)
            l_g, l_l = global_loss(real_logits, syn_logits), local_loss(real_feat, syn_feat)
            g_loss = g_loss + lam_g * l_g + lam_l * l_l
            row.update(l_global=l_g.detach(), l_local=l_l.detach(), pool_loss=pool_loss.detach())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        pending.append({**row, "g_total": g_loss.detach()})

        end_of_epoch = i == steps_per_epoch - 1
        if (step + 1) % cfg.checkpoint_every == 0 or end_of_epoch or step + 1 == total:
            checkpoint(step + 1)  # first: it checks the pending losses before anything is saved
        if end_of_epoch:
            G.eval()
            with torch.no_grad():
                save_png(to_unit(G(grid_z.to(device), grid_y.to(device))).cpu(), out / f"grid_epoch{epoch + 1:03d}.png")
            G.train()
        if stop_after is not None and step + 1 - start >= stop_after and step + 1 < total:
            checkpoint(step + 1)
            return {"finished": False, "step": step + 1, "total": total}

    meta = {"dataset": cfg.dataset, "channels": spec.channels, "num_classes": spec.num_classes,
            "width": cfg.width, "noise": cfg.noise, "method": cfg.method, "stage": cfg.stage}
    atomic_save({"state_dict": G.state_dict(), "meta": meta, "config": asdict(cfg)}, out / "generator.pt")
    atomic_save({"state_dict": D.state_dict(), "meta": meta}, out / "critic.pt")
    summary = {"finished": True, "steps": total, "wall_time_s": round(elapsed + time.time() - t0, 2),
               "config": asdict(cfg), "final": rows[-1] if rows else {}}
    atomic_write_json(summary, out / "summary.json")
    print(f"[gdd] finished {out}: generator.pt, losses.csv, grid PNGs")
    return summary


def load_state(module: torch.nn.Module, state: dict, path: Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise IncompatibleCheckpoint(
            f"{path} does not fit this {type(module).__name__} ({first[0] if first else err}); "
            f"check width/noise/dataset match the run that wrote it") from None
