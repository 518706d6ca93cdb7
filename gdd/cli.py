"""The ``gdd`` command line: one sub-command per stage."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from gdd import data, files, imageset
from gdd.losses import LOCAL_REDUCTIONS
from gdd.argtypes import default_device, non_negative_float, positive_float, positive_int


def cmd_data_check(args) -> int:
    """Exit non-zero if a raw file or decoded cache of a dataset is corrupt or stale, or a raw file
    is missing from a dataset that is named or partly present (datasets never fetched are listed)."""
    rows = data.check(names=args.datasets)
    present = {r["dataset"] for r in rows if r["status"] not in ("missing", "not built")}
    for r in rows:
        if r["dataset"] not in present and not args.datasets:
            r["status"] = "not fetched"
        print(f"{r['dataset']:<14} {r['status']:<11} {r['file']}" + (f" ({r['why']})" if r["why"] else ""))
    bad = [r for r in rows if r["status"] in ("missing", "CORRUPT", "STALE")]
    print(f"{sum(r['status'] == 'ok' for r in rows)} files verified, {len(bad)} missing or corrupt "
          f"(data folder: {data.data_root()})")
    if bad:
        raise SystemExit("gdd: error: data check failed: " + "; ".join(f"{r['file']} is {r['status']}" for r in bad)
                         + ". Fix: `gdd data fetch` (rebuilds a cache; a corrupt raw file must be deleted first)")
    return 0


def cmd_data_fetch(args) -> int:
    for name in args.datasets:
        path = data.ensure_raw(data.get_spec(name), download=not args.no_download)
        data.load(name, train=True), data.load(name, train=False)  # builds the decoded cache
        print(f"{name}: verified in {path}")
    return 0


def image_source(dataset: str, source: str, ipc: int | None, seed: int):
    """(images, labels, description, input files' sha256) of an evaluation source: random,
    full or a .pt image set (validated against ``dataset``)."""
    spec = data.get_spec(dataset)
    if source == "full":
        x, y = data.load(dataset, train=True)
        return x, y, "full training set", {}
    if source == "random":
        if ipc is None:
            raise SystemExit("--source random needs --ipc N")
        x, y = data.load(dataset, train=True)
        idx = data.class_balanced_subset(y, ipc, spec.num_classes, torch.Generator().manual_seed(seed))
        return x[idx], y[idx], f"random real subset, {ipc} per class", {}
    x, y, _ = imageset.load_image_set(Path(source), dataset)
    return x, y, f"image set {source}", {"image_set_sha256": files.file_hash(Path(source))}


def _is_evaluate_record(path: Path) -> bool:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("name") == "evaluate" and \
        {"config", "result", "provenance"} <= set(record)


def cmd_evaluate(args) -> int:
    """The stored result in ``--out`` is reused when its config matches: the dataset, the eval
    config and the sha256 of the input file (not its path), so a changed file is re-evaluated.
    ``--protocol dim``: ``--source`` is a generator, sampled afresh every epoch (DiM's protocol)."""
    from gdd.evaluate import EvalConfig, evaluate_generator, evaluate_set
    from gdd.results import cached_run, redo_time
    data.get_spec(args.dataset)
    files.check_output(args.out, "evaluate result", _is_evaluate_record)  # before hours of work
    cfg = EvalConfig(model=args.model, epochs=args.epochs, runs=args.runs, seed=args.seed, protocol=args.protocol)
    if args.protocol == "dim":
        from gdd.deploy import load_generator
        if args.ipc is None:
            raise SystemExit("gdd: error: --protocol dim needs --ipc N (samples per class and epoch)")
        G, meta = load_generator(Path(args.source), args.device)
        if meta["dataset"] != args.dataset:
            raise SystemExit(f"gdd: error: {args.source} was trained on {meta['dataset']}, not {args.dataset}")
        path = Path(args.source) / "generator.pt" if Path(args.source).is_dir() else Path(args.source)
        what, inputs = f"generator {args.source}, fresh samples every epoch", {"generator_sha256": files.file_hash(path)}
    else:
        x, y, what, inputs = image_source(args.dataset, args.source, args.ipc, args.seed)
    source = args.source if args.source in ("random", "full") else ("generator" if args.protocol == "dim" else "image set")
    config = {"dataset": args.dataset, "source": source, "inputs": inputs, "ipc": args.ipc, "eval": vars(cfg).copy()}
    computed = []

    def run():
        computed.append(True)
        xt, yt = data.load(args.dataset, train=False)
        print(f"evaluating {args.model} x{args.runs} on {what}, {args.epochs} epochs", file=sys.stderr)
        if args.protocol == "dim":
            return {**evaluate_generator(G, args.ipc, xt, yt, args.dataset, cfg, args.device), "source": args.source}
        return {**evaluate_set(x, y, xt, yt, args.dataset, cfg, args.device), "source": args.source}

    record = cached_run("evaluate", config, run, args.profile, redo_time(args.force), args.device, path=args.out)
    if not computed:
        print(f"reusing the stored result in {args.out}: same dataset, eval config and input sha256 "
              f"(--force recomputes)", file=sys.stderr)
    r = record["result"]
    best = f"; best of the checks {r['best_mean']:.2f} ± {r['best_std']:.2f} % (DiM reports this)" if "best_mean" in r else ""
    print(f"{args.dataset} {args.source} ipc={args.ipc} {args.model}: {r['mean']:.2f} ± {r['std']:.2f} % "
          f"over {len(r['accuracies'])} runs{best} ({record['provenance']['wall_time_s']:.0f} s) -> {args.out}")
    return 0


def _gen_config(args, stage: str):
    import dataclasses
    from gdd import configs
    from gdd.distill import GenConfig
    if args.profile:
        cfg = (configs.gan_config(args.profile, args.dataset, args.seed) if stage == "gan" else
               configs.distill_config(args.profile, args.dataset, args.method, seed=args.seed))
    else:
        cfg = GenConfig.for_stage(args.dataset, stage, seed=args.seed,
                                  **({"method": args.method, "init": str(args.gan)} if stage == "distill" else {}))
    changes = {k: getattr(args, k) for k in ("width", "noise", "epochs", "batch", "steps_per_epoch",
                                              "train_size", "lr_g", "lr_d", "checkpoint_every")
               if getattr(args, k, None) is not None}
    if stage == "distill":
        changes.update(method=args.method, init=str(args.gan))
        for k in ("lambda_global", "lambda_local", "pool_width", "pool_steps", "local_reduction"):
            if getattr(args, k) is not None:
                changes[k] = getattr(args, k)
        if args.pool:
            changes["pool"] = tuple(args.pool.split(","))
    return dataclasses.replace(cfg, **changes)


def cmd_train(args, stage: str) -> int:
    from gdd.distill import train
    cfg = _gen_config(args, stage)
    summary = train(cfg, args.out, device=args.device, stop_after=args.stop_after)
    if summary["finished"]:
        print(f"finished: {args.out}/generator.pt ({summary['steps']} steps, {summary['wall_time_s']:.0f} s)")
    else:
        print(f"stopped at step {summary['step']}/{summary['total']}; rerun the same command to resume")
    return 0


def cmd_distill_images(args) -> int:
    import dataclasses
    from gdd import configs, coreset, dm
    from gdd.experiments import coreset_embeddings
    from gdd.files import check_output, is_png
    from gdd.imageset import is_image_set, save_image_set, save_preview
    profile = args.profile or "paper"
    if args.method == "dm":
        cfg = configs.dm_config(profile, args.dataset, args.ipc, args.seed)
        changes = {k: getattr(args, k) for k in ("iterations", "batch_real") if getattr(args, k) is not None}
        summary = dm.train(dataclasses.replace(cfg, **changes), args.out, device=args.device, stop_after=args.stop_after)
        if not summary["finished"]:
            print(f"stopped at step {summary['step']}/{summary['total']}; rerun the same command to resume")
            return 0
        print(f"finished: {args.out}/images.pt ({summary['steps']} DM steps, {summary['wall_time_s']:.0f} s)")
        return 0
    out = args.out / "images.pt"
    check_output(out, "image set", is_image_set)
    check_output(out.with_suffix(".png"), "preview grid (PNG)", is_png)
    x, y, emb = coreset_embeddings(profile, args.dataset, args.seed, args.device)
    idx = coreset.select(args.method, y, args.ipc, data.get_spec(args.dataset).num_classes, emb, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    save_image_set(x[idx], y[idx], {"method": args.method, "dataset": args.dataset, "ipc": args.ipc}, out)
    save_preview(x[idx], args.ipc, out.with_suffix(".png"))
    print(f"{len(idx)} real images ({args.ipc} per class, {args.method}) -> {out}")
    return 0


def cmd_sample(args) -> int:
    from gdd.deploy import sample_to_file
    t = sample_to_file(args.generator, args.ipc, args.seed, args.out, args.device)
    print(f"{t['images']} images ({args.ipc} per class) in {t['sample_s']:.3f} s -> {args.out} "
          f"and {args.out.with_suffix('.png')}")
    return 0


def cmd_bench(args) -> int:
    import json
    from gdd import bench
    from gdd.results import redo_time
    if args.threads:
        torch.set_num_threads(args.threads)
    record = bench.figures(args.profile, args.device, redo_time(args.force))
    print(f"{record['provenance']['device']} ({args.profile} profile, scale {record['config']['scale']}):")
    print(json.dumps(record["result"], indent=2))
    return 0


def cmd_reproduce(args) -> int:
    from gdd.reproduce import reproduce
    if args.threads:
        torch.set_num_threads(args.threads)
    reproduce(args.profile, args.device, force=args.force, stages=args.stage, datasets=args.dataset)
    return 0


def _add_gen_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, choices=list(data.DATASETS))
    p.add_argument("--out", type=Path, required=True, help="run folder (resumed if it holds a checkpoint)")
    p.add_argument("--profile", help="start from a profile's budget (smoke, cpu, gpu, paper); options override")
    for name, kind in (("width", positive_int), ("noise", positive_int), ("epochs", positive_int),
                       ("batch", positive_int), ("steps-per-epoch", positive_int), ("train-size", positive_int),
                       ("lr-g", positive_float), ("lr-d", positive_float), ("checkpoint-every", positive_int)):
        p.add_argument(f"--{name}", type=kind)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=default_device())
    p.add_argument("--stop-after", type=positive_int, help="stop after this many steps (resume later)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gdd", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="check or fetch datasets")
    dsub = d.add_subparsers(dest="action", required=True)
    c = dsub.add_parser("check", help="print, per dataset, what is present and verified (raw md5s, cache sha256s); "
                                      "exit 1 if anything is corrupt or missing")
    c.add_argument("datasets", nargs="*", metavar="DATASET",
                   help=f"{' | '.join(data.DATASETS)}: these must be complete (default: every dataset present at all)")
    c.set_defaults(fn=cmd_data_check)
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
    e.add_argument("--protocol", choices=["fixed", "dim"], default="fixed",
                   help="fixed: train on the image set (the standard protocol); dim: --source is a generator, "
                        "sampled afresh every epoch, no lr schedule, best test accuracy also reported (DiM's)")
    e.add_argument("--out", type=Path, required=True, help="RESULT.json (reused if it holds this evaluation: same "
                                                          "config and input sha256; only such a file is overwritten)")
    e.add_argument("--profile", default="custom", help="recorded in the provenance")
    e.add_argument("--device", default=default_device())
    e.add_argument("--force", action="store_true", help="recompute even if --out holds this result")
    e.set_defaults(fn=cmd_evaluate)

    g = sub.add_parser("train-gan", help="stage 1: train the conditional GAN")
    _add_gen_options(g)
    g.set_defaults(fn=lambda a: cmd_train(a, "gan"))

    s = sub.add_parser("distill", help="stage 2: tune the generator with global/local matching")
    _add_gen_options(s)
    s.add_argument("--method", required=True, choices=["cgan", "dim", "gdd"])
    s.add_argument("--gan", type=Path, required=True, help="the finished stage-1 run folder")
    s.add_argument("--lambda-global", type=non_negative_float)
    s.add_argument("--lambda-local", type=non_negative_float)
    s.add_argument("--pool", help="comma-separated model names (default DiM's five: "
                   "convnet3,resnet10,resnet18,resnet10_ap,resnet18_ap)")
    s.add_argument("--pool-width", type=positive_int)
    s.add_argument("--pool-steps", type=positive_int,
                   help="SGD steps of the pool model on real batches before each generator step (DiM: 16)")
    s.add_argument("--local-reduction", choices=LOCAL_REDUCTIONS,
                   help="L_local over C*H*W: sum (DiM's released code, default) or per-element mean")
    s.set_defaults(fn=lambda a: cmd_train(a, "distill"))

    x = sub.add_parser("distill-images", help="an image-based baseline: DM's synthetic images, or a coreset "
                                              "(herding, k-center) of real training images")
    x.add_argument("--method", required=True, choices=["dm", "herding", "k_center"])
    x.add_argument("--dataset", required=True, choices=list(data.DATASETS))
    x.add_argument("--ipc", type=positive_int, required=True)
    x.add_argument("--out", type=Path, required=True,
                   help="folder: images.pt and images.png are written there (DM: its run folder, resumed)")
    x.add_argument("--profile", help="start from a profile's budget (default: the papers' settings)")
    x.add_argument("--iterations", type=positive_int, help="DM: steps on the images (DM: 20000)")
    x.add_argument("--batch-real", type=positive_int, help="DM: real images per class per step (DM: 256)")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--device", default=default_device())
    x.add_argument("--stop-after", type=positive_int, help="DM: stop after this many steps (resume later)")
    x.set_defaults(fn=cmd_distill_images)

    m = sub.add_parser("sample", help="stage 3: sample a class-balanced image set from a generator")
    m.add_argument("--generator", type=Path, required=True, help="generator.pt (or its run folder)")
    m.add_argument("--ipc", type=positive_int, required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", type=Path, required=True, help="SET.pt (a grid SET.png is written beside it); "
                                                          "only a gdd image set is overwritten")
    m.add_argument("--device", default=default_device())
    m.set_defaults(fn=cmd_sample)

    b = sub.add_parser("bench", help="speed figures on this device (stored under results/<profile>/, printed)")
    b.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "gpu", "paper"],
                   help="its `bench` field sets the scale (tiny, quick, full)")
    b.add_argument("--threads", type=positive_int, help="CPU threads for this process")
    b.add_argument("--force", action="store_true", help="measure again even if stored")
    b.add_argument("--device", default=default_device())
    b.set_defaults(fn=cmd_bench)

    from gdd.grids import STAGES
    r = sub.add_parser("reproduce", help="compute every result of a profile (resumes; reuses finished ones)")
    r.add_argument("--profile", required=True, choices=["smoke", "cpu", "gpu", "paper"])
    r.add_argument("--stage", action="append", choices=list(STAGES), help="only these stages (repeatable); default: all")
    r.add_argument("--dataset", action="append", choices=list(data.DATASETS),
                   help="only these datasets for Table 1 (repeatable); default: the profile's")
    r.add_argument("--threads", type=positive_int, help="CPU threads for this process")
    r.add_argument("--force", action="store_true", help="recompute even stored results")
    r.add_argument("--device", default=default_device())
    r.set_defaults(fn=cmd_reproduce)

    from gdd.datafree.cli import add_commands
    add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "model", None) is not None:
        from gdd.models import MODELS
        if args.model not in MODELS:
            raise SystemExit(f"gdd: unknown model {args.model!r}; valid names: {', '.join(MODELS)}")
    from gdd.runfolder import Interrupted
    try:
        return args.fn(args)
    except Interrupted as err:
        print(f"gdd: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("gdd: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except OSError as err:  # full or read-only disk, missing file, ...: name the file, no traceback
        raise SystemExit(f"gdd: error: {' '.join(files.describe_os_error(err).split())}")
    except (data.DataError, ValueError, RuntimeError, FloatingPointError) as err:
        raise SystemExit(f"gdd: error: {' '.join(str(err).split())}")


if __name__ == "__main__":
    sys.exit(main())
