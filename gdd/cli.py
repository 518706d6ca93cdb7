"""The ``gdd`` command line: one sub-command per stage."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from gdd import data


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def cmd_data_check(args) -> int:
    rows = data.check()
    bad = 0
    for r in rows:
        print(f"{r['dataset']:<14} {r['status']:<8} {r['file']}")
        bad += r["status"] != "ok"
    print(f"{len(rows) - bad}/{len(rows)} files present and verified (data folder: {data.data_root()})")
    return 0


def cmd_data_fetch(args) -> int:
    for name in args.datasets:
        path = data.ensure_raw(data.get_spec(name), download=not args.no_download)
        data.load(name, train=True), data.load(name, train=False)  # builds the decoded cache
        print(f"{name}: verified in {path}")
    return 0


def image_source(dataset: str, source: str, ipc: int | None, seed: int):
    """(images, labels, description) of an evaluation source: random, full or a .pt set."""
    spec = data.get_spec(dataset)
    if source == "full":
        x, y = data.load(dataset, train=True)
        return x, y, "full training set"
    if source == "random":
        if ipc is None:
            raise SystemExit("--source random needs --ipc N")
        x, y = data.load(dataset, train=True)
        idx = data.class_balanced_subset(y, ipc, spec.num_classes, torch.Generator().manual_seed(seed))
        return x[idx], y[idx], f"random real subset, {ipc} per class"
    from gdd.io import load_image_set
    x, y, meta = load_image_set(Path(source))
    if meta.get("dataset", dataset) != dataset:
        raise SystemExit(f"{source} was made from {meta['dataset']}, not {dataset}")
    return x, y, f"image set {source}"


def cmd_evaluate(args) -> int:
    from gdd.evaluate import EvalConfig, evaluate_set
    from gdd.results import cached_run
    data.get_spec(args.dataset)
    cfg = EvalConfig(model=args.model, epochs=args.epochs, runs=args.runs, seed=args.seed)
    config = {"dataset": args.dataset, "source": args.source, "ipc": args.ipc, "eval": vars(cfg).copy()}

    def run():
        x, y, what = image_source(args.dataset, args.source, args.ipc, args.seed)
        xt, yt = data.load(args.dataset, train=False)
        print(f"evaluating {args.model} x{args.runs} on {what} ({len(x)} images), {args.epochs} epochs", file=sys.stderr)
        return evaluate_set(x, y, xt, yt, args.dataset, cfg, args.device)

    record = cached_run("evaluate", config, run, args.profile, args.force, args.device, path=args.out)
    r = record["result"]
    print(f"{args.dataset} {args.source} ipc={args.ipc} {args.model}: {r['mean']:.2f} ± {r['std']:.2f} % "
          f"over {len(r['accuracies'])} runs ({record['provenance']['wall_time_s']:.0f} s) -> {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gdd", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="check or fetch datasets")
    dsub = d.add_subparsers(dest="action", required=True)
    dsub.add_parser("check", help="print, per dataset, what is present and verified").set_defaults(fn=cmd_data_check)
    f = dsub.add_parser("fetch", help="copy from $GDD_DATA_MIRROR (or download), verify md5, decode")
    f.add_argument("datasets", nargs="*", default=["mnist", "fashion_mnist"], choices=list(data.DATASETS))
    f.add_argument("--no-download", action="store_true", help="only the data folder and the mirror")
    f.set_defaults(fn=cmd_data_fetch)

    e = sub.add_parser("evaluate", help="train fresh networks on an image set, test on real data")
    e.add_argument("--dataset", required=True, choices=list(data.DATASETS))
    e.add_argument("--source", required=True, help="random | full | PATH.pt")
    e.add_argument("--ipc", type=positive_int, help="images per class (for --source random)")
    e.add_argument("--model", default="convnet3")
    e.add_argument("--runs", type=positive_int, default=5)
    e.add_argument("--epochs", type=positive_int, default=1000)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--out", type=Path, required=True, help="RESULT.json")
    e.add_argument("--profile", default="custom", help="recorded in the provenance")
    e.add_argument("--device", default=default_device())
    e.add_argument("--force", action="store_true", help="recompute even if --out holds this result")
    e.set_defaults(fn=cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "model", None) is not None:
        from gdd.models import MODELS
        if args.model not in MODELS:
            raise SystemExit(f"gdd: unknown model {args.model!r}; valid names: {', '.join(MODELS)}")
    try:
        return args.fn(args)
    except (data.DataError, ValueError, FileNotFoundError) as err:
        raise SystemExit(f"gdd: error: {err}")


if __name__ == "__main__":
    sys.exit(main())
