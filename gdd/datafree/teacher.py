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

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from gdd import data
from gdd.data import normalize, to_device
from gdd.datafree.synthesis import kl_per_sample
from gdd.evaluate import accuracy
from gdd.files import atomic_save, load_pt
from gdd.models import MODELS, make_model
from gdd.results import local
from gdd.runfolder import open_run

ROLES = ("teacher", "scratch", "kd_real")


@dataclass
class RealConfig:
    """One supervised run on real data. ``model_kw``: make_model overrides (width, norm, ...)."""
    dataset: str
    role: str = "teacher"                  # teacher | scratch | kd_real
    model: str = "resnet18_bn"
    model_kw: dict = field(default_factory=lambda: {"width": 64})
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
    blob = load_pt(path, "model file")
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


def fit(cfg: RealConfig, out: Path, real: tuple[torch.Tensor, torch.Tensor] | None = None,
        device: str | torch.device = "cpu", stop_after: int | None = None, progress: bool = True,
        redo_before: float | None = None) -> dict:
    """Run (or resume, or reuse) one supervised run in folder ``out`` (``gdd.runfolder``); writes
    ``checkpoint.pt``, ``model.pt`` and ``summary.json`` (test accuracy in %, wall time in s,
    testing excluded). ``real`` replaces the training data (tests); ``stop_after`` ends the call
    after that many steps."""
    device = torch.device(device)
    inputs = [local(cfg.teacher)] if cfg.role == "kd_real" and local(cfg.teacher).is_file() else []
    with open_run(out, cfg, device, inputs, redo_before, stop_after, progress) as run:
        if run.summary is not None:
            return run.summary
        return _fit(cfg, run, real, device)


def _fit(cfg: RealConfig, run, real, device: torch.device) -> dict:
    x, y = real if real is not None else data.real_subset(cfg.dataset, cfg.train_size, cfg.seed)
    x, y = x.to(device), y.to(device)  # the whole training subset lives on the device
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, cfg.dataset, **cfg.model_kw).to(device)
    teacher = None
    if cfg.role == "kd_real":
        teacher = load_model(cfg.teacher, cfg.dataset)[0].to(device).requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    ckpt = run.resume()
    if ckpt is not None:
        model.load_state_dict(ckpt["model"]), opt.load_state_dict(ckpt["opt"])
        run.restore_rng(ckpt)
    bs = min(cfg.batch, len(x))
    per_epoch = max(1, len(x) // bs)

    def state():
        return {"model": model.state_dict(), "opt": opt.state_dict()}

    model.train()
    for step in run.steps(cfg.steps, cfg.role):
        epoch, i = divmod(step, per_epoch)
        idx = to_device(data.epoch_order(len(x), cfg.seed, epoch)[i * bs:(i + 1) * bs], device)
        xb, yb = normalize(x[idx], cfg.dataset), y[idx]
        logits = model(xb)
        if teacher is None:
            loss = F.cross_entropy(logits, yb)
        else:
            with torch.no_grad():
                t_logits = teacher(xb)
            loss = kl_per_sample(t_logits, logits, cfg.temperature).mean() * cfg.temperature ** 2
        for group in opt.param_groups:
            group["lr"] = cosine_lr(cfg.lr, step, cfg.steps)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run.log(step + 1, {"step": step + 1, "loss": loss.detach()}, loss=loss.detach())
        if run.due(step + 1, cfg.checkpoint_every, cfg.steps):
            run.checkpoint(step + 1, **state())
        if run.stopping(step + 1, cfg.steps):
            return run.stop(step + 1, **state())
    with run.paused():
        xt, yt = data.real_subset(cfg.dataset, cfg.test_size, cfg.seed, train=False)
        acc = 100 * accuracy(model, normalize(xt.to(device), cfg.dataset), yt.to(device))
        save_model(model.cpu(), cfg.model, cfg.model_kw, cfg.dataset, run.out / "model.pt", test_accuracy=acc,
                   role=cfg.role)
    return run.finish({"steps": cfg.steps, "test_accuracy": round(acc, 2), "train_size": len(x),
                       "samples_seen": cfg.steps * bs, "final_loss": run.rows[-1]["loss"] if run.rows else None})
