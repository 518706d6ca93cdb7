"""Supervised training on real data: the teacher, and the two reference points of the
data-free comparison (a student from scratch on real data; KD from the teacher on real data).

One loop for all three (``role``):
- ``teacher`` / ``scratch``: cross-entropy against the real labels;
- ``kd_real``: KL(softmax(t/T) || softmax(s/T)) * T^2 against the teacher's logits on the same
  real images (no labels used), i.e. the data-free student's loss with real inputs.
SGD with momentum, cosine learning rate over ``steps``, batches drawn from a fresh permutation
of the (sub)set each epoch. Checkpointed every ``checkpoint_every`` steps; rerunning resumes;
another config is refused; a non-finite loss stops the run before anything is saved.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from gdd import data, files
from gdd.data import to_device
from gdd.data import normalize
from gdd.evaluate import accuracy
from gdd.files import (atomic_save, atomic_write_json, check_finite, check_same_config, load_checkpoint, read_back,
                    save_checkpoint)
from gdd.models import MODELS, make_model
from gdd.results import local

ROLES = ("teacher", "scratch", "kd_real")


@dataclass
class RealConfig:
    """One supervised run on real data. ``model_kw``: make_model overrides (width, norm, ...)."""
    dataset: str
    role: str = "teacher"                  # teacher | scratch | kd_real
    model: str = "resnet18_bn"
    model_kw: dict = field(default_factory=lambda: {"width": 16})
    steps: int = 1000                      # SGD steps
    batch: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    train_size: int | None = None          # None: the whole training set (random subset otherwise)
    teacher: str | None = None             # model.pt of the teacher (role kd_real)
    temperature: float = 4.0               # KD temperature (role kd_real)
    test_size: int | None = None           # None: the whole test set
    seed: int = 0
    checkpoint_every: int = 200            # steps

    def __post_init__(self):
        data.get_spec(self.dataset)
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; valid: {', '.join(ROLES)}")
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; valid names: {', '.join(MODELS)}")
        for name in ("steps", "batch", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0 or self.temperature <= 0:
            raise ValueError(f"lr and temperature must be positive, got lr={self.lr}, temperature={self.temperature}")
        if self.role == "kd_real" and not self.teacher:
            raise ValueError("role 'kd_real' needs a teacher (--teacher PATH/model.pt)")


def real_subset(dataset: str, size: int | None, seed: int, train: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images N x C x 32 x 32 in [0, 1] and labels N: a seeded random subset of ``size`` (train)
    or the first ``size`` test images (None: all)."""
    x, y = data.load(dataset, train=train)
    if size is None or size >= len(x):
        return x, y
    if not train:
        return x[:size], y[:size]
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:size]
    return x[idx], y[idx]


def build_model(name: str, dataset: str, **kw) -> torch.nn.Module:
    spec = data.get_spec(dataset)
    return make_model(name, spec.channels, spec.num_classes, **kw)


def save_model(model: torch.nn.Module, name: str, model_kw: dict, dataset: str, path: Path, **meta) -> None:
    atomic_save({"state_dict": model.state_dict(), "model": name, "model_kw": model_kw, "dataset": dataset,
                 **meta}, path)


def load_model(path: Path | str, dataset: str | None = None) -> tuple[torch.nn.Module, dict]:
    """A model saved by ``save_model`` (model.pt, or the run folder holding it), in eval mode."""
    path = local(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise FileNotFoundError(f"model {path} does not exist; train one with `gdd train-teacher`")
    blob = files.load_pt(path, "model")
    if not isinstance(blob, dict) or not {"state_dict", "model", "dataset"} <= set(blob):
        raise ValueError(f"{path} is not a gdd model file (expected state_dict, model, dataset)")
    if dataset is not None and blob["dataset"] != dataset:
        raise ValueError(f"{path} was trained on {blob['dataset']}, not {dataset}")
    model = build_model(blob["model"], blob["dataset"], **blob.get("model_kw", {}))
    model.load_state_dict(blob["state_dict"])
    return model.eval(), blob


def cosine_lr(base: float, step: int, total: int) -> float:
    """base * (1 + cos(pi * step / total)) / 2."""
    return base * 0.5 * (1 + math.cos(math.pi * step / total))


def load_finished(out: Path) -> dict | None:
    path = Path(out) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def fit(cfg: RealConfig, out: Path, real: tuple[torch.Tensor, torch.Tensor] | None = None,
        device: str | torch.device = "cpu", stop_after: int | None = None, progress: bool = True) -> dict:
    """Run (or resume, or reuse) one supervised run in folder ``out``; writes ``checkpoint.pt``,
    ``model.pt`` and ``summary.json`` (test accuracy in %, wall time in s). ``real`` replaces the
    training data (tests); ``stop_after`` ends the call after that many steps."""
    out, device = Path(out), torch.device(device)
    done = load_finished(out)
    if done is not None:
        check_same_config(done["config"], cfg, out / "summary.json")
        return done
    x, y = real if real is not None else real_subset(cfg.dataset, cfg.train_size, cfg.seed)
    x, y = x.to(device), y.to(device)  # the whole training subset lives on the device
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, cfg.dataset, **cfg.model_kw).to(device)
    teacher = None
    if cfg.role == "kd_real":
        teacher = load_model(cfg.teacher, cfg.dataset)[0].to(device).requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    start, elapsed, rows = 0, 0.0, []
    ckpt = load_checkpoint(out, cfg)
    if ckpt is not None:
        start, elapsed, rows = ckpt["step"], ckpt["elapsed_s"], ckpt["rows"]
        model.load_state_dict(ckpt["model"]), opt.load_state_dict(ckpt["opt"])
        torch.set_rng_state(ckpt["rng"])
        print(f"[gdd] resuming {out} from step {start}/{cfg.steps}")
    else:
        print(f"[gdd] {cfg.role} {cfg.model} on {cfg.dataset}: {cfg.steps} steps, outputs in {out}")
    bs = min(cfg.batch, len(x))
    per_epoch = max(1, len(x) // bs)
    t0 = time.time()

    pending = []  # {"loss": 0-dim tensor} of steps not yet read back from the device

    def flush():
        """Read the pending losses back in one transfer, stop on a non-finite one."""
        if pending:
            for r in read_back(pending):
                check_finite(len(rows), **r)
                rows.append(round(r["loss"], 5))
            pending.clear()
            bar.set_postfix(loss=f"{rows[-1]:.3f}")

    def checkpoint(step):
        flush()
        save_checkpoint(out, cfg, step=step, elapsed_s=elapsed + time.time() - t0, rows=rows,
                        model=model.state_dict(), opt=opt.state_dict(), rng=torch.get_rng_state())

    model.train()
    bar = tqdm(range(start, cfg.steps), desc=cfg.role, disable=not progress, initial=start, total=cfg.steps)
    for step in bar:
        epoch, i = divmod(step, per_epoch)
        idx = to_device(data.epoch_order(len(x), cfg.seed, epoch)[i * bs:(i + 1) * bs], device)
        xb, yb = normalize(x[idx], cfg.dataset), y[idx]
        logits = model(xb)
        if teacher is None:
            loss = F.cross_entropy(logits, yb)
        else:
            from gdd.datafree.synthesis import kl_per_sample
            with torch.no_grad():
                t_logits = teacher(xb)
            loss = kl_per_sample(t_logits, logits, cfg.temperature).mean() * cfg.temperature ** 2
        for group in opt.param_groups:
            group["lr"] = cosine_lr(cfg.lr, step, cfg.steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        pending.append({"loss": loss.detach()})
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            checkpoint(step + 1)
        if stop_after is not None and step + 1 - start >= stop_after and step + 1 < cfg.steps:
            checkpoint(step + 1)
            return {"finished": False, "step": step + 1, "total": cfg.steps}
    train_time = elapsed + time.time() - t0
    xt, yt = real_subset(cfg.dataset, cfg.test_size, cfg.seed, train=False)
    acc = 100 * accuracy(model, normalize(xt.to(device), cfg.dataset), yt.to(device))
    save_model(model.cpu(), cfg.model, cfg.model_kw, cfg.dataset, out / "model.pt", test_accuracy=acc, role=cfg.role)
    summary = {"finished": True, "steps": cfg.steps, "test_accuracy": round(acc, 2), "wall_time_s": round(train_time, 2),
               "train_size": len(x), "samples_seen": cfg.steps * bs, "final_loss": rows[-1] if rows else None,
               "config": asdict(cfg)}
    atomic_write_json(summary, out / "summary.json")
    print(f"[gdd] finished {out}: {cfg.role} test accuracy {acc:.2f} % ({train_time:.0f} s)")
    return summary
