"""``gdd train-teacher`` and ``gdd datafree``: wired into gdd/cli.py by ``add_commands(sub)``.

    gdd train-teacher --dataset fashion_mnist --out runs/t-fm [--profile cpu] [--model resnet18_bn --width 16 ...]
    gdd datafree --method ssdkd --teacher runs/t-fm --student convnet3 --out runs/ssdkd-fm [--profile cpu] ...

Both resume when rerun with the same --out, refuse another config, stop on a non-finite loss.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from gdd import data
from gdd.argtypes import (any_int, default_device, non_negative_float, non_negative_int, positive_float,
                          positive_int)


def cmd_train_teacher(args) -> int:
    from gdd import configs
    from gdd.datafree.teacher import RealConfig, fit
    cfg = (configs.teacher_config(args.profile, args.dataset, args.seed) if args.profile
           else RealConfig(dataset=args.dataset, seed=args.seed))
    changes = {k: getattr(args, k) for k in ("model", "steps", "batch", "lr", "train_size", "checkpoint_every")
               if getattr(args, k) is not None}
    if args.width is not None:
        changes["model_kw"] = {**cfg.model_kw, "width": args.width}
    cfg = dataclasses.replace(cfg, **changes)
    s = fit(cfg, args.out, device=args.device, stop_after=args.stop_after)
    if s["finished"]:
        print(f"finished: {args.out}/model.pt, test accuracy {s['test_accuracy']:.2f} % ({s['wall_time_s']:.0f} s)")
    else:
        print(f"stopped at step {s['step']}/{s['total']}; rerun the same command to resume")
    return 0


_DATAFREE_OPTIONS = {  # option -> (type, DataFreeConfig field)
    "iters": positive_int, "batch": positive_int, "syn-batch": positive_int, "g-steps": positive_int,
    "synth-every": positive_int, "buffer-size": positive_int, "lr-s": positive_float, "lr-g": positive_float,
    "temperature": positive_float, "w-bn": non_negative_float, "w-task": non_negative_float,
    "w-adv": non_negative_float, "gamma": non_negative_float, "alpha": non_negative_float,
    "beta0": non_negative_float, "eps": non_negative_float, "refresh-every": any_int, "gen-width": positive_int,
    "noise": positive_int, "eval-every": positive_int, "test-size": positive_int,
    "checkpoint-every": positive_int, "warmup": non_negative_int,
}


def cmd_datafree(args) -> int:
    from gdd import configs
    from gdd.datafree.train import method_config, train
    from gdd.files import load_pt
    teacher = Path(args.teacher)
    teacher = teacher / "model.pt" if teacher.is_dir() else teacher
    if not teacher.exists():
        raise FileNotFoundError(f"teacher {teacher} does not exist; train one with `gdd train-teacher`")
    if args.dataset is None:
        from gdd.files import BadFile
        blob = load_pt(teacher, "teacher model")
        if not isinstance(blob, dict) or blob.get("dataset") not in data.DATASETS:
            raise BadFile(f"{teacher} is not a gdd teacher model: it names no known dataset "
                          f"(expected a model.pt written by `gdd train-teacher`)")
        args.dataset = blob["dataset"]
    if args.profile:
        cfg = configs.datafree_config(args.profile, args.dataset, args.method, args.seed, teacher=str(teacher))
    else:
        cfg = method_config(args.method, args.dataset, str(teacher), seed=args.seed)
    changes = {o.replace("-", "_"): getattr(args, o.replace("-", "_")) for o in _DATAFREE_OPTIONS
               if getattr(args, o.replace("-", "_")) is not None}
    if args.unbounded:
        changes["buffer_size"] = None
    if args.student is not None:
        changes["student"] = args.student
    if args.student_width is not None:
        changes["student_kw"] = {**cfg.student_kw, "width": args.student_width}
    for flag in ("phi_diversity", "phi_difficulty", "prioritized", "adv_mask"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag) == "on"
    cfg = dataclasses.replace(cfg, **changes)
    s = train(cfg, args.out, device=args.device, stop_after=args.stop_after)
    if s["finished"]:
        print(f"finished: {args.out}/student.pt, test accuracy {s['test_accuracy']:.2f} % with "
              f"{s['synthetic_samples']} synthetic samples ({s['wall_time_s']:.0f} s)")
    else:
        print(f"stopped at step {s['step']}/{s['total']}; rerun the same command to resume")
    return 0


def add_commands(sub) -> None:
    """Add ``train-teacher`` and ``datafree`` to the sub-parsers ``sub`` of the gdd CLI."""
    from gdd.datafree.train import METHODS
    from gdd.models import MODELS
    t = sub.add_parser("train-teacher", help="data-free KD: train a teacher on real data (checkpointed)")
    t.add_argument("--dataset", required=True, choices=list(data.DATASETS))
    t.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    t.add_argument("--profile", choices=["smoke", "cpu", "gpu", "paper"], help="start from a profile's budget")
    t.add_argument("--model", choices=list(MODELS), help="default resnet18_bn (needs BN for the BN loss)")
    t.add_argument("--width", type=positive_int)
    t.add_argument("--steps", type=positive_int)
    t.add_argument("--batch", type=positive_int)
    t.add_argument("--lr", type=positive_float)
    t.add_argument("--train-size", type=positive_int, help="random subset of the training set")
    t.add_argument("--checkpoint-every", type=positive_int)
    t.add_argument("--seed", type=any_int, default=0)
    t.add_argument("--device", default=default_device())
    t.add_argument("--stop-after", type=positive_int, help="stop after this many steps (resume later)")
    t.set_defaults(fn=cmd_train_teacher)

    d = sub.add_parser("datafree", help="data-free KD: train a student on synthetic images only")
    d.add_argument("--method", required=True, choices=list(METHODS),
                   help="adv: plain adversarial DFKD; ssdkd: full SSD-KD; ssdkd_nophi / ssdkd_noprio: ablations; "
                        "adv_small: adv at SSD-KD's budget")
    d.add_argument("--teacher", type=Path, required=True, help="teacher model.pt (or its run folder)")
    d.add_argument("--student", choices=list(MODELS), help="default convnet3")
    d.add_argument("--student-width", type=positive_int)
    d.add_argument("--dataset", choices=list(data.DATASETS), help="default: the teacher's")
    d.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    d.add_argument("--profile", choices=["smoke", "cpu", "gpu", "paper"], help="start from a profile's budget")
    for name, kind in _DATAFREE_OPTIONS.items():
        d.add_argument(f"--{name}", type=kind)
    d.add_argument("--unbounded", action="store_true", help="unbounded pool instead of a fixed-size buffer")
    for flag in ("phi-diversity", "phi-difficulty", "prioritized", "adv-mask"):
        d.add_argument(f"--{flag}", choices=["on", "off"], help="override the method's switch")
    d.add_argument("--seed", type=any_int, default=0)
    d.add_argument("--device", default=default_device())
    d.add_argument("--stop-after", type=positive_int, help="stop after this many steps (resume later)")
    d.set_defaults(fn=cmd_datafree)
