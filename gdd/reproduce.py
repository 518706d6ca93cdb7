"""`gdd reproduce --profile P`: compute every result of a profile, stage by stage (the grids of
``gdd.grids``).

Stages resume: finished results and runs are reused, interrupted runs continue from their last
checkpoint. With ``force``, everything written before this reproduction started is redone; the
start time is kept in ``results/<profile>/.reproduce-started`` until all stages finish, so a
forced reproduction that is interrupted resumes instead of starting over.
"""
from __future__ import annotations

import dataclasses
import time

from gdd.grids import STAGES
from gdd.profiles import get_profile
from gdd.results import results_root


def reproduce(profile: str, device="cpu", force: bool = False, stages: list[str] | None = None,
              datasets: list[str] | None = None) -> None:
    """Run ``stages`` (default: all) of ``profile``; ``datasets`` restricts the per-dataset
    stages (e.g. to run them in two processes side by side)."""
    p = get_profile(profile)
    if datasets:
        p = dataclasses.replace(p, datasets=tuple(datasets))
    unknown = [s for s in stages or [] if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}")
    marker = results_root() / p.name / ".reproduce-started"
    redo_before = None
    if force:
        marker.parent.mkdir(parents=True, exist_ok=True)
        if not marker.exists():
            marker.write_text(str(time.time()))
        redo_before = float(marker.read_text())
    for name in stages or list(STAGES):
        print(f"[gdd] reproduce {p.name}: stage {name}")
        STAGES[name](p, device, redo_before)
    if force and not stages:
        marker.unlink()
