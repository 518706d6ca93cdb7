"""Data-free KD experiments as cached functions (``results.cached_run``): each returns the stored
record when the same experiment (profile + config) already ran, otherwise runs it (resuming an
interrupted run folder under ``runs/<profile>/datafree/``) and stores it under ``results/<profile>/``.
``redo_before`` (a POSIX time, ``results.is_stale``) recomputes records and run folders written
before it; a record's provenance is the run's that computed its numbers.

- ``teacher_result``: the teacher on real data;
- ``reference_result``: the reference students, ``scratch`` (real data, labels) and ``kd_real``
  (KD from the teacher on real data), with the data-free student's step budget;
- ``datafree_result``: one data-free KD method (adv, ssdkd, ssdkd_nophi, ssdkd_noprio, adv_small);
- ``matched_samples_result``: a small-scale method run long enough to use as many synthetic
  samples as ``adv``;
- ``synthesis_sweep`` and ``chosen_weights``: the synthesis weights (BN, task, adversarial)
  tried on the focus dataset, and the ones every method then uses.
One teacher (seed 0) serves every student seed.
The grid of the chapter (all of them for a profile) is ``gdd.grids.datafree``.
"""
from __future__ import annotations

from gdd import configs
from gdd.configs import as_profile
from gdd.datafree.teacher import fit
from gdd.datafree.train import train
from gdd.profiles import Profile
from gdd.results import cached_run, portable

ABLATION = ("adv", "ssdkd_nophi", "ssdkd_noprio", "ssdkd", "adv_small")
MATCHED = ("ssdkd", "adv_small")  # run by matched_samples_result


def teacher_result(profile: Profile | str, dataset: str, device="cpu", redo_before: float | None = None,
                   seed: int = 0, need_model: bool = False) -> dict:
    """Train (or reuse) the teacher; record: test accuracy (%), wall time (s), model path.
    ``need_model``: the caller trains from the teacher, so retrain it if the stored record
    outlived its model file (a fresh clone has results/ but not runs/)."""
    p = as_profile(profile)
    cfg = configs.teacher_config(p, dataset, seed)
    folder = configs.datafree_folder(p, f"{dataset}-teacher", cfg)

    def run():
        return {**fit(cfg, folder, device=device, redo_before=redo_before), "model_path": portable(folder / "model.pt")}

    record = cached_run(f"datafree-{dataset}-teacher", cfg, run, p.name, redo_before, device)
    if need_model and not (folder / "model.pt").exists():
        record = cached_run(f"datafree-{dataset}-teacher", cfg, run, p.name, float("inf"), device)
    return record


def datafree_result(profile: Profile | str, dataset: str, method: str, device="cpu",
                    redo_before: float | None = None, seed: int = 0, **overrides) -> dict:
    """One data-free KD method: student accuracy (%), synthetic samples used, wall time (s,
    evaluation excluded), accuracy curve and buffer histograms; teacher trained first if needed."""
    p = as_profile(profile)
    cfg = configs.datafree_config(p, dataset, method, seed, **overrides)
    tag = "" if not overrides else "-" + "-".join(f"{k}{v}" for k, v in sorted(overrides.items()))

    def run():
        teacher = teacher_result(p, dataset, device, redo_before, need_model=True)["result"]
        summary = train(cfg, configs.datafree_folder(p, f"{dataset}-{method}{tag}", cfg), device=device,
                        redo_before=redo_before)
        return {**summary, "teacher_accuracy": teacher["test_accuracy"], "teacher_wall_time_s": teacher["wall_time_s"]}

    return cached_run(f"datafree-{dataset}-{method}{tag}-seed{seed}", cfg, run, p.name, redo_before, device)


def matched_samples_result(profile: Profile | str, dataset: str, method: str, device="cpu",
                           redo_before: float | None = None, seed: int = 0, **overrides) -> dict:
    """A small-scale ``method`` run for ``synth_every`` times the student steps, so that it
    synthesises as many samples as plain ``adv`` does in the profile's budget: does it then
    reach ``adv``'s accuracy, and in less time?"""
    p = as_profile(profile)
    small = configs.datafree_config(p, dataset, method, seed, **overrides)
    return datafree_result(p, dataset, method, device, redo_before, seed, **overrides,
                           iters=small.iters * small.synth_every)


WEIGHTS = ("w_bn", "w_task", "w_adv")
AGREEMENT_TARGET = 0.9   # share of buffer samples the teacher classifies as their intended class


def synthesis_sweep(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """``ssdkd`` (seed 0) on the focus dataset with each (w_bn, w_task, w_adv) of the profile's
    ``synthesis_sweep``: {weights: record} (a record is None where it is not stored, in a
    render-only notebook)."""
    p = as_profile(profile)
    return {w: datafree_result(p, p.focus_dataset, "ssdkd", device, redo_before, **dict(zip(WEIGHTS, w)))
            for w in p.synthesis_sweep}


def chosen_weights(sweep: dict) -> dict | None:
    """The synthesis weights every method uses, by a fixed rule on the sweep: among the settings
    whose buffer agrees with the intended class on at least ``AGREEMENT_TARGET`` of its samples,
    the one with the best student accuracy; if none does, the one with the highest agreement.
    {"w_bn": .., "w_task": .., "w_adv": ..}, or None while a sweep record is missing."""
    if not sweep or any(r is None for r in sweep.values()):
        return None
    agree = {w: r["result"]["histograms"]["intended_agree"] for w, r in sweep.items()}
    good = [w for w in sweep if agree[w] >= AGREEMENT_TARGET]
    best = (max(good, key=lambda w: sweep[w]["result"]["test_accuracy"]) if good
            else max(sweep, key=lambda w: agree[w]))
    return dict(zip(WEIGHTS, best))


def reach(record: dict, target: float) -> dict | None:
    """The first evaluation of a data-free run at or above ``target`` accuracy (%): its step,
    synthetic samples used and training time (s); None if the run never got there."""
    return next((e for e in record["result"]["evals"] if e["accuracy"] >= target), None)


def reference_result(profile: Profile | str, dataset: str, role: str, device="cpu",
                     redo_before: float | None = None, seed: int = 0) -> dict:
    p = as_profile(profile)
    cfg = configs.reference_config(p, dataset, role, seed)

    def run():
        if role == "kd_real":
            teacher_result(p, dataset, device, redo_before, need_model=True)
        return fit(cfg, configs.datafree_folder(p, f"{dataset}-{role}", cfg), device=device, redo_before=redo_before)

    return cached_run(f"datafree-{dataset}-{role}-seed{seed}", cfg, run, p.name, redo_before, device)
