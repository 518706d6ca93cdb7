"""`gdd reproduce --profile P`: compute every result of a profile, stage by stage.

Stages resume: finished results and runs are reused, interrupted runs continue from their last
checkpoint. With ``force``, everything written before this reproduction started is redone; the
start time is kept in ``results/<profile>/.reproduce-started`` until all stages finish, so a
forced reproduction that is interrupted resumes instead of starting over.
"""
from __future__ import annotations

import dataclasses
import time

from gdd import experiments
from gdd.profiles import get_profile
from gdd.results import results_root

TABLE1_METHODS = ("random", "cgan", "dim", "gdd")


def table1(p, device, force):
    """Table 1: every dataset x IPC x method, ConvNet-3 evaluation."""
    return [experiments.method_result(p, d, m, ipc, device=device, force=force)
            for d in p.datasets for ipc in p.ipcs for m in TABLE1_METHODS]


def table2(p, device, force):
    """Table 2: IPC 10, generator tuned with each matcher, evaluated on each architecture."""
    rows = [experiments.method_result(p, p.focus_dataset, "random", 10, model=m, device=device, force=force)
            for m in p.cross_models]
    return rows + [experiments.method_result(p, p.focus_dataset, "gdd", 10, model=m, device=device, force=force,
                                             pool=(matcher,))
                   for matcher in p.cross_matchers for m in p.cross_models]


def figure3(p, device, force):
    """Figure 3: accuracy against lambda_l at IPC 1 (lambda_g fixed), and dim / gdd with the
    profile's ``strong_lambdas``."""
    return [experiments.method_result(p, p.focus_dataset, "gdd", 1, device=device, force=force, lambda_local=lam)
            for lam in p.ablation_lambdas] + list(experiments.strong_matching(p, device, force).values())


def figures(p, device, force):
    """Figure 2 and the stage chapters: loss curves and grids of every generator, sample grids,
    the gradient-share diagnostic."""
    out = []
    for d in p.datasets:
        out += [experiments.generator_record(p, d, m, device=device, force=force) for m in ("gan", "cgan", "dim", "gdd")]
        out += [experiments.sample_grid(p, d, m, ipc=10, device=device, force=force) for m in ("cgan", "gdd")]
        out.append(experiments.gradient_shares(p, d, device=device, force=force))
    return out


def datafree(p, device, force):
    """The data-free KD chapter: teacher, references and every method of the ablation."""
    from gdd.datafree import experiments as dfe
    return dfe.table(p, device=device, force=force) + [dfe.matched_samples_result(p, d, m, device, force)
                                                        for d in p.datasets for m in dfe.MATCHED]


def bench(p, device, force):
    """The speed appendix, on this device at the profile's scale."""
    from gdd import bench as speed
    return [speed.figures(p, device, force)]


STAGES = {"table1": table1, "table2": table2, "figure3": figure3, "figures": figures, "datafree": datafree,
          "bench": bench}


def reproduce(profile: str, device="cpu", force: bool = False, stages: list[str] | None = None,
              datasets: list[str] | None = None) -> None:
    """Run ``stages`` (default: all) of ``profile``; ``datasets`` restricts Table 1's datasets
    (e.g. to run them in two processes side by side)."""
    p = get_profile(profile)
    if datasets:
        p = dataclasses.replace(p, datasets=tuple(datasets))
    unknown = [s for s in stages or [] if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
    marker = results_root() / p.name / ".reproduce-started"
    since: bool | float = False
    if force:
        marker.parent.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            marker.write_text(str(time.time()))
        since = float(marker.read_text())
    for name in stages or list(STAGES):
        print(f"[gdd] reproduce {p.name}: stage {name}")
        STAGES[name](p, device, since)
    if force and not stages:
        marker.unlink()
