"""Speed figures on whatever device this runs on (not a test): prints them and writes
results/bench/<device>.json with provenance.

  python benchmarks/bench.py [--device cuda] [--quick]

Figures: ConvNet-3 training images/s (one network, batch 256); K=5 evaluation networks trained
together (vmap) vs one after another at IPC 10, as a ratio measured in this run; GAN and
distillation steps/s at the profile's width; sampling time for IPC 1, 10, 50.
"""
from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gdd.deploy import sample
from gdd.distill import GenConfig, train
from gdd.evaluate import EvalConfig, evaluate_set
from gdd.gan import Generator
from gdd.models import make_model
from gdd.results import provenance, results_root, write_record


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def convnet_images_per_s(device, batch=256, steps=20) -> float:
    model = make_model("convnet3", 3, 10).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    for i in range(steps + 3):
        if i == 3:
            sync(device)
            t0 = time.perf_counter()
        with torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda"):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch / (time.perf_counter() - t0)


def together_vs_apart(device, ipc=10, epochs=20, runs=5) -> dict:
    x, y = torch.rand(ipc * 10, 3, 32, 32), torch.arange(10).repeat_interleave(ipc)
    xt, yt = torch.rand(1000, 3, 32, 32), torch.randint(0, 10, (1000,))
    times = {}
    for together in (True, False):
        cfg = EvalConfig(epochs=epochs, runs=runs, together=together)
        evaluate_set(x, y, xt, yt, "cifar10", EvalConfig(epochs=1, runs=runs, together=together), device, False)
        sync(device)
        t0 = time.perf_counter()
        evaluate_set(x, y, xt, yt, "cifar10", cfg, device, progress=False)
        sync(device)
        times["together" if together else "apart"] = time.perf_counter() - t0
    return {"ipc": ipc, "epochs": epochs, "runs": runs, "together_s": times["together"],
            "apart_s": times["apart"], "speedup": times["apart"] / times["together"]}


def generator_steps_per_s(device, width, steps, method) -> float:
    folder = Path(tempfile.mkdtemp())
    try:
        n = 64 * (steps + 2)
        real = (torch.rand(n, 3, 32, 32), torch.arange(n) % 10)
        gan = GenConfig(dataset="cifar10", width=width, epochs=1, batch=64, steps_per_epoch=2, checkpoint_every=10**6)
        train(gan, folder / "gan", real, device, progress=False)
        cfg = gan if method == "gan" else GenConfig(dataset="cifar10", stage="distill", method=method, width=width,
                                                    init=str(folder / "gan"), pool_width=32, batch=64)
        cfg = GenConfig(**{**cfg.__dict__, "epochs": 1, "steps_per_epoch": steps, "checkpoint_every": 10**6})
        t0 = time.perf_counter()
        train(cfg, folder / "run", real, device, progress=False)
        sync(device)
        return steps / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(folder)


def sampling_seconds(device, width) -> dict:
    G = Generator(3, 10, width).to(device).eval()
    sample(G, 1, device=device)
    out = {}
    for ipc in (1, 10, 50):
        sync(device)
        t0 = time.perf_counter()
        sample(G, ipc, device=device)
        sync(device)
        out[f"ipc{ipc}_s"] = time.perf_counter() - t0
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="fewer steps (CPU)")
    args = ap.parse_args()
    device = torch.device(args.device)
    prov, start = provenance("bench", device), time.time()
    q = args.quick
    fig = {"convnet3_train_img_per_s": convnet_images_per_s(device, steps=5 if q else 50),
           "k5_together_vs_apart": together_vs_apart(device, epochs=3 if q else 50),
           "gan_steps_per_s": generator_steps_per_s(device, 196 if not q else 32, 5 if q else 50, "gan"),
           "distill_steps_per_s": generator_steps_per_s(device, 196 if not q else 32, 5 if q else 50, "gdd"),
           "gan_width": 196 if not q else 32, "sampling": sampling_seconds(device, 196 if not q else 32)}
    for k, v in fig.items():
        print(f"{k}: {v}")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", prov["device"]).strip("-").lower()
    write_record(results_root() / "bench" / f"{slug}{'-quick' if q else ''}.json", "bench",
                 {"device": str(device), "quick": q}, fig, prov, time.time() - start)


if __name__ == "__main__":
    main()
