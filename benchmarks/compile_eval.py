"""torch.compile against eager for the evaluation's training step (issue 17; CPU by default).

One run, same seeds: for each thread count and IPC, two ConvNet-3s with the same initialisation
(seed 0), one eager and one compiled (``torch.compile``, as ``EvalConfig(compile=True)`` does),
are trained on the same class-balanced real subset with the fixed protocol's batches and step
(``gdd.evaluate``: DSA draws, SGD, batch 256; no lr schedule in these few epochs), epoch by
epoch in alternation, so that both see the same load of the shared machine. Each setting starts
from cold compiler caches (``torch._dynamo.reset`` and a fresh inductor cache folder), as a new
process would. Printed per setting: seconds per epoch after ``--warmup`` epochs (medians), the
compile time (the compiled network's first epoch minus its median epoch; later networks of the
same shape reuse the compiled code), the break-even number of steps, and the agreement: logit
and gradient errors against float64 on one batch with the same weights, the largest difference
of the epoch losses, and the final test accuracies.

  python benchmarks/compile_eval.py                          # 1 and 2 threads, IPC 1, 10, 50
  python benchmarks/compile_eval.py --threads 1 --ipcs 10 --epochs 3
  python benchmarks/compile_eval.py --device cuda --threads 16   # the CUDA part, on a GPU machine
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from gdd import augment, data
from gdd.evaluate import EvalConfig, _fixed_batches, _fresh_networks, _sgd_step, accuracy


def lockstep(x, y, xt, yt, dataset: str, epochs: int) -> dict:
    """Eager and compiled networks (same seed: same weights and draws) trained on (x, y) epoch
    by epoch in alternation: per mode, epoch seconds, epoch losses, final test accuracy in %."""
    cfg = EvalConfig(epochs=epochs, runs=1, together=False)
    runs = {}
    for mode in ("eager", "compiled"):
        (model,), (g,) = _fresh_networks(cfg, data.get_spec(dataset), x.device)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        net = torch.compile(model) if mode == "compiled" else model
        batches = _fixed_batches(x, y, augment.families_for(dataset), cfg, g)
        runs[mode] = {"model": model, "net": net, "opt": opt, "batches": batches, "seconds": [], "losses": []}
    for epoch in range(epochs):
        for r in runs.values():
            r["model"].train()
            t0 = time.perf_counter()
            for xb, yb in r["batches"](epoch):
                loss = _sgd_step(r["net"], r["opt"], xb, yb)
            r["losses"].append(loss.item())  # waits for the device
            r["seconds"].append(time.perf_counter() - t0)
    return {mode: {"seconds": r["seconds"], "losses": r["losses"],
                   "accuracy": 100 * accuracy(r["model"], xt, yt)} for mode, r in runs.items()}


def cold_compiler() -> None:
    """Forget compiled code, in memory and on disk, as a new process on a new machine would."""
    torch._dynamo.reset()
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")


def one_batch_agreement(x, y, dataset: str) -> dict:
    """Eager and compiled ConvNet-3 with the same weights on one batch, each against a float64
    reference: the largest logit error relative to the largest logit, and the relative L2
    error of the gradient. The biases of convolutions followed by a norm are left out: their
    exact gradient is 0, so any rounding is an infinite relative error."""
    (model,), _ = _fresh_networks(EvalConfig(runs=1), data.get_spec(dataset), x.device)
    reference = copy.deepcopy(model).double()

    def run(net, owner, xb):
        owner.zero_grad()
        logits = net(xb)
        F.cross_entropy(logits, y).backward()
        grads = [p.grad for p in owner.parameters()]
        return logits.detach().double(), grads

    ref_logits, ref_grads = run(reference, reference, x.double())
    top = max(g.norm() for g in ref_grads)
    keep = [i for i, g in enumerate(ref_grads) if g.norm() > 1e-6 * top]
    ref_grad = torch.cat([ref_grads[i].flatten() for i in keep])
    out = {}
    for name, net in (("eager", model), ("compiled", torch.compile(model))):
        logits, grads = run(net, model, x)
        grad = torch.cat([grads[i].double().flatten() for i in keep])
        out[f"logit_err_{name}"] = ((logits - ref_logits).abs().max() / ref_logits.abs().max()).item()
        out[f"grad_err_{name}"] = ((grad - ref_grad).norm() / ref_grad.norm()).item()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ipcs", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--warmup", type=int, default=2, help="epochs left out of the steady-state time")
    ap.add_argument("--epochs", type=int, default=10, help="timed epochs after the warm-up")
    ap.add_argument("--test-size", type=int, default=2000)
    args = ap.parse_args(argv)

    (xs, ys), (xt, yt) = data.load(args.dataset, train=True), data.load(args.dataset, train=False)
    device = torch.device(args.device)
    norm = lambda t: data.normalize(t.to(device), args.dataset).contiguous(memory_format=torch.channels_last)  # noqa: E731
    xt, yt = norm(xt[:args.test_size]), yt[:args.test_size].to(device)
    print(f"torch {torch.__version__}; {device}; {data.get_spec(args.dataset).name}, ConvNet-3, fixed protocol, "
          f"{args.warmup} warm-up + {args.epochs} timed epochs, eager and compiled in alternation")
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for ipc in args.ipcs:
            idx = data.class_balanced_subset(ys, ipc, 10, torch.Generator().manual_seed(0))
            x, y = norm(xs[idx]), ys[idx].to(device)
            cold_compiler()
            runs = lockstep(x, y, xt, yt, args.dataset, args.warmup + args.epochs)
            agree = one_batch_agreement(x[:256], y[:256], args.dataset)
            steady = {m: statistics.median(r["seconds"][args.warmup:]) for m, r in runs.items()}
            compile_s = runs["compiled"]["seconds"][0] - steady["compiled"]
            steps = -(-len(x) // 256)
            saving = (steady["eager"] - steady["compiled"]) / steps
            row = {"threads": threads, "ipc": ipc, "steps_per_epoch": steps,
                   "eager_s_per_epoch": steady["eager"], "compiled_s_per_epoch": steady["compiled"],
                   "speedup": steady["eager"] / steady["compiled"], "compile_s": compile_s,
                   "break_even_steps": compile_s / saving if saving > 0 else float("inf"), **agree,
                   "acc_eager": runs["eager"]["accuracy"], "acc_compiled": runs["compiled"]["accuracy"],
                   "loss_diff": max(abs(a - b) for a, b in zip(runs["eager"]["losses"], runs["compiled"]["losses"])),
                   "loss_eager": runs["eager"]["losses"], "loss_compiled": runs["compiled"]["losses"]}
            rows.append(row)
            print(f"\n{threads} thread(s), IPC {ipc} ({len(x)} images, {steps} step(s)/epoch):")
            print(f"  s/epoch eager {row['eager_s_per_epoch']:.3f}  compiled {row['compiled_s_per_epoch']:.3f}  "
                  f"speed-up x{row['speedup']:.2f}")
            print(f"  compile (cold caches) +{row['compile_s']:.1f} s; break-even after {row['break_even_steps']:.0f} "
                  f"steps")
            print(f"  one batch, same weights, error against float64: logits (max, rel) eager "
                  f"{row['logit_err_eager']:.1e} compiled {row['logit_err_compiled']:.1e}; gradient (rel L2) "
                  f"eager {row['grad_err_eager']:.1e} compiled {row['grad_err_compiled']:.1e}")
            print(f"  losses eager    {' '.join(f'{v:.3f}' for v in row['loss_eager'])}")
            print(f"  losses compiled {' '.join(f'{v:.3f}' for v in row['loss_compiled'])}")
            print(f"  largest epoch-loss difference {row['loss_diff']:.1e}; test accuracy % eager "
                  f"{row['acc_eager']:.2f}  compiled {row['acc_compiled']:.2f}")
    print("\n| threads | IPC | eager s/epoch | compiled s/epoch | speed-up | compile s "
          "| break-even steps | loss diff | acc eager | acc compiled |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['ipc']} | {r['eager_s_per_epoch']:.3f} | {r['compiled_s_per_epoch']:.3f} | "
              f"x{r['speedup']:.2f} | {r['compile_s']:.0f} | "
              f"{r['break_even_steps']:.0f} | {r['loss_diff']:.0e} | {r['acc_eager']:.2f} | {r['acc_compiled']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
