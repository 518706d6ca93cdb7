"""An estimate of the ``gpu`` profile's GPU-minutes per stage, from CPU timings (prints tables).

No GPU was lent to the session that wrote this, so every figure here is measured on the CPU
and scaled; nothing is a GPU measurement.

Method:
1. Each kind of step the gpu profile runs is executed on this CPU at the profile's sizes (1
   channel, 32 x 32, the profile's widths and batches), with the package's own models and
   losses: its median wall time over ``--repeats`` runs after a warm-up, its FLOPs (forward and
   backward, ``torch.utils.flop_counter``) and its kernels (aten operations that are not views,
   counted by a dispatch mode, with ``foreach`` optimisers as on CUDA).
2. The CPU's achieved rate R_cpu is the FLOP rate of the ConvNet-3 training step (width 128,
   batch 256). The GPU's achieved rate R_gpu is assumed to be 5 % (conservative) or 10 %
   of an H100's dense bf16 peak, 990 TFLOP/s.
3. GPU seconds of a step = CPU seconds x R_cpu / R_gpu (the step is assumed to use the GPU as
   (in)efficiently as it uses the CPU, relative to the ConvNet-3 step) + kernels x 5 us
   (launch-bound small kernels; no overlap of launch and compute is assumed). The CPU is shared
   and its load varies, so CPU seconds x R_cpu is taken as (the step's time / the ConvNet-3
   step's time, timed right before it) x the ConvNet-3 step's FLOPs.
4. A stage's GPU time = sum over its steps (counts from ``gdd/profiles.py``'s gpu profile and the
   stage functions of ``gdd/reproduce.py``) + generator checkpoints (the CPU time of saving one)
   + a fixed 20 s per stage call (process start, CUDA initialisation, data decoding).

  python benchmarks/gpu_estimate.py [--repeats 2] [--threads N] [--save steps.json]
  python benchmarks/gpu_estimate.py --load steps.json      # the tables again, without measuring
  ... --csv benchmarks/gpu_estimate                         # the tables also as CSV files
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gdd import augment, configs, distill, dm, evaluate, pool
from gdd.data import normalize
from gdd.datafree.synthesis import BNStatsLoss, InversionGenerator, kl_per_sample
from gdd.gan import Critic, Generator, critic_loss, from_unit, generator_gan_loss
from gdd.models import make_model
from gdd.profiles import get_profile

PEAK_BF16 = 990e12              # H100 SXM dense bf16, FLOP/s
GPU_SHARES = (0.05, 0.10)       # achieved share of the peak: conservative, optimistic
LAUNCH_S = 5e-6                 # per kernel (10 us: the sensitivity column)
STAGE_OVERHEAD_S = 20.0         # per stage call: process start, CUDA init, data decoding
DATASET = "mnist"               # 1 x 32 x 32; Fashion-MNIST has the same sizes
TRAIN_SIZE, TEST_SIZE = 60_000, 10_000


class Count(TorchDispatchMode):
    """Counts FLOPs (torch's own formulas, ``torch.utils.flop_counter.flop_registry``: matmuls
    and convolutions, forward and backward) and the aten operations that would launch a kernel:
    everything but views and allocations (an approximation of CUDA kernel launches)."""

    SKIP = {"empty", "empty_strided", "empty_like", "detach", "lift_fresh", "_local_scalar_dense", "alias",
            "set_", "resize_"}

    def __init__(self):
        super().__init__()
        self.flops, self.kernels = 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not func.is_view and func.overloadpacket.__name__ not in self.SKIP:
            self.kernels += 1
        if func.overloadpacket in flop_registry:
            self.flops += flop_registry[func.overloadpacket](*args, **kwargs, out_val=out)
        return out


@dataclass
class Step:
    name: str
    cpu_s: float        # median wall time on this CPU
    rel: float          # median of (its time / the ConvNet-3 reference step's time just before)
    flops: float        # forward + backward
    kernels: int

    def gpu_s(self, ref_flops: float, share: float, launch_s: float = LAUNCH_S) -> float:
        """CPU time scaled by the rate ratio, + launches: rel x (reference FLOPs / R_gpu) + k x 5 us;
        a checkpoint's disk time as measured."""
        if self.name == "checkpoint":
            return self.cpu_s
        return self.rel * ref_flops / (share * PEAK_BF16) + self.kernels * launch_s


def measure(name: str, step, repeats: int, reference=None) -> Step:
    """Count ``step()``'s FLOPs and kernels on a first (warm-up) call, with foreach optimisers as
    on CUDA, then time ``repeats`` more calls (median), each right after a call of
    ``reference`` (the ConvNet-3 step), so that the ratio cancels the load of the shared CPU."""
    with Count() as count:
        step()
    seconds, ratios = [], []
    for _ in range(repeats):
        t_ref = 0.0
        if reference is not None:
            t0 = time.perf_counter()
            reference()
            t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
        ratios.append(seconds[-1] / t_ref if reference is not None else 1.0)
    print(f"  {name:<34} {statistics.median(seconds):8.3f} s  x{statistics.median(ratios):7.2f} ref  "
          f"{count.flops / 1e9:9.1f} GFLOP  {count.kernels:6d} kernels", flush=True)
    return Step(name, statistics.median(seconds), statistics.median(ratios), count.flops, count.kernels)


def images(n: int, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(n, channels, 32, 32), torch.arange(n) % 10


# ---- the steps, at the gpu profile's sizes (each mirrors one iteration of its loop) ----

def supervised_step(model, batch: int, lr: float = 0.01):
    """One SGD step of cross-entropy on a normalised, channels-last batch (ConvNet-3 reference,
    teacher, reference students, pool-model warm-up)."""
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=5e-4)
    x, y = images(batch)
    x = normalize(x, DATASET).contiguous(memory_format=torch.channels_last)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def generator_step(width: int, batch: int, noise: int, pool_name: str | None = None, pool_width: int = 32,
                   pool_steps: int = 16):
    """One step of ``gdd/distill.py``'s loop, with its own functions: the generator step (when
    matching with ``pool_name``: ``pool_steps`` SGD steps of the pool model, then the matching
    terms under one batch-wide draw), then the critic step on new noise with random labels."""
    G, D = Generator(1, 10, width, noise), Critic(1, 10, width)
    opt_g, opt_d = (torch.optim.Adam(m.parameters(), 1e-4, betas=(0.0, 0.9)) for m in (G, D))
    xr, yr = images(batch)
    x_train, y_train = images(pool_steps * batch)
    g = torch.Generator().manual_seed(0)
    model, layer = pool.build(pool_name, 1, 10, pool_width) if pool_name else (None, None)
    model_opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9, weight_decay=5e-4) if model else None

    def step():
        D.requires_grad_(False)
        fake = G(torch.randn(batch, noise), yr)
        g_loss, _ = generator_gan_loss(D, fake, yr)
        if model is not None:
            distill.train_pool_model(model, model_opt, x_train, y_train, pool_steps, batch, DATASET, g)
            l_g, l_l = distill.matching_losses(model, layer, normalize(xr, DATASET), fake, DATASET,
                                               distill.matching_draws(batch, g))
            g_loss = g_loss + 0.01 * l_g + 0.001 * l_l
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        y_fake = torch.randint(10, (batch,))
        with torch.no_grad():
            fake = G(torch.randn(batch, noise), y_fake)
        d_loss, _ = critic_loss(D, from_unit(xr), yr, fake, y_fake, 10.0)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
    return step


def eval_epoch(model: str, ipc: int, together: bool):
    """One epoch of ``gdd.evaluate``'s fixed protocol for one network (``together`` False) or
    five trained together with vmap, as on CUDA (``together`` True), on classes * ipc images."""
    x, y = images(10 * ipc)
    x = normalize(x, DATASET).contiguous(memory_format=torch.channels_last)
    cfg = evaluate.EvalConfig(model=model, epochs=1, runs=5 if together else 1)
    models, gens = evaluate._fresh_networks(cfg, evaluate.get_spec(DATASET), "cpu")
    fam = augment.families_for(DATASET)

    class Once:
        def __iter__(self):
            yield 0

        def set_postfix(self, **_):
            pass

    if together:
        return lambda: evaluate._train_together(models, x, y, fam, cfg, gens, Once())
    return lambda: evaluate._train_one(models[0], x, y, fam, cfg, gens[0], Once())


def forward_pass(model, n: int):
    """Inference on ``n`` images in batches of 1000 (test passes, priority refreshes)."""
    model.eval()
    x, _ = images(n)

    def step():
        with torch.no_grad():
            for i in range(0, n, 1000):
                model(x[i:i + 1000])
    return step


def synthesis_step(gen_width: int, batch: int, teacher, student):
    """One synthesis step of ``gdd/datafree/train.py``: x = g(z, y), the teacher's BN-statistics
    loss, task and adversarial terms, generator backward and Adam step."""
    G = InversionGenerator(1, 10, gen_width, 128)
    opt = torch.optim.Adam(G.parameters(), 3e-3, betas=(0.5, 0.999))
    teacher.eval().requires_grad_(False)
    student.eval().requires_grad_(False)
    y = torch.arange(batch) % 10
    bn = BNStatsLoss(teacher)

    def step():
        x = G(torch.randn(batch, 128), y)
        bn.reset()
        t_logits, s_logits = teacher(normalize(x, DATASET)), student(normalize(x, DATASET))
        loss = 0.1 * bn.loss() + F.cross_entropy(t_logits, y) - kl_per_sample(t_logits, s_logits).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def kd_student_step(student, batch: int):
    """One student step of the data-free loop: KL to cached teacher logits, SGD."""
    student.train()
    opt = torch.optim.SGD(student.parameters(), 0.05, momentum=0.9, weight_decay=5e-4)
    x, _ = images(batch)
    x = normalize(x, DATASET)
    t_logits = torch.randn(batch, 10)

    def step():
        loss = kl_per_sample(t_logits, student(x), 4.0).mean() * 16
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def dm_step(cfg, ipc: int):
    """One iteration of ``gdd/dm.py``: a fresh embedding network, ``batch_real`` real images per
    class and ``ipc`` synthetic ones through it under one DSA draw per class, SGD on the images."""
    x, y = images(10 * cfg.batch_real)
    pools = dm.class_pools(y, 10)
    syn = torch.randn(10 * ipc, 1, 32, 32, requires_grad=True)
    labels = dm.syn_labels(10, ipc)
    opt = torch.optim.SGD([syn], lr=cfg.lr_img, momentum=cfg.momentum)
    g = torch.Generator().manual_seed(0)

    def step():
        net = dm.fresh_net(cfg, g)
        loss = dm.dm_step(syn, labels, dm.real_batches(x, pools, cfg.batch_real, g), net, cfg.dsa_families(), g,
                          DATASET)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def checkpoint_seconds(width: int) -> float:
    """CPU seconds to save a generator run's checkpoint (G, critic, both Adam states)."""
    G, D = Generator(1, 10, width), Critic(1, 10, width)
    opts = [torch.optim.Adam(m.parameters()) for m in (G, D)]
    for m, o in zip((G, D), opts):  # materialise the Adam states
        sum(p.sum() for p in m.parameters()).backward()
        o.step()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        torch.save({"G": G.state_dict(), "D": D.state_dict(), "opt_g": opts[0].state_dict(),
                    "opt_d": opts[1].state_dict()}, Path(d) / "checkpoint.pt")
        return time.perf_counter() - t0


def settings(profile: str = "gpu") -> SimpleNamespace:
    """The numbers of ``profile`` this estimate uses, read from the configs it builds
    (``gdd.configs``), under the names the estimate below uses."""
    p = get_profile(profile)
    gan, dist = configs.gan_config(p, "mnist"), configs.distill_config(p, "mnist", "gdd")
    df, teacher = configs.datafree_config(p, "mnist", "ssdkd"), configs.teacher_config(p, "mnist")
    cross = next((m for m in p.cross_models if m != "convnet3"), "convnet3")
    return SimpleNamespace(
        ipcs=p.ipcs, focus_dataset=p.focus_dataset, cross_models=p.cross_models, cross_matchers=p.cross_matchers,
        ablation_lambdas=p.ablation_lambdas,
        gan_epochs=gan.epochs, gan_train_size=gan.train_size, gan_batch=gan.batch, gan_width=gan.width,
        gan_noise=gan.noise, checkpoint_every=gan.checkpoint_every, distill_epochs=dist.epochs,
        distill_steps_per_epoch=dist.steps_per_epoch, distill_batch=dist.batch, pool=dist.pool,
        pool_width=dist.pool_width, pool_steps=dist.pool_steps, eval_runs=configs.eval_config(p, p.ipcs[0]).runs,
        epochs_for=lambda ipc: configs.epochs_for(p, ipc), cross_epochs=configs.eval_config(p, 10, cross).epochs,
        datafree_iters=df.iters, datafree_synth_every=df.synth_every, datafree_warmup=df.warmup,
        teacher_steps=teacher.steps,
        datafree_buffer_size=df.buffer_size, datafree_eval_every=df.eval_every,
        datafree_checkpoint_every=df.checkpoint_every, teacher_model=teacher.model,
        teacher_width=teacher.model_kw["width"], student_model=df.student, student_width=df.student_kw["width"],
        datafree_batch=df.batch, datafree_gen_width=df.gen_width, datafree_syn_batch=df.syn_batch,
        reference_lr=configs.reference_config(p, "mnist", "scratch").lr,
        image_methods=p.image_methods, dm=configs.dm_config(p, "mnist", 1), race_dm=configs.dm_config(p, "mnist", 10,
                                                                                              matcher="resnet18"),
        features=configs.feature_config(p, "mnist"), datafree_seeds=len(p.datafree_seeds),
        synthesis_sweep=len(p.synthesis_sweep), dim_protocol_cells=configs.dim_protocol_cells(p))


# ---- what each stage of `gdd reproduce --profile gpu` runs ----

def generator_work(p) -> tuple[dict[str, float], dict[str, float]]:
    """One dataset's stage-1 GAN run, and its cgan, dim and gdd distillation runs: {step: count}."""
    gan_steps = p.gan_epochs * ((p.gan_train_size or TRAIN_SIZE) // p.gan_batch)
    distill = p.distill_epochs * p.distill_steps_per_epoch
    gan = {"gan step": gan_steps, "checkpoint": gan_steps / p.checkpoint_every}
    return gan, {"cgan distill step": distill, "pool distill step (mean)": 2 * distill,
                 "checkpoint": 3 * distill / p.checkpoint_every}


def fresh_machine_extra(p) -> dict[str, dict[str, float]]:
    """What a stage retrains when it runs on a fresh machine (runs/ is not carried, only
    results/): figures needs every generator of Table 1; figure3 and table2 the focus dataset's
    GAN; redeploy its GAN and gdd generator."""
    gan, distill = generator_work(p)
    figures = {}
    for part in (gan, distill, gan, distill):
        figures = {k: figures.get(k, 0) + part.get(k, 0) for k in {*figures, *part}}
    gdd = {**gan, "pool distill step (mean)": p.distill_epochs * p.distill_steps_per_epoch}
    return {"figures": figures, "figure3": dict(gan), "table2": dict(gan), "redeploy": gdd}


def stage_work(p) -> dict[str, dict[str, float]]:
    """stage -> {step name: count}; read from the profile, following gdd/reproduce.py (results
    that an earlier stage already stored are not counted again)."""
    distill = p.distill_epochs * p.distill_steps_per_epoch
    runs = p.eval_runs

    def evaluation(model: str, ipc: int) -> dict[str, float]:
        """One evaluation (experiments.eval_config): its epochs of K networks, then K tests."""
        epochs = p.epochs_for(ipc) if model == "convnet3" else p.cross_epochs
        return {f"eval {model} ipc{ipc} (x5 together)": epochs, f"test {model} (1000 images)": runs * TEST_SIZE / 1000}

    def add(total: dict, part: dict) -> dict:
        for k, v in part.items():
            total[k] = total.get(k, 0) + v
        return total

    def dm_run(ipc: int, arch: str = "") -> dict:
        return {f"dm step {arch + ' ' if arch else ''}ipc{ipc}": p.dm.iterations}

    def table1_dataset() -> dict:
        gan, generators = generator_work(p)
        work = {**gan, **generators, "checkpoint": gan["checkpoint"] + generators["checkpoint"]}
        for ipc in p.ipcs:
            for _ in range(4 + len(p.image_methods)):  # random, cgan, dim, gdd, the image-based baselines
                add(work, evaluation("convnet3", ipc))
            if "dm" in p.image_methods:
                add(work, dm_run(ipc))
        for _, ipc in p.dim_protocol_cells:             # DiM's protocol: as many epochs as the fixed set
            add(work, evaluation("convnet3", ipc))
        if {"herding", "k_center"} & set(p.image_methods):  # the coresets' feature network, then its embeddings
            add(work, {"convnet3 train step": p.features.epochs * -(-TRAIN_SIZE // p.features.batch),
                       "test convnet3 (1000 images)": TRAIN_SIZE / 1000})
        return work

    # Figure 3: every lambda_l but the default (Table 1's gdd run), at IPC 1
    figure3 = {"pool distill step (mean)": (len(p.ablation_lambdas) - 1) * distill,
               "checkpoint": (len(p.ablation_lambdas) - 1) * distill / p.checkpoint_every}
    for _ in range(len(p.ablation_lambdas) - 1):
        add(figure3, evaluation("convnet3", 1))
    # dim and gdd tuned with each single matcher; rows random, cgan (their ConvNet-3 cells are Table 1's)
    table2 = {f"pool distill step ({m})": 2 * distill for m in p.cross_matchers}
    table2["checkpoint"] = 2 * len(p.cross_matchers) * distill / p.checkpoint_every
    for m in p.cross_models:
        for _ in range(2 * len(p.cross_matchers) + 2 * (m != "convnet3")):
            add(table2, evaluation(m, 10))
    # data-free, per dataset (gdd/datafree/experiments.py): the teacher; references scratch and
    # kd_real (iters real-data steps each); adv (a synthesis every step), four small-scale methods
    # (every synth_every-th step) and the two matched runs (synth_every x iters steps); each of
    # these 7 runs first warms its generator up (counted as synthesis steps: one student forward more)
    it, every, warmup = p.datafree_iters, p.datafree_synth_every, p.datafree_warmup
    teacher_steps = p.teacher_steps
    kd_steps = 5 * it + 2 * every * it
    refreshes = 2 * it // 100 + every * it // 100      # ssdkd, ssdkd_nophi, matched ssdkd: every 100 steps
    buffer = p.datafree_buffer_size
    seeds = p.datafree_seeds   # every student row over the seeds; one teacher
    datafree = {"teacher step": teacher_steps, "student step (real)": seeds * 2 * it,
                "teacher forward (kd_real batch)": seeds * it, "kd student step": seeds * kd_steps,
                "synthesis step": seeds * (it + 4 * -(-it // every) + 2 * it + 7 * warmup),
                "student forward (1000 images)": seeds * (refreshes * buffer / 1000
                                                          + kd_steps / p.datafree_eval_every * TEST_SIZE / 1000),
                "checkpoint": (teacher_steps / 200 + seeds * kd_steps / p.datafree_checkpoint_every)}
    # the synthesis-weight sweep (focus dataset): full ssdkd runs, one of them the ablation's seed 0
    sweep = {"kd student step": (p.synthesis_sweep - 1) * it,
             "synthesis step": (p.synthesis_sweep - 1) * (-(-it // every) + warmup),
             "student forward (1000 images)": (p.synthesis_sweep - 1) * (it // 100 * buffer / 1000
                                                                         + it / p.datafree_eval_every * TEST_SIZE / 1000)}
    # the re-deployment race: DM from scratch at every IPC and with ResNet-18 embeddings, then the
    # two ResNet-18 evaluations of its change of architecture
    redeploy = {}
    for ipc in p.ipcs:
        add(redeploy, dm_run(ipc))
    add(redeploy, dm_run(10, "resnet18"))
    for _ in range(2):
        add(redeploy, evaluation("resnet18", 10))
    # figures: generators and grids are table1's (stored); gradient_shares trains each of the pool's
    # models through one epoch of pool steps (a matching step's worth per 16) and takes 2 x 5
    # batches of gradients, per dataset: counted as matching steps
    figures = {"pool distill step (mean)": 2 * len(p.pool) * (p.distill_steps_per_epoch + 10)}
    # bench ("full" scale, gdd/bench.py): 3 + 50 ConvNet-3 steps; 1 + 50 evaluation epochs of 5
    # networks together and apart (apart counted as together); GAN 2 + 50 steps, distillation
    # 2 + 50 steps; host_waits: 20 evaluation epochs, 2 + 20 distillation steps (width 196, batch 64)
    bench = {"convnet3 train step": 53, "eval convnet3 ipc10 (x5 together)": 2 * 51 + 20, "bench gan step": 56,
             "bench pool distill step": 70}
    return {"bench": bench, "table1 mnist": table1_dataset(), "table1 fashion_mnist": table1_dataset(),
            "figures": figures, "figure3": figure3, "table2": table2,
            **{f"datafree {d}": add(dict(datafree), sweep) if d == p.focus_dataset else dict(datafree)
               for d in ("mnist", "fashion_mnist")},
            "redeploy": redeploy}


def measure_steps(p, repeats: int) -> list[Step]:
    """Every step of the gpu profile, measured on this CPU; the first is the ConvNet-3 reference."""
    print(f"CPU steps at the gpu profile's sizes ({torch.get_num_threads()} threads):", flush=True)
    torch.manual_seed(0)
    foreach = {name: partial(getattr(torch.optim, name), foreach=True) for name in ("SGD", "Adam")}
    with mock.patch.multiple(torch.optim, **foreach):  # optimisers as on CUDA (multi-tensor kernels)
        reference = supervised_step(make_model("convnet3", 1, 10), 256)
        steps = [measure("convnet3 train step", reference, repeats)]
        m = partial(measure, repeats=repeats, reference=reference)
        steps += [m("gan step", generator_step(p.gan_width, p.gan_batch, p.gan_noise)),
                  m("cgan distill step", generator_step(p.gan_width, p.distill_batch, p.gan_noise))]
        by_pool = [m(f"pool distill step ({name})", generator_step(p.gan_width, p.distill_batch, p.gan_noise, name,
                                                                    p.pool_width, p.pool_steps)) for name in p.pool]
        steps += by_pool
        steps.append(Step("pool distill step (mean)", statistics.mean(s.cpu_s for s in by_pool),
                          statistics.mean(s.rel for s in by_pool), statistics.mean(s.flops for s in by_pool),
                          round(statistics.mean(s.kernels for s in by_pool))))
        steps.append(m("bench gan step", generator_step(196, 64, 100)))
        steps.append(m("bench pool distill step", generator_step(196, 64, 100, "convnet3", 32)))
        for model, ipcs in [("convnet3", p.ipcs)] + [(c, (10,)) for c in p.cross_models if c != "convnet3"]:
            for ipc in ipcs:
                one = m(f"eval {model} ipc{ipc} (1 network)", eval_epoch(model, ipc, False))
                with Count() as count:  # kernels do not depend on the batch size: one step at IPC 1
                    eval_epoch(model, 1, True)()
                kernels = count.kernels * -(-10 * ipc // 256)
                # five networks: five times the CPU time of one, the kernels of one vmapped epoch
                steps.append(Step(f"eval {model} ipc{ipc} (x5 together)", 5 * one.cpu_s, 5 * one.rel, 5 * one.flops,
                                  kernels))
                print(f"  {'  x5 together (vmap): kernels':<34} {kernels:33d}", flush=True)
            steps.append(m(f"test {model} (1000 images)", forward_pass(make_model(model, 1, 10), 1000)))
        for ipc in p.ipcs:
            steps.append(m(f"dm step ipc{ipc}", dm_step(p.dm, ipc)))
        steps.append(m("dm step resnet18 ipc10", dm_step(p.race_dm, 10)))
        teacher = make_model(p.teacher_model, 1, 10, width=p.teacher_width)
        student = make_model(p.student_model, 1, 10, width=p.student_width)
        steps += [m("teacher step", supervised_step(teacher, 128, 0.1)),
                  m("student step (real)", supervised_step(make_model(p.student_model, 1, 10, width=p.student_width),
                                                           p.datafree_batch, p.reference_lr)),
                  m("teacher forward (kd_real batch)", forward_pass(teacher, p.datafree_batch)),
                  m("kd student step", kd_student_step(student, p.datafree_batch)),
                  m("synthesis step", synthesis_step(p.datafree_gen_width, p.datafree_syn_batch, teacher, student)),
                  m("student forward (1000 images)", forward_pass(student, 1000))]
    steps.append(Step("checkpoint", checkpoint_seconds(p.gan_width), 0.0, 0.0, 0))  # disk time, not scaled
    return steps


def markdown(rows: list[list[str]], bold_last: bool = False) -> str:
    """A Markdown table: the first row is the header; ``bold_last`` sets the last row's numbers in bold."""
    body = [r if not (bold_last and i == len(rows) - 2) else [f"**{c}**" if c else c for c in r]
            for i, r in enumerate(rows[1:])]
    return "\n".join(["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
                     + ["| " + " | ".join(r) + " |" for r in body])


def report(p, steps: list[Step], csv_prefix: str | None = None) -> None:
    """Print the step and stage tables (Markdown); with ``csv_prefix``, also write each as
    ``<csv_prefix>_{steps,gpu,stages}.csv``."""
    ref, by_name = steps[0], {s.name: s for s in steps}
    print(f"\nthe ConvNet-3 training step (width 128, batch 256): {ref.flops / 1e9:.1f} GFLOP, {ref.cpu_s:.2f} s "
          f"on this CPU: {ref.flops / ref.cpu_s / 1e9:.1f} GFLOP/s (shared, varies with load; the estimate uses "
          f"time ratios to it); assumed H100 rate {GPU_SHARES[0] * PEAK_BF16 / 1e12:.0f} / "
          f"{GPU_SHARES[1] * PEAK_BF16 / 1e12:.0f} TFLOP/s ({GPU_SHARES[0]:.0%} / {GPU_SHARES[1]:.0%} of "
          f"{PEAK_BF16 / 1e12:.0f})")
    steps_table = [["step (gpu profile sizes)", "CPU s", "x ConvNet-3 step", "GFLOP"]] + [
        [s.name, f"{s.cpu_s:.3f}", f"{s.rel:.2f}", f"{s.flops / 1e9:.1f}"] for s in steps]
    gpu_table = [["step", "kernels", "GPU ms at 5 %", "of which launches"]] + [
        [s.name, str(s.kernels), f"{1e3 * s.gpu_s(ref.flops, GPU_SHARES[0]):.2f}", f"{1e3 * s.kernels * LAUNCH_S:.2f}"]
        for s in steps]
    stage_table = [["stage", "largest items (count x step)", "GPU min at 5 % of peak", "at 10 %",
                    "at 5 %, 10 us launches"]]
    variants = [(GPU_SHARES[0], LAUNCH_S), (GPU_SHARES[1], LAUNCH_S), (GPU_SHARES[0], 2 * LAUNCH_S)]
    totals = [0.0] * len(variants)
    for stage, work in stage_work(p).items():
        minutes = [(STAGE_OVERHEAD_S + sum(n * by_name[k].gpu_s(ref.flops, share, launch) for k, n in work.items())) / 60
                   for share, launch in variants]
        totals = [t + mnt for t, mnt in zip(totals, minutes)]
        largest = sorted(work.items(), key=lambda kv: -kv[1] * by_name[kv[0]].gpu_s(ref.flops, GPU_SHARES[0]))[:3]
        flag = " (> 8 min)" if max(minutes) > 8 else ""
        stage_table.append([stage + flag, ", ".join(f"{n:.0f} x {k}" for k, n in largest), *(f"{m:.1f}" for m in minutes)])
    stage_table.append(["total (target 25 min)", "", *(f"{t:.1f}" for t in totals)])
    # two narrow step tables rather than one wide one: the book shows them on a phone too
    for name, rows in (("steps", steps_table), ("gpu", gpu_table), ("stages", stage_table)):
        print("\n" + markdown(rows, bold_last=name == "stages"))
        if csv_prefix:
            path = Path(f"{csv_prefix}_{name}.csv")
            with open(path, "w", newline="") as f:
                csv.writer(f).writerows(rows)
            print(f"(written to {path})")
    print("\nif a stage runs on a fresh machine (runs/ not carried), it first retrains generators:")
    for stage, work in fresh_machine_extra(p).items():
        minutes = [sum(n * by_name[k].gpu_s(ref.flops, share, launch) for k, n in work.items()) / 60
                   for share, launch in variants]
        print(f"  {stage}: + {minutes[0]:.1f} min at 5 % ({minutes[1]:.1f} at 10 %, {minutes[2]:.1f} with 10 us launches)")
    launches = sum(n * by_name[k].kernels * LAUNCH_S for work in stage_work(p).values() for k, n in work.items()) / 60
    print(f"kernel launches at 5 us: {launches:.1f} of the total's minutes")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="timed calls per step (after one counted warm-up call)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--save", type=Path, help="write the measured steps to this JSON file")
    ap.add_argument("--load", type=Path, help="read the steps from this JSON file instead of measuring")
    ap.add_argument("--csv", help="also write the tables as PREFIX_steps.csv, PREFIX_gpu.csv, PREFIX_stages.csv")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    p = settings("gpu")
    if args.load:
        steps = [Step(**s) for s in json.loads(args.load.read_text())]
    else:
        steps = measure_steps(p, args.repeats)
    if args.save:
        args.save.write_text(json.dumps([dataclasses.asdict(s) for s in steps], indent=1))
    report(p, steps, args.csv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
