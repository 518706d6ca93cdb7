"""Speed figures on whatever device runs them (a benchmark, not a test), stored like every
other result (``results/<profile>/bench-<key>.json``, with the device name in its provenance).

Figures (``figures``): ConvNet-3 training images/s (one network, 3x32x32, batch 256); K=5
evaluation networks trained together (``torch.func`` vmap) against one after another at IPC 10,
as a ratio measured in the same run; GAN and distillation (``gdd``) generator steps/s; the
time to sample IPC 1, 10 and 50 from a generator; on CUDA, how often the inner loops make the
host wait for the GPU (``host_waits``). Inputs are random tensors: speed does not
depend on the data. The size of each measurement is the profile's ``bench`` scale.
"""
from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gdd.deploy import sample
from gdd.distill import GenConfig, train
from gdd.evaluate import EvalConfig, evaluate_set
from gdd.gan import Generator
from gdd.models import make_model
from gdd.profiles import Profile, get_profile
from gdd.results import cached_run


@dataclass(frozen=True)
class BenchConfig:
    """How much each measurement runs (after warm-up steps that are not timed)."""
    train_steps: int = 50          # ConvNet-3 SGD steps of batch ``train_batch``
    train_batch: int = 256
    k: int = 5                     # evaluation networks trained together vs apart
    k_ipc: int = 10
    k_epochs: int = 50
    k_test_size: int = 1000
    gen_width: int = 196           # GAN width (DiM's 196)
    gen_steps: int = 50            # timed generator steps, GAN and distillation each
    gen_batch: int = 64


SCALES = {"tiny": BenchConfig(train_steps=2, train_batch=64, k_epochs=1, k_test_size=200, gen_width=16, gen_steps=2,
                              gen_batch=16),
          "quick": BenchConfig(train_steps=10, k_epochs=5, gen_width=32, gen_steps=10),
          "full": BenchConfig()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def convnet_images_per_s(device: torch.device, batch: int, steps: int, warmup: int = 3) -> float:
    """ConvNet-3 (width 128) SGD training throughput on 3x32x32 inputs, images/s."""
    model = make_model("convnet3", 3, 10).to(device, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        with torch.autocast("cuda", torch.bfloat16, enabled=device.type == "cuda"):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - t0)


def together_vs_apart(device: torch.device, k: int, ipc: int, epochs: int, test_size: int) -> dict:
    """Seconds to train and test ``k`` ConvNet-3s on ``ipc`` images per class, together (vmap)
    and one after another, and the ratio apart / together (> 1: together is faster)."""
    x, y = torch.rand(ipc * 10, 3, 32, 32), torch.arange(10).repeat_interleave(ipc)
    xt, yt = torch.rand(test_size, 3, 32, 32), torch.randint(0, 10, (test_size,))
    seconds = {}
    for together in (True, False):
        evaluate_set(x, y, xt, yt, "cifar10", EvalConfig(epochs=1, runs=k, together=together), device, False)
        _sync(device)
        t0 = time.perf_counter()
        evaluate_set(x, y, xt, yt, "cifar10", EvalConfig(epochs=epochs, runs=k, together=together), device, False)
        _sync(device)
        seconds["together" if together else "apart"] = time.perf_counter() - t0
    return {"k": k, "ipc": ipc, "epochs": epochs, "together_s": seconds["together"], "apart_s": seconds["apart"],
            "speedup": seconds["apart"] / seconds["together"]}


def generator_steps_per_s(device: torch.device, width: int, steps: int, batch: int, method: str) -> float:
    """Generator training steps/s: ``method`` "gan" (stage 1) or "gdd" (stage 2, matching with
    the default pool; includes the pool model's training step, as in the real loop)."""
    folder = Path(tempfile.mkdtemp())
    try:
        n = batch * (steps + 2)
        real = (torch.rand(n, 3, 32, 32), torch.arange(n) % 10)
        gan = GenConfig(dataset="cifar10", width=width, epochs=1, batch=batch, steps_per_epoch=2,
                        checkpoint_every=10**6)
        train(gan, folder / "gan", real, device, progress=False)  # warm-up, and stage 2's starting point
        cfg = gan if method == "gan" else GenConfig.for_stage("cifar10", "distill", method=method, width=width,
                                                              init=str(folder / "gan"), pool_width=32, batch=batch)
        cfg = dataclasses.replace(cfg, epochs=1, steps_per_epoch=steps, checkpoint_every=10**6)
        t0 = time.perf_counter()
        train(cfg, folder / "run", real, device, progress=False)
        _sync(device)
        return steps / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(folder)


def sampling_seconds(device: torch.device, width: int) -> dict:
    """Seconds to sample IPC 1, 10 and 50 (10 classes) from a width-``width`` generator."""
    G = Generator(3, 10, width).to(device).eval()
    sample(G, 1, device=device)
    out = {}
    for ipc in (1, 10, 50):
        _sync(device)
        t0 = time.perf_counter()
        sample(G, ipc, device=device)
        _sync(device)
        out[f"ipc{ipc}_s"] = time.perf_counter() - t0
    return out


def _count_host_waits(fn) -> int:
    """How many times ``fn()`` made the host wait for the GPU, counted by CUDA's sync debug mode
    (it warns at every synchronising call: ``.item()``, a blocking copy, ``nonzero``, ...)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def host_waits(device: torch.device, cfg: BenchConfig, steps: int = 20) -> dict:
    """CUDA only: host waits during ``steps`` steps of the evaluation (K networks together at
    IPC ``k_ipc``: one step per epoch, testing included) and of the ``gdd`` distillation loop
    (its set-up, a 2-step stage-1 run and saving included). Both loops read their losses back
    about 10 times per run and at checkpoints, so waits per step should be well below 1."""
    x, y = torch.rand(cfg.k_ipc * 10, 3, 32, 32), torch.arange(10).repeat_interleave(cfg.k_ipc)
    xt, yt = torch.rand(cfg.k_test_size, 3, 32, 32), torch.randint(0, 10, (cfg.k_test_size,))
    evaluation = _count_host_waits(lambda: evaluate_set(
        x, y, xt, yt, "cifar10", EvalConfig(epochs=steps, runs=cfg.k, together=True), device, False))
    distill = _count_host_waits(lambda: generator_steps_per_s(device, cfg.gen_width, steps, cfg.gen_batch, "gdd"))
    return {"steps": steps, "evaluation": evaluation, "distill": distill}


def figures(profile: Profile | str, device="cpu", redo_before: float | None = None) -> dict:
    """Every figure at the profile's ``bench`` scale on ``device`` (stored; a record written
    before ``redo_before`` is measured again)."""
    p = profile if isinstance(profile, Profile) else get_profile(profile)
    cfg = SCALES[p.bench]
    dev = torch.device(device)

    def run():
        out = {"convnet3_train_img_per_s": convnet_images_per_s(dev, cfg.train_batch, cfg.train_steps),
               "together_vs_apart": together_vs_apart(dev, cfg.k, cfg.k_ipc, cfg.k_epochs, cfg.k_test_size),
               "gan_steps_per_s": generator_steps_per_s(dev, cfg.gen_width, cfg.gen_steps, cfg.gen_batch, "gan"),
               "distill_steps_per_s": generator_steps_per_s(dev, cfg.gen_width, cfg.gen_steps, cfg.gen_batch, "gdd"),
               "sampling": sampling_seconds(dev, cfg.gen_width)}
        if dev.type == "cuda":
            out["host_waits"] = host_waits(dev, cfg)
        return out

    return cached_run(f"bench-{dev.type}", {"scale": p.bench, "bench": cfg, "device": dev.type}, run, p.name,
                      redo_before, device)
