"""Every experiment grid of the book, defined once: ``gdd reproduce`` runs them stage by stage
and the notebooks call the same functions to show them, so the two cannot disagree.

Each grid takes a profile, a device and ``redo_before`` (``results.is_stale``) and returns its
records keyed the way the notebooks look them up.
"""
from __future__ import annotations

from gdd import experiments
from gdd.configs import as_profile, dim_protocol_cells
from gdd.datafree import experiments as dfe
from gdd.profiles import Profile

TABLE1_METHODS = ("random", "cgan", "dim", "gdd")
GENERATORS = ("gan", "cgan", "dim", "gdd")   # stage 1 and the three stage-2 methods
DATAFREE_REFERENCES = ("scratch", "kd_real")


def table1(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """Table 1: {(dataset, method, ipc): record}, ConvNet-3 evaluation of a fixed sampled set
    (random real subset, cgan, dim, gdd, then the profile's image-based baselines),
    and {(dataset, method, ipc, "dim"): record} under DiM's protocol for the profile's cells
    (``configs.dim_protocol_cells``)."""
    p = as_profile(profile)
    out = {}
    for d in p.datasets:
        for ipc in p.ipcs:
            for m in (*TABLE1_METHODS, *p.image_methods):
                out[(d, m, ipc)] = experiments.method_result(p, d, m, ipc, device=device, redo_before=redo_before)
        for m, ipc in dim_protocol_cells(p):
            out[(d, m, ipc, "dim")] = experiments.method_result(p, d, m, ipc, device=device, redo_before=redo_before,
                                                                protocol="dim")
    return out


def table2(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """Table 2 at IPC 10 on the focus dataset: {(source, model): record}; source "random",
    "cgan" (no matching), or (method, matcher) for dim and gdd tuned with ``pool=(matcher,)``."""
    p = as_profile(profile)
    d = p.focus_dataset
    out = {}
    for m in p.cross_models:
        for source in ("random", "cgan"):
            out[(source, m)] = experiments.method_result(p, d, source, 10, model=m, device=device,
                                                         redo_before=redo_before)
        for method in ("dim", "gdd"):
            for matcher in p.cross_matchers:
                out[((method, matcher), m)] = experiments.method_result(
                    p, d, method, 10, model=m, device=device, redo_before=redo_before, pool=(matcher,))
    return out


def figure3(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """Figure 3: {lambda_l: record} at IPC 1 on the focus dataset, lambda_g fixed."""
    p = as_profile(profile)
    return {lam: experiments.method_result(p, p.focus_dataset, "gdd", 1, device=device, redo_before=redo_before,
                                           lambda_local=lam) for lam in p.ablation_lambdas}


def generators(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """Figure 2 and the stage chapters, per dataset: loss curves and grids of every generator
    ("generator", dataset, method), IPC-10 sample grids ("grid", dataset, method) and the
    gradient-share diagnostic ("gradients", dataset)."""
    p = as_profile(profile)
    out = {}
    for d in p.datasets:
        for m in GENERATORS:
            out[("generator", d, m)] = experiments.generator_record(p, d, m, device=device, redo_before=redo_before)
        for m in ("cgan", "gdd"):
            out[("grid", d, m)] = experiments.sample_grid(p, d, m, ipc=10, device=device, redo_before=redo_before)
        out[("gradients", d)] = experiments.gradient_shares(p, d, device=device, redo_before=redo_before)
    return out


def datafree(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """The data-free KD chapter: ("sweep", weights) for the synthesis-weight sweep, then per
    dataset {(dataset, name, seed): record} for the teacher (seed 0), the references, every
    method of the ablation at the chosen weights, and (dataset, ("matched", method), seed) for
    the small-scale methods run to adv's number of synthetic samples. Without a chosen weight
    (a sweep record not stored, in a render-only notebook) the methods' records are None."""
    p = as_profile(profile)
    sweep = dfe.synthesis_sweep(p, device, redo_before)
    out = {("sweep", w): r for w, r in sweep.items()}
    weights = dfe.chosen_weights(sweep)
    for d in p.datasets:
        out[(d, "teacher", 0)] = dfe.teacher_result(p, d, device, redo_before)
        for seed in p.datafree_seeds:
            for role in DATAFREE_REFERENCES:
                out[(d, role, seed)] = dfe.reference_result(p, d, role, device, redo_before, seed)
            for m in dfe.ABLATION:
                out[(d, m, seed)] = (None if weights is None else
                                     dfe.datafree_result(p, d, m, device, redo_before, seed, **weights))
            for m in dfe.MATCHED:
                out[(d, ("matched", m), seed)] = (None if weights is None else dfe.matched_samples_result(
                    p, d, m, device, redo_before, seed, **weights))
    return out


REDEPLOY_ARCH = "resnet18"   # the race's change of architecture


def redeploy(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """The re-deployment race on the focus dataset ("race") and, for its change of architecture,
    the accuracy on that architecture of DM re-optimised with it and of the gdd generator's
    IPC-10 samples ("dm", "gdd")."""
    p = as_profile(profile)
    d, arch = p.focus_dataset, REDEPLOY_ARCH
    return {"race": experiments.redeploy_race(p, d, device, redo_before, arch=arch),
            "dm": experiments.image_method_result(p, d, "dm", 10, arch, device, redo_before, matcher=arch),
            "gdd": experiments.method_result(p, d, "gdd", 10, arch, device, redo_before)}


def bench(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """The speed appendix, on this device at the profile's scale."""
    from gdd import bench as speed
    return {"bench": speed.figures(profile, device, redo_before)}


# gdd reproduce's stages, in the order they run
STAGES = {"table1": table1, "table2": table2, "figure3": figure3, "figures": generators, "datafree": datafree,
          "redeploy": redeploy, "bench": bench}
