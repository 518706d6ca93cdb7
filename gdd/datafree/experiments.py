"""Data-free KD experiments as cached functions (``results.cached_run``): each returns the stored
record when the same experiment (profile + config) already ran, otherwise runs it (resuming an
interrupted run folder under ``runs/<profile>/datafree/``) and stores it under ``results/<profile>/``.

- ``teacher_result``: the teacher on real data;
- ``reference_result``: the reference students, ``scratch`` (real data, labels) and ``kd_real``
  (KD from the teacher on real data), with the data-free student's step budget;
- ``datafree_result``: one data-free KD method (adv, ssdkd, ssdkd_nophi, ssdkd_noprio, adv_small);
- ``matched_samples_result``: a small-scale method run long enough to use as many synthetic
  samples as ``adv``;
- ``table``: all of them for a profile, as rows (what the notebook shows).

Run everything of a profile: ``python -m gdd.datafree.experiments --profile cpu [--dataset D] [--threads 1]``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gdd import data
from gdd.datafree.teacher import RealConfig, fit
from gdd.datafree.train import DataFreeConfig, METHODS, method_config, train
from gdd.profiles import Profile, get_profile
from gdd.results import cached_run, config_key, portable, runs_root

ABLATION = ("adv", "ssdkd_nophi", "ssdkd_noprio", "ssdkd", "adv_small")
MATCHED = ("ssdkd", "adv_small")  # run by matched_samples_result
REFERENCES = ("scratch", "kd_real")


def _profile(profile: Profile | str) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def run_folder(profile: Profile, name: str, cfg) -> Path:
    return runs_root() / profile.name / "datafree" / f"{name}-{config_key(cfg)}"


def _train_size(dataset: str, size: int | None) -> int:
    n = len(data.load(dataset, train=True)[1])
    return n if size is None else min(size, n)


def teacher_config(profile: Profile | str, dataset: str, seed: int = 0) -> RealConfig:
    p = _profile(profile)
    return RealConfig(dataset=dataset, role="teacher", model=p.teacher_model, model_kw={"width": p.teacher_width},
                      steps=max(1, p.teacher_epochs * _train_size(dataset, p.teacher_train_size) // 128), batch=128, lr=0.1, train_size=p.teacher_train_size,
                      test_size=p.datafree_test_size, seed=seed)


def teacher_path(profile: Profile | str, dataset: str, seed: int = 0) -> Path:
    p = _profile(profile)
    return run_folder(p, f"{dataset}-teacher", teacher_config(p, dataset, seed)) / "model.pt"


def teacher_result(profile: Profile | str, dataset: str, device="cpu", force: bool | float = False,
                   seed: int = 0, need_model: bool = False) -> dict:
    """Train (or reuse) the teacher; record: test accuracy (%), wall time (s), model path.
    ``need_model``: the caller trains from the teacher, so retrain it if the stored record
    outlived its model file (a fresh clone has results/ but not runs/)."""
    p = _profile(profile)
    cfg = teacher_config(p, dataset, seed)
    folder = run_folder(p, f"{dataset}-teacher", cfg)

    def run():
        return {**fit(cfg, folder, device=device), "model_path": portable(folder / "model.pt")}

    record = cached_run(f"datafree-{dataset}-teacher", cfg, run, p.name, force, device)
    if need_model and not (folder / "model.pt").exists():
        record = cached_run(f"datafree-{dataset}-teacher", cfg, run, p.name, True, device)
    return record


def datafree_config(profile: Profile | str, dataset: str, method: str, seed: int = 0, **overrides) -> DataFreeConfig:
    p = _profile(profile)
    base = dict(student=p.student_model, student_kw={"width": p.student_width}, iters=p.datafree_iters,
                batch=p.datafree_batch, syn_batch=p.datafree_syn_batch, gen_width=p.datafree_gen_width,
                eval_every=p.datafree_eval_every, test_size=p.datafree_test_size, seed=seed,
                checkpoint_every=p.datafree_checkpoint_every)
    return method_config(method, dataset, portable(teacher_path(p, dataset, seed)), buffer_frac=p.datafree_buffer_frac,
                         small_every=p.datafree_synth_every, **{**base, **overrides})


def datafree_result(profile: Profile | str, dataset: str, method: str, device="cpu", force: bool | float = False,
                    seed: int = 0, **overrides) -> dict:
    """One data-free KD method: student accuracy (%), synthetic samples used, wall time (s,
    evaluation excluded), accuracy curve and buffer histograms; teacher trained first if needed."""
    p = _profile(profile)
    cfg = datafree_config(p, dataset, method, seed, **overrides)
    tag = "" if not overrides else "-" + "-".join(f"{k}{v}" for k, v in sorted(overrides.items()))

    def run():
        teacher = teacher_result(p, dataset, device, force, seed, need_model=True)["result"]
        summary = train(cfg, run_folder(p, f"{dataset}-{method}{tag}", cfg), device=device)
        return {**summary, "teacher_accuracy": teacher["test_accuracy"], "teacher_wall_time_s": teacher["wall_time_s"]}

    return cached_run(f"datafree-{dataset}-{method}{tag}", cfg, run, p.name, force, device)


def matched_samples_result(profile: Profile | str, dataset: str, method: str, device="cpu",
                           force: bool | float = False, seed: int = 0) -> dict:
    """A small-scale ``method`` run for ``datafree_synth_every`` times the student steps, so that
    it synthesises as many samples as plain ``adv`` does in the profile's budget: does it then
    reach ``adv``'s accuracy, and in less time?"""
    p = _profile(profile)
    return datafree_result(p, dataset, method, device, force, seed, iters=p.datafree_iters * p.datafree_synth_every)


def reference_config(profile: Profile | str, dataset: str, role: str, seed: int = 0) -> RealConfig:
    """The student on real data with the data-free student's budget (steps, batch) and the
    teacher's training subset."""
    p = _profile(profile)
    if role not in REFERENCES:
        raise ValueError(f"unknown reference {role!r}; valid: {', '.join(REFERENCES)}")
    return RealConfig(dataset=dataset, role=role, model=p.student_model, model_kw={"width": p.student_width},
                      steps=p.datafree_iters, batch=p.datafree_batch, lr=0.05, train_size=p.teacher_train_size,
                      teacher=portable(teacher_path(p, dataset, seed)) if role == "kd_real" else None,
                      test_size=p.datafree_test_size, seed=seed)


def reference_result(profile: Profile | str, dataset: str, role: str, device="cpu", force: bool | float = False,
                     seed: int = 0) -> dict:
    p = _profile(profile)
    cfg = reference_config(p, dataset, role, seed)

    def run():
        if role == "kd_real":
            teacher_result(p, dataset, device, force, seed, need_model=True)
        return fit(cfg, run_folder(p, f"{dataset}-{role}", cfg), device=device)

    return cached_run(f"datafree-{dataset}-{role}", cfg, run, p.name, force, device)


def table(profile: Profile | str, datasets=None, methods=ABLATION, device="cpu", force: bool | float = False,
          seed: int = 0) -> list[dict]:
    """One row per dataset x (teacher, references, methods): accuracy %, synthetic samples, wall time s."""
    p = _profile(profile)
    rows = []
    for d in datasets or p.datasets:
        t = teacher_result(p, d, device, force, seed)
        rows.append({"dataset": d, "method": "teacher (real data)", "accuracy": t["result"]["test_accuracy"],
                     "synthetic_samples": 0, "real_samples_seen": t["result"]["samples_seen"],
                     "wall_time_s": t["result"]["wall_time_s"], "record": t})
        for role in REFERENCES:
            r = reference_result(p, d, role, device, force, seed)
            rows.append({"dataset": d, "method": f"{role} (real data)", "accuracy": r["result"]["test_accuracy"],
                         "synthetic_samples": 0, "real_samples_seen": r["result"]["samples_seen"],
                         "wall_time_s": r["result"]["wall_time_s"], "record": r})
        for m in methods:
            r = datafree_result(p, d, m, device, force, seed)
            rows.append({"dataset": d, "method": m, "accuracy": r["result"]["test_accuracy"],
                         "synthetic_samples": r["result"]["synthetic_samples"], "real_samples_seen": 0,
                         "wall_time_s": r["result"]["wall_time_s"], "record": r})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="run every data-free KD experiment of a profile")
    ap.add_argument("--profile", required=True)
    ap.add_argument("--dataset", action="append", help="only these datasets (repeatable)")
    ap.add_argument("--method", action="append", choices=list(METHODS), help="only these methods (repeatable)")
    ap.add_argument("--threads", type=int, help="torch threads (e.g. 1 per process when running datasets side by side)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    for r in table(args.profile, args.dataset, tuple(args.method or ABLATION), args.device, args.force):
        print(f"{r['dataset']:<14} {r['method']:<22} {r['accuracy']:6.2f} %  synthetic {r['synthetic_samples']:>6}  "
              f"{r['wall_time_s']:7.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
