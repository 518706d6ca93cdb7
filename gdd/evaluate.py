"""Evaluation protocols: train fresh networks on distilled data, test them on the real test set.

``protocol="fixed"`` (``evaluate_set``), the standard protocol of dataset distillation (DC /
DSA / DM): train on a fixed image set (SGD lr 0.01, momentum 0.9, weight decay 5e-4, batch
256, lr x0.1 at half the epochs, DSA on every batch) and report the accuracy at the end. On
CUDA the ``runs`` networks of one evaluation are trained together: their parameters are
stacked and one ``torch.func.vmap``-ed step updates all of them, which gives the same numbers
as training them one after another with the same seeds.

``protocol="dim"`` (``evaluate_generator``), DiM's ``validate.py``: fresh generator samples
at every epoch, no learning-rate schedule, a test every ``eval_every`` epochs; the best and
the final test accuracy are reported.
"""
from __future__ import annotations

import copy
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from gdd import augment
from gdd.data import get_spec, normalize, to_device
from gdd.gan import Generator, to_unit
from gdd.models import WIDTH_MODELS, make_model

# fields added after results were stored: left out of a stored config (and of its key, see
# ``gdd.results.as_dict``) while at their default, so results stored before them stay valid
ADDED = {"omit_at_default": True}
PROTOCOLS = ("fixed", "dim")


@dataclass
class EvalConfig:
    model: str = "convnet3"
    epochs: int = 1000
    runs: int = 5
    batch_size: int = 256
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dsa: bool = True
    seed: int = 0
    together: bool | None = None  # train the runs together (vmap); None: on CUDA only, since
                                  # vmapped (grouped) convolutions measured 2x slower on CPU
    protocol: str = field(default="fixed", metadata=ADDED)  # "fixed": evaluate_set; "dim": evaluate_generator
    eval_every: int = field(default=200, metadata=ADDED)    # "dim": epochs between test-set checks
    # torch.compile the network of the one-at-a-time path (not the vmapped one); None: where it
    # was measured to win (see _use_compile). Compiled rounding differs: not bit-identical to eager.
    compile: bool | None = field(default=None, metadata=ADDED)
    width: int | None = field(default=None, metadata=ADDED)  # base width of a model with one; None: its default

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown evaluation protocol {self.protocol!r}; valid: {', '.join(PROTOCOLS)}")
        if self.eval_every <= 0:
            raise ValueError(f"eval_every must be positive, got {self.eval_every}")
        if self.width is not None and self.model not in WIDTH_MODELS:
            raise ValueError(f"{self.model} has no width setting; width applies to {', '.join(WIDTH_MODELS)}")


# auto compile (EvalConfig.compile None): on the CPU, for evaluations of at least this many SGD
# steps (all networks) with batches of at least this many images
COMPILE_MIN_STEPS, COMPILE_MIN_BATCH = 500, 100


def _use_compile(cfg: EvalConfig, device: torch.device, n: int) -> bool:
    """Whether to compile the training of ``cfg.runs`` networks one after another on ``n``
    images per epoch: ``cfg.compile`` if given; otherwise (auto) only where it was measured to
    win. Measured (benchmarks/compile_eval.py, ConvNet-3, 2 shared CPU cores): x1.3-1.4 per step
    at IPC 10 and 50 after 24-40 s of compilation (break-even after 55-125 steps; later networks
    of the same shape reuse the compiled code), but only x1.1-1.2 at IPC 1 (batch 10), where
    16-60 s of compilation take 430-2750 steps to repay. Not measured on CUDA: eager there. Auto
    also needs a C++ compiler (inductor's ``$CXX``, default g++). The cpu profile's evaluations at
    IPC 10 and 50 (3000 and 1200 steps of batches of 100 and 256) are compiled; those at IPC 1
    (batches of 10) and the tests' are not."""
    if cfg.compile is not None:
        return cfg.compile
    bs = min(cfg.batch_size, n)
    steps = cfg.epochs * -(-n // bs) * cfg.runs
    return (device.type == "cpu" and bs >= COMPILE_MIN_BATCH and steps >= COMPILE_MIN_STEPS
            and shutil.which(os.environ.get("CXX", "g++")) is not None)


def _autocast(device: torch.device):
    """bf16 autocast on CUDA (tensor cores); full precision on CPU, where it does not help."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def _run_seed(seed: int, k: int) -> int:
    return 1000 * seed + k


def _epoch_draws(n: int, batch_size: int, families, dsa: bool, generator: torch.Generator, side: int):
    """One network's randomness for one epoch, drawn on the CPU ahead of the epoch (so the GPU
    loop never waits on the host) and in the order a batch-by-batch loop would draw it: the
    batch order (a permutation of ``n``), then one DSA draw per batch (None without DSA)."""
    perm = torch.randperm(n, generator=generator)
    draws = [augment.sample(len(b), families, generator, side=side) if dsa else None for b in perm.split(batch_size)]
    return perm, draws


def _show_loss(epoch: int, epochs: int) -> bool:
    """Read the loss back (a host-device sync) for the progress bar about 10 times a run."""
    return epoch == epochs - 1 or epoch % max(1, epochs // 10) == 0


def _accuracy_together(base, params, buffers, x_test, y_test, batch: int = 1000) -> torch.Tensor:
    """Test accuracy of every stacked network (K), in [0, 1]."""
    f = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x_test), batch):
            correct = correct + (f(params, buffers, x_test[i:i + batch]).argmax(-1) == y_test[i:i + batch]).sum(-1)
    return correct.float() / len(x_test)


def _train_together(models, x, y, families, cfg, generators, progress):
    """Train the K ``models`` on (x, y) together; return (base module, params, buffers)."""
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    step = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)))
    opt = torch.optim.SGD(params.values(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    bs = min(cfg.batch_size, len(x))
    for epoch in progress:
        if epoch == cfg.epochs // 2:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.1
        epoch_draws = [_epoch_draws(len(x), bs, families, cfg.dsa, g, x.shape[-1]) for g in generators]
        perms = to_device(torch.stack([perm for perm, _ in epoch_draws]), x.device)     # K x N
        for b, start in enumerate(range(0, len(x), bs)):
            idx = perms[:, start:start + bs]                                             # K x B
            xb = [x[i] for i in idx]
            if cfg.dsa:
                xb = [augment.apply(xi, draws[b]) for xi, (_, draws) in zip(xb, epoch_draws)]
            with _autocast(x.device):
                logits = step(params, buffers, torch.stack(xb))        # K x B x classes
            # sum over networks of each one's mean loss: each gets its own gradient
            loss = F.cross_entropy(logits.float().flatten(0, 1), y[idx].flatten(), reduction="none").view_as(idx).mean(1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if _show_loss(epoch, cfg.epochs):
            progress.set_postfix(loss=f"{loss.item() / len(models):.3f}")
    return base, params, buffers


def _sgd_step(net, opt, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """One step of cross-entropy on (images B x C x 32 x 32, labels B); the loss (0-dim, on
    the device: reading it is left to the caller)."""
    with _autocast(xb.device):
        loss = F.cross_entropy(net(xb).float(), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def _fit(model, epoch_batches, cfg, progress, schedule: bool, after_epoch=None):
    """SGD (cfg.lr, momentum, weight decay) on the (augmented images, labels) batches that
    ``epoch_batches(epoch)`` yields, for every epoch of ``progress``; lr x0.1 from half the
    epochs on if ``schedule``; ``after_epoch(epoch)`` after each epoch (it may test the model)."""
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    net = torch.compile(model) if cfg.compile else model  # shares model's parameters; None: eager
    for epoch in progress:
        if schedule and epoch == cfg.epochs // 2:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.1
        model.train()
        for xb, yb in epoch_batches(epoch):
            loss = _sgd_step(net, opt, xb, yb)
        if _show_loss(epoch, cfg.epochs):
            progress.set_postfix(loss=f"{loss.item():.3f}")
        if after_epoch is not None:
            after_epoch(epoch)
    return model


def _fixed_batches(x, y, families, cfg, generator):
    """The standard protocol's data for one network: ``epoch_batches(epoch)`` yields the fixed
    set (x, y) in a fresh random order, in batches of min(batch_size, N), each with its DSA draw."""
    bs = min(cfg.batch_size, len(x))

    def epoch_batches(epoch):
        perm, draws = _epoch_draws(len(x), bs, families, cfg.dsa, generator, x.shape[-1])
        for idx, draw in zip(to_device(perm, x.device).split(bs), draws):
            yield (x[idx] if draw is None else augment.apply(x[idx], draw)), y[idx]

    return epoch_batches


def _train_one(model, x, y, families, cfg, generator, progress):
    """Train ``model`` on the fixed set (x, y), the standard protocol."""
    return _fit(model, _fixed_batches(x, y, families, cfg, generator), cfg, progress, schedule=True)


def accuracy(model, x_test, y_test, batch: int = 1000) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum((model(x_test[i:i + batch]).argmax(1) == y_test[i:i + batch]).sum()
                      for i in range(0, len(x_test), batch))
    return correct.item() / len(x_test)


def _fresh_networks(cfg, spec, device) -> tuple[list, list[torch.Generator]]:
    """The ``cfg.runs`` freshly initialised networks (run k seeded 1000 * seed + k, channels-last
    on ``device``) and each run's CPU random generator (batch order, DSA, generator samples)."""
    models, generators = [], []
    for k in range(cfg.runs):
        torch.manual_seed(_run_seed(cfg.seed, k))
        width = {"width": cfg.width} if cfg.width else {}
        models.append(make_model(cfg.model, spec.channels, spec.num_classes, **width).to(
            device, memory_format=torch.channels_last))
        generators.append(torch.Generator().manual_seed(_run_seed(cfg.seed, k)))
    return models, generators


def _summary(accs: list[float]) -> dict:
    t = torch.tensor(accs)
    return {"mean": t.mean().item(), "std": t.std(unbiased=False).item() if len(accs) > 1 else 0.0}


def evaluate_set(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                 test_labels: torch.Tensor, dataset: str, cfg: EvalConfig = EvalConfig(),
                 device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Train ``cfg.runs`` fresh ``cfg.model`` networks on (images N x C x 32 x 32 in [0, 1],
    labels N) and test on the real test set. Returns per-run accuracies in %, their mean and
    std, and the wall time in seconds."""
    if cfg.protocol != "fixed":
        raise ValueError(f"evaluate_set trains on a fixed image set (protocol 'fixed'), got protocol "
                         f"{cfg.protocol!r}; evaluate a generator with evaluate_generator")
    if len(images) == 0:
        raise ValueError("the image set is empty")
    spec = get_spec(dataset)
    if images.shape[1] != spec.channels:
        raise ValueError(f"images have {images.shape[1]} channels, {dataset} has {spec.channels}")
    start = time.time()
    device = torch.device(device)
    cl = torch.channels_last  # faster convolutions on CPU and GPU alike
    x = normalize(images.to(device), dataset).contiguous(memory_format=cl)
    y = labels.to(device)
    x_test = normalize(test_images.to(device), dataset).contiguous(memory_format=cl)
    y_test = test_labels.to(device)
    families = augment.families_for(dataset)
    models, generators = _fresh_networks(cfg, spec, device)
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in models[0].modules())
    bar = lambda desc: tqdm(range(cfg.epochs), desc=desc, disable=not progress, leave=False)  # noqa: E731
    together = device.type == "cuda" if cfg.together is None else cfg.together
    if together and not has_bn:  # batch-norm running stats cannot be updated under vmap
        base, params, buffers = _train_together(models, x, y, families, cfg, generators,
                                                bar(f"{cfg.model} x{cfg.runs}"))
        accs = (_accuracy_together(base, params, buffers, x_test, y_test) * 100).tolist()
        compiled = False
    else:
        compiled = _use_compile(cfg, device, len(x))
        accs = [100 * accuracy(_train_one(m, x, y, families, replace(cfg, compile=compiled), g,
                                          bar(f"{cfg.model} run {k}")), x_test, y_test)
                for k, (m, g) in enumerate(zip(models, generators))]
    return {"accuracies": accs, **_summary(accs), "wall_time_s": time.time() - start, "train_size": len(images),
            "eval": asdict(cfg), "compiled": compiled}


def _generator_batches(G: Generator, ipc: int, dataset: str, families, cfg: EvalConfig,
                       generator: torch.Generator, device: torch.device):
    """DiM's training data for one network: ``epoch_batches(epoch)`` yields the epoch's N =
    classes * ipc fresh samples in batches of min(batch_size, N), as (normalised, augmented
    images B x C x 32 x 32, labels B). Every epoch holds each class ``ipc`` times in a random
    order; its randomness (label order, DSA draws, then noise N x noise) is drawn on the CPU
    from ``generator`` ahead of the epoch. Images are ``to_unit(G(z, y))`` clamped to [0, 1],
    as ``gdd.deploy.sample`` makes a fixed set, with G in eval mode and no gradient."""
    n = G.num_classes * ipc
    bs = min(cfg.batch_size, n)
    labels = torch.arange(G.num_classes).repeat_interleave(ipc)

    def epoch_batches(epoch):
        perm, draws = _epoch_draws(n, bs, families, cfg.dsa, generator, 32)
        z = to_device(torch.randn(n, G.noise, generator=generator), device)
        y = to_device(labels[perm], device)
        for b, start in enumerate(range(0, n, bs)):
            zb, yb = z[start:start + bs], y[start:start + bs]
            with torch.no_grad():
                xb = normalize(to_unit(G(zb, yb)).clamp(0, 1), dataset).contiguous(memory_format=torch.channels_last)
            yield (xb if draws[b] is None else augment.apply(xb, draws[b])), yb

    return epoch_batches


def evaluate_generator(G: Generator, ipc: int, test_images: torch.Tensor, test_labels: torch.Tensor, dataset: str,
                       cfg: EvalConfig = EvalConfig(protocol="dim", epochs=1000),
                       device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """DiM's evaluation protocol (``validate.py``) for a conditional generator ``G``
    (``gdd.gan.Generator``: z B x noise, y B -> B x C x 32 x 32 in [-1, 1]).

    ``cfg.runs`` fresh ``cfg.model`` networks (seeded as in ``evaluate_set``), each trained for
    ``cfg.epochs`` epochs; an epoch is N = classes * ``ipc`` *fresh* samples x = G(z, y),
    z ~ N(0, I), each class ``ipc`` times, in batches of min(``cfg.batch_size``, N). SGD with
    ``cfg.lr``, momentum, weight decay and *no* schedule; DSA on every batch as in
    ``evaluate_set``. The real test set (``test_images`` M x C x 32 x 32 in [0, 1]) is
    classified every ``cfg.eval_every`` epochs and after the last one.

    Returns, in %, per run: ``best`` (the highest checked accuracy, what DiM reports) and
    ``accuracies`` (the final one, as ``evaluate_set`` reports), with means and stds
    (``best_mean``, ``best_std``, ``mean``, ``std``); ``checks`` (per run, [epoch, accuracy]
    pairs); ``samples_per_epoch``, ``steps_per_epoch``, ``wall_time_s``.

    Differences from DiM's ``validate.py`` (github vimar-gu/DiM):

    - samples per epoch: DiM runs ``10 * ipc // batch_size`` batches of ``batch_size`` (128
      by default): 0 steps per epoch at IPC 1 and 10 unless ``--batch-size`` is lowered, and
      384 rather than 500 samples at IPC 50. Here an epoch is exactly classes * ipc samples,
      the last batch smaller if need be. (``pool_match.py``'s copy of ``validate`` adds one
      batch: ``10 * ipc // batch_size + 1``.)
    - labels: DiM draws them uniformly at random per batch (``randint``), or as one
      permutation of the classes when the batch size equals the class count; here each epoch
      holds every class exactly ``ipc`` times (the class balance of a fixed IPC set), shuffled,
      so a batch smaller than the epoch is not exactly balanced.
    - batch size: DiM's default 128; here ``cfg.batch_size`` (256, the fixed protocol's).
    - augmentation: DiM applies colour (brightness, saturation, contrast) *and* a crop to every
      batch, per-sample (``aug_type`` color_crop_cutout with cutout removed); here one DSA
      family per batch with per-sample parameters, as in ``evaluate_set`` (no flip for MNIST).
    - the networks: DiM trains one network per architecture with one global seed (3407) and
      reports its best accuracy; here ``cfg.runs`` networks with their own seeds, best and
      final. DiM tests with the network left in training mode (batch-norm models then use
      test-batch statistics); here in eval mode. Our test includes the final epoch even when
      ``cfg.epochs`` is not a multiple of ``cfg.eval_every`` (DiM: 1000 and 200, so it is).
    - normalisation: DiM normalises generated images with the dataset mean/std but its MNIST
      and Fashion-MNIST *test* sets with (0.5, 0.5) (``transform_train`` in ``load_data``);
      here both with the dataset's mean/std. DiM's 1-channel images are 28 x 28; here padded
      to 32 x 32 as everywhere in this package.
    - the same as DiM: G in eval mode (batch norm with running statistics), no gradient,
      z ~ N(0, 1) with the first ``classes`` entries overwritten by the one-hot label,
      images (tanh output + 1) / 2 (clamped to [0, 1] here: a no-op up to rounding), then
      normalised; SGD lr 0.01, momentum 0.9, weight decay 5e-4, no schedule, 1000 epochs,
      a test every 200 epochs (``EvalConfig(protocol="dim", epochs=1000)``); no CutMix
      (DiM's ``--mix-p`` defaults to -1: off).
    """
    if cfg.protocol != "dim":
        raise ValueError(f"evaluate_generator runs DiM's protocol: give EvalConfig(protocol='dim', ...), "
                         f"got protocol {cfg.protocol!r}")
    if ipc <= 0:
        raise ValueError(f"images per class must be positive, got ipc={ipc}")
    if cfg.together:
        raise ValueError("protocol 'dim' trains its networks one after another (together=True is not supported)")
    spec = get_spec(dataset)
    if (G.channels, G.num_classes) != (spec.channels, spec.num_classes):
        raise ValueError(f"the generator makes {G.channels}-channel images of {G.num_classes} classes; "
                         f"{dataset} has {spec.channels} channels and {spec.num_classes} classes")
    start = time.time()
    device = torch.device(device)
    G = G.to(device).eval()
    x_test = normalize(test_images.to(device), dataset).contiguous(memory_format=torch.channels_last)
    y_test = test_labels.to(device)
    families = augment.families_for(dataset)
    models, generators = _fresh_networks(cfg, spec, device)
    train_cfg = replace(cfg, compile=_use_compile(cfg, device, spec.num_classes * ipc))
    checks = []
    for k, (model, g) in enumerate(zip(models, generators)):
        run_checks = []

        def check(epoch, model=model, run_checks=run_checks):
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                run_checks.append([epoch + 1, 100 * accuracy(model, x_test, y_test)])

        bar = tqdm(range(cfg.epochs), desc=f"{cfg.model} run {k} (dim)", disable=not progress, leave=False)
        _fit(model, _generator_batches(G, ipc, dataset, families, cfg, g, device), train_cfg, bar, schedule=False,
             after_epoch=check)
        checks.append(run_checks)
    finals = [c[-1][1] for c in checks]
    best = [max(a for _, a in c) for c in checks]
    n = spec.num_classes * ipc
    summary_best = _summary(best)
    return {"accuracies": finals, **_summary(finals), "best": best, "best_mean": summary_best["mean"],
            "best_std": summary_best["std"], "checks": checks, "ipc": ipc, "samples_per_epoch": n,
            "steps_per_epoch": -(-n // min(cfg.batch_size, n)), "wall_time_s": time.time() - start,
            "eval": asdict(cfg), "compiled": train_cfg.compile}
