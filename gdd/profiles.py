"""Compute budgets, one place. Every notebook and `make reproduce` take a profile by name.

- ``smoke``: seconds per stage on a laptop CPU; checks that every code path runs, numbers
  mean nothing.
- ``cpu``: what the book shows when no GPU was available; about an hour and a half on 2 CPU
  cores for everything. Narrow GAN (width 32, 1000 steps of batch 64 at lr 5e-4: at DiM's
  lr 1e-4 the class conditioning had not emerged after 1000 steps), 200 matching steps,
  short evaluations (2 networks; 200/60/20 epochs at IPC 1/10/50).
- ``gpu``: everything reachable on one H100 in about 25 minutes of GPU time.
- ``paper``: the paper's settings (DiM's GAN and matching budgets, 1000-epoch evaluation,
  5 networks): hours of GPU time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Profile:
    name: str
    datasets: tuple[str, ...] = ("mnist", "fashion_mnist")
    ipcs: tuple[int, ...] = (1, 10, 50)
    # evaluation protocol: epochs per IPC, networks per evaluation
    eval_epochs: dict[int, int] = field(default_factory=lambda: {1: 1000, 10: 1000, 50: 1000})
    eval_runs: int = 5
    eval_test_size: int | None = None          # None: the whole test set
    # stage 1: conditional GAN
    gan_width: int = 196
    gan_noise: int = 100
    gan_epochs: int = 150
    gan_batch: int = 128
    gan_train_size: int | None = None          # None: the whole training set
    gan_steps_per_epoch: int | None = None     # None: one pass over the training set
    gan_lr: float = 1e-4
    # stage 2: distillation (matching)
    distill_epochs: int = 100
    distill_steps_per_epoch: int | None = None  # None: one pass over the training set
    distill_batch: int = 64
    distill_lr: float = 5e-6                   # DiM's matching-stage learning rate (G and critic)
    lambda_global: float = 0.01
    lambda_local: float = 0.001
    checkpoint_every: int = 100                # steps
    pool: tuple[str, ...] = ("convnet3", "resnet10", "resnet18")
    pool_width: int | None = None              # None: each pool model's own default width
    # Table 2 / Figure 3
    cross_models: tuple[str, ...] = ("convnet3", "resnet18", "alexnet", "vgg11")
    cross_matchers: tuple[str, ...] = ("convnet3", "resnet18")
    cross_epochs: int | None = None             # None: the profile's epochs for IPC 10
    cross_runs: int | None = None               # None: eval_runs
    cross_test_size: int | None = None          # None: eval_test_size
    ablation_lambdas: tuple[float, ...] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
    # (lambda_g, lambda_l) large enough that the weighted matching gradients are comparable to
    # the adversarial one (experiments.gradient_shares): does matching matter when it can pull?
    strong_lambdas: tuple[float, float] = (1.0, 10.0)
    focus_dataset: str = "cifar10"
    # data-free KD (SSD-KD)
    teacher_epochs: int = 200
    datafree_iters: int = 2000
    teacher_model: str = "resnet18_bn"
    teacher_width: int = 64
    teacher_train_size: int | None = None      # None: the whole training set
    student_model: str = "convnet3"
    student_width: int = 128
    datafree_batch: int = 256                  # student batch (Fast-Datafree: 256)
    datafree_syn_batch: int = 256              # generator batch
    datafree_gen_width: int = 64               # Fast-Datafree's generator width
    datafree_synth_every: int = 4              # small-scale methods synthesise every k-th student step
    datafree_buffer_frac: float = 0.1          # buffer size / real training-set size
    datafree_eval_every: int = 200             # student steps between accuracy points
    datafree_test_size: int | None = None      # None: the whole test set
    datafree_checkpoint_every: int = 200
    # speed figures (gdd.bench): "tiny" | "quick" | "full"
    bench: str = "full"

    def epochs_for(self, ipc: int) -> int:
        return self.eval_epochs.get(ipc, max(self.eval_epochs.values()))

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", datasets=("mnist",), ipcs=(1, 2), eval_epochs={1: 2, 2: 2}, eval_runs=1,
        eval_test_size=500, gan_width=16, gan_noise=32, gan_epochs=1, gan_batch=32, gan_train_size=256,
        gan_steps_per_epoch=4, distill_epochs=2, distill_steps_per_epoch=2, distill_batch=16, distill_lr=1e-4,
        pool_width=8, checkpoint_every=2,
        cross_models=("convnet3", "alexnet"), cross_matchers=("convnet3",), ablation_lambdas=(0.0, 1e-3),
        focus_dataset="mnist", teacher_epochs=1, datafree_iters=5,
        teacher_width=8, teacher_train_size=256, student_width=8, datafree_batch=32, datafree_syn_batch=16,
        datafree_gen_width=8, datafree_synth_every=2, datafree_eval_every=5, datafree_test_size=500,
        datafree_checkpoint_every=2, bench="tiny"),
    "cpu": Profile(
        name="cpu", eval_epochs={1: 200, 10: 60, 50: 20}, eval_runs=2,
        gan_width=32, gan_noise=100, gan_epochs=2, gan_batch=64, gan_steps_per_epoch=500, gan_lr=5e-4,
        distill_epochs=4, distill_steps_per_epoch=50, distill_batch=64, distill_lr=1e-4, pool_width=16,
        cross_models=("convnet3", "resnet18", "alexnet", "vgg11"), cross_matchers=("convnet3", "resnet18"),
        cross_epochs=20, cross_runs=1, cross_test_size=2000,
        ablation_lambdas=(0.0, 1e-3, 1e-2, 1e-1, 1.0), focus_dataset="fashion_mnist",
        teacher_epochs=3, datafree_iters=400, teacher_width=16, teacher_train_size=12800, student_width=32,
        datafree_batch=128, datafree_syn_batch=64, datafree_gen_width=16, datafree_eval_every=50,
        datafree_test_size=2000, datafree_checkpoint_every=100, bench="quick"),
    "gpu": Profile(
        name="gpu", eval_epochs={1: 300, 10: 300, 50: 300}, eval_runs=5,
        gan_width=128, gan_epochs=20, distill_epochs=10, distill_steps_per_epoch=200, distill_lr=2e-5, pool_width=32,
        focus_dataset="fashion_mnist", teacher_epochs=30, datafree_iters=3000,
        teacher_width=32, student_width=64, datafree_gen_width=32, datafree_eval_every=250),
    "paper": Profile(name="paper", datasets=("mnist", "fashion_mnist", "cifar10"), pool_width=32),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}")
    return PROFILES[name]
