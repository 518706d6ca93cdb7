"""From a profile to run configs: the one translation used by the CLI (``--profile``),
``gdd reproduce``, the experiments and the notebooks. A config is built from its class's
defaults (the papers' values) and the profile's overrides; nothing here loads data or holds
a hyperparameter of its own. Run folders are named by config key under ``$GDD_RUNS``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from gdd import data
from gdd.coreset import FeatureConfig
from gdd.dm import DMConfig
from gdd.datafree.teacher import RealConfig
from gdd.datafree.train import DataFreeConfig, method_config
from gdd.distill import GenConfig
from gdd.evaluate import EvalConfig
from gdd.models import WIDTH_MODELS
from gdd.profiles import Profile, get_profile
from gdd.results import config_key, portable, runs_root


def as_profile(profile: Profile | str) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


# ---- evaluation ----

def epochs_for(profile: Profile | str, ipc: int) -> int:
    """Evaluation epochs at ``ipc``: the profile's, else its longest, else EvalConfig's."""
    epochs = as_profile(profile).eval_epochs
    return epochs.get(ipc, max(epochs.values())) if epochs else EvalConfig.epochs


def test_size(profile: Profile | str, model: str = "convnet3") -> int | None:
    """How many test images to use (None: all): ``eval_test_size``, or ``cross_test_size`` for
    the other architectures of Table 2, which are slow to test on a CPU."""
    p = as_profile(profile)
    return p.eval_test_size if model == "convnet3" else (p.cross_test_size or p.eval_test_size)


def eval_config(profile: Profile | str, ipc: int, model: str = "convnet3", seed: int = 0,
                protocol: str = "fixed") -> EvalConfig:
    """The profile's evaluation budget at ``ipc``; Table 2's other architectures add ``cross_eval``;
    ``protocol="dim"``: DiM's protocol at the same epochs and networks."""
    p = as_profile(profile)
    extra = p.cross_eval if model != "convnet3" else {}
    if model not in WIDTH_MODELS:
        extra = {k: v for k, v in extra.items() if k != "width"}
    return EvalConfig(**{"epochs": epochs_for(p, ipc), **p.eval, **extra, "model": model, "seed": seed,
                         "protocol": protocol})


def dim_protocol_cells(profile: Profile | str) -> list[tuple[str, int]]:
    """(method, ipc) pairs evaluated with DiM's protocol beside the fixed set."""
    p = as_profile(profile)
    ipcs = p.ipcs if p.dim_protocol_ipcs is None else p.dim_protocol_ipcs
    return [(m, ipc) for m in p.dim_protocol_methods for ipc in ipcs]


# ---- generator training: stage 1 (GAN) and stage 2 (distillation) ----

def gan_config(profile: Profile | str, dataset: str, seed: int = 0) -> GenConfig:
    return GenConfig.for_stage(dataset, "gan", **{**as_profile(profile).gan, "seed": seed})


def generator_folder(profile: Profile | str, cfg: GenConfig) -> Path:
    return runs_root() / as_profile(profile).name / cfg.dataset / f"{cfg.stage}-{cfg.method}-{config_key(cfg)}"


def distill_config(profile: Profile | str, dataset: str, method: str, seed: int = 0, **overrides) -> GenConfig:
    """Stage 2 of ``method`` from the profile's stage-1 run; ``overrides``: GenConfig fields
    (lambda_global, lambda_local, pool, ...) of an ablation."""
    p = as_profile(profile)
    gan = gan_config(p, dataset, seed)
    follow = {k: getattr(gan, k) for k in ("width", "noise", "train_size")}
    return GenConfig.for_stage(dataset, "distill", **{**follow, **p.distill, **overrides, "method": method,
                                                      "seed": seed, "init": portable(generator_folder(p, gan))})


# ---- image-based baselines: DM and the coresets ----

def dm_config(profile: Profile | str, dataset: str, ipc: int, seed: int = 0, matcher: str = "convnet3") -> DMConfig:
    """DM at the profile's budget; ``matcher``: its embedding network (another architecture than
    ConvNet-3 gets the width the profile evaluates it at, None for its own default: DM
    re-optimised for that architecture)."""
    p = as_profile(profile)
    arch = {} if matcher == "convnet3" else {"model": matcher, "width": eval_config(p, ipc, matcher).width}
    return DMConfig(dataset=dataset, ipc=ipc, **{**p.dm, **arch, "seed": seed})


def feature_config(profile: Profile | str, dataset: str, seed: int = 0) -> FeatureConfig:
    return FeatureConfig(dataset=dataset, **{**as_profile(profile).coreset, "seed": seed})


def baseline_folder(profile: Profile | str, name: str, cfg) -> Path:
    """The run folder of a DM run or of the coresets' feature network."""
    return runs_root() / as_profile(profile).name / cfg.dataset / f"{name}-{config_key(cfg)}"


# ---- data-free KD: teacher, reference students, data-free students ----

def datafree_folder(profile: Profile | str, name: str, cfg) -> Path:
    return runs_root() / as_profile(profile).name / "datafree" / f"{name}-{config_key(cfg)}"


def teacher_config(profile: Profile | str, dataset: str, seed: int = 0) -> RealConfig:
    """The teacher: ``teacher_epochs`` passes over its training (sub)set; tested on the data-free
    students' test split."""
    p = as_profile(profile)
    base = RealConfig(dataset=dataset, role="teacher", **p.teacher, seed=seed)
    n = min(base.train_size or data.get_spec(dataset).train_size, data.get_spec(dataset).train_size)
    test = datafree_config(p, dataset, "adv", seed, teacher="-").test_size
    return dataclasses.replace(base, steps=max(1, p.teacher_epochs * n // base.batch), test_size=test)


def teacher_path(profile: Profile | str, dataset: str, seed: int = 0) -> Path:
    p = as_profile(profile)
    return datafree_folder(p, f"{dataset}-teacher", teacher_config(p, dataset, seed)) / "model.pt"


def datafree_config(profile: Profile | str, dataset: str, method: str, seed: int = 0, **overrides) -> DataFreeConfig:
    """A data-free student of ``method`` distilled from the profile's teacher."""
    p = as_profile(profile)
    teacher = overrides.pop("teacher", None) or portable(teacher_path(p, dataset))  # one teacher for all seeds
    return method_config(method, dataset, teacher, **{**p.datafree, **overrides, "seed": seed})


REFERENCES = ("scratch", "kd_real")


def reference_config(profile: Profile | str, dataset: str, role: str, seed: int = 0) -> RealConfig:
    """A reference student on real data (``scratch``: labels; ``kd_real``: the teacher's soft
    labels) with the data-free student's model, steps, batch, learning rate and temperature and
    the teacher's training subset and test split."""
    if role not in REFERENCES:
        raise ValueError(f"unknown reference {role!r}; valid: {', '.join(REFERENCES)}")
    p = as_profile(profile)
    student = datafree_config(p, dataset, "adv", seed, teacher="-")
    teacher = teacher_config(p, dataset)
    return RealConfig(dataset=dataset, role=role, model=student.student, model_kw=student.student_kw,
                      steps=student.iters, batch=student.batch, lr=student.lr_s, temperature=student.temperature,
                      train_size=teacher.train_size, test_size=teacher.test_size, seed=seed,
                      teacher=portable(teacher_path(p, dataset)) if role == "kd_real" else None)
