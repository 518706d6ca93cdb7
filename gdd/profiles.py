"""Compute budgets, one place. Every notebook, ``gdd reproduce`` and the CLI's ``--profile`` take
a profile by name; ``gdd.configs`` turns a profile into run configs.

A profile says which experiments run (datasets, IPCs, architectures, sweeps) and how it departs
from the papers' settings. The papers' values are the config classes' defaults
(``GenConfig``, ``EvalConfig``, ``RealConfig``, ``DataFreeConfig``); a profile only lists
overrides of them, so the ``paper`` profile overrides nothing.

- ``smoke``: seconds per stage on a laptop CPU; checks that every code path runs, numbers
  mean nothing.
- ``cpu``: what the book shows when no GPU was available (2 CPU cores, resumable stages over
  several sessions). Cuts, each stated in the book: a narrow GAN (width 32, 1000 steps of batch
  64 at lr 5e-4: at DiM's lr 1e-4 the class conditioning had not emerged after 1000 steps);
  200 matching steps at lr 1e-4 with narrow pool models (width 16), each step with DiM's 16
  pool-model steps; evaluation with the protocol's 1000 epochs and 3 networks at IPC 1 and 10,
  200 epochs at IPC 50; Table 2's other architectures 200 epochs on 2000 test images, ResNet-18
  at DiM's CIFAR width (32-64-128-256); DiM's evaluation protocol for ``gdd`` only, at IPC 1
  and 10. DM 500 iterations with 64 real images per class (DM: 20000 and 256); the coresets'
  feature network 2 epochs. Data-free KD: a ResNet-18-BN teacher (width 32) trained 3 epochs on the whole
  training set; students ConvNet-3 width 32, 400 steps of batch 128, 3 seeds; the generator first
  inverts the teacher for 200 steps; KD temperature 1 (at 400 steps KD on real data falls below the
  student from scratch at temperature 4, not at 1; Fast-Datafree uses 20 at 200 epochs).
- ``gpu``: everything reachable on one H100 in short GPU windows, every stage under 8 minutes
  and about 24 GPU-minutes in all by ``benchmarks/gpu_estimate.py`` (a 10-epoch GAN of width
  128, 500 matching steps each with DiM's 16 pool-model steps, 300-epoch evaluations with 5
  networks, DM 1000 iterations, a 15-epoch teacher and 1200-step data-free students).
- ``paper``: the papers' settings (DiM's GAN and matching budgets, 1000-epoch evaluation,
  5 networks): hours of GPU time.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    # which experiments
    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    ipcs: tuple[int, ...] = (1, 10, 50)
    focus_dataset: str = "cifar10"                 # Table 2, Figure 3
    cross_models: tuple[str, ...] = ("convnet3", "resnet18", "alexnet", "vgg11")
    cross_matchers: tuple[str, ...] = ("convnet3", "resnet18")
    ablation_lambdas: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
    # evaluation (EvalConfig overrides; epochs per IPC; test images, None: all)
    eval: dict = field(default_factory=dict)
    eval_epochs: dict = field(default_factory=dict)
    eval_test_size: int | None = None
    cross_eval: dict = field(default_factory=dict)  # Table 2's other architectures, on top of ``eval``
    cross_test_size: int | None = None             # None: eval_test_size
    # DiM's evaluation protocol (fresh samples every epoch, best of periodic tests) beside the
    # fixed set, for these generator methods at these IPCs (None: all of ``ipcs``)
    dim_protocol_methods: tuple[str, ...] = ("cgan", "dim", "gdd")
    dim_protocol_ipcs: tuple[int, ...] | None = None
    # image-based baselines of Table 1 (experiments.IMAGE_METHODS), DM's budget (DMConfig
    # overrides) and the coresets' feature network (coreset.FeatureConfig overrides)
    image_methods: tuple[str, ...] = ("dm", "herding", "k_center")
    dm: dict = field(default_factory=dict)
    coreset: dict = field(default_factory=dict)
    # generator training (GenConfig overrides): stage 1, stage 2 (width, noise, data follow stage 1)
    gan: dict = field(default_factory=dict)
    distill: dict = field(default_factory=dict)
    # data-free KD: teacher (RealConfig overrides, and its epochs over its training set), the
    # data-free student (DataFreeConfig overrides and method_config's buffer_frac / small_every)
    teacher: dict = field(default_factory=dict)
    teacher_epochs: int = 200
    datafree: dict = field(default_factory=dict)
    datafree_seeds: tuple[int, ...] = (0, 1, 2)    # student seeds of every data-free row (one teacher)
    # synthesis weights (w_bn, w_task, w_adv) tried on the focus dataset before the ablation;
    # Fast-Datafree's (10, 0.5, 1) first (datafree.experiments.chosen_weights picks one). With
    # this book's BN loss (a sum over the teacher's 20 BN layers) w_bn = 10 buries the task
    # term: the generator did not make the intended classes (10 % agreement), hence lower w_bn
    synthesis_sweep: tuple[tuple[float, float, float], ...] = ((10.0, 0.5, 1.0), (1.0, 2.0, 1.0), (0.1, 1.0, 1.0),
                                                               (0.1, 2.0, 1.0), (0.1, 5.0, 1.0))
    # speed figures (gdd.bench): "tiny" | "quick" | "full"
    bench: str = "full"


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", datasets=("mnist",), ipcs=(1, 2), focus_dataset="mnist",
        cross_models=("convnet3", "alexnet"), cross_matchers=("convnet3",), ablation_lambdas=(0.0, 1e-3),
        eval={"runs": 1}, eval_epochs={1: 2, 2: 2}, eval_test_size=500, cross_eval={"width": 8},
        gan={"width": 16, "noise": 32, "epochs": 1, "batch": 32, "train_size": 256, "steps_per_epoch": 4,
             "checkpoint_every": 2},
        distill={"epochs": 2, "steps_per_epoch": 2, "batch": 16, "lr_g": 1e-4, "lr_d": 1e-4, "pool_width": 8,
                 "checkpoint_every": 2},
        teacher={"model_kw": {"width": 8}, "train_size": 256}, teacher_epochs=1,
        datafree={"student_kw": {"width": 8}, "iters": 5, "batch": 32, "syn_batch": 16, "gen_width": 8,
                  "noise": 128, "lr_s": 0.05, "temperature": 1.0, "warmup": 2,
                  "small_every": 2, "eval_every": 5, "test_size": 500, "checkpoint_every": 2},
        datafree_seeds=(0, 1), synthesis_sweep=((10.0, 0.5, 1.0), (1.0, 2.0, 1.0)),
        image_methods=("dm", "herding"), dm={"iterations": 2, "batch_real": 8, "width": 8, "checkpoint_every": 1},
        coreset={"epochs": 1, "width": 8, "train_size": 500},
        bench="tiny"),
    "cpu": Profile(
        name="cpu", focus_dataset="fashion_mnist",
        eval={"runs": 3}, eval_epochs={1: 1000, 10: 1000, 50: 200},
        cross_eval={"epochs": 200, "width": 32}, cross_test_size=2000,
        dim_protocol_methods=("gdd",), dim_protocol_ipcs=(1, 10),
        dm={"iterations": 500, "batch_real": 64}, coreset={"epochs": 2},
        gan={"width": 32, "epochs": 2, "batch": 64, "steps_per_epoch": 500, "lr_g": 5e-4, "lr_d": 5e-4},
        distill={"epochs": 4, "steps_per_epoch": 50, "batch": 64, "lr_g": 1e-4, "lr_d": 1e-4, "pool_width": 16},
        teacher={"model_kw": {"width": 32}}, teacher_epochs=3,
        datafree={"student_kw": {"width": 32}, "iters": 400, "batch": 128, "syn_batch": 64, "gen_width": 16,
                  "noise": 128, "lr_s": 0.05, "temperature": 1.0, "warmup": 200,
                  "eval_every": 50, "test_size": 2000, "checkpoint_every": 100},
        bench="quick"),
    "gpu": Profile(
        name="gpu", focus_dataset="fashion_mnist", eval_epochs={1: 300, 10: 300, 50: 300},
        gan={"width": 128, "epochs": 10}, dm={"iterations": 1000}, coreset={"epochs": 5},
        distill={"epochs": 5, "steps_per_epoch": 100, "lr_g": 2e-5, "lr_d": 2e-5, "pool_width": 32},
        teacher={"model_kw": {"width": 32}}, teacher_epochs=15,
        datafree={"student_kw": {"width": 64}, "iters": 1200, "batch": 256, "syn_batch": 256, "gen_width": 32,
                  "noise": 128, "lr_s": 0.05, "temperature": 1.0, "warmup": 150,
                  "eval_every": 250, "test_size": None, "checkpoint_every": 500}),
    "paper": Profile(name="paper", datasets=("mnist", "fashion_mnist", "cifar10")),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]
