"""The standard evaluation protocol of dataset distillation (DC / DSA / DM).

Train fresh networks from scratch on an image set (SGD lr 0.01, momentum 0.9, weight decay
5e-4, batch 256, lr x0.1 at half the epochs, DSA on every batch), then test them on the real
test set. The ``runs`` networks of one evaluation are trained together: their parameters are
stacked and one ``torch.func.vmap``-ed step updates all of them, which gives the same numbers
as training them one after another with the same seeds.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from gdd import augment
from gdd.data import get_spec, normalize, to_device
from gdd.models import make_model


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


def _train_one(model, x, y, families, cfg, generator, progress):
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    bs = min(cfg.batch_size, len(x))
    model.train()
    for epoch in progress:
        if epoch == cfg.epochs // 2:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.1
        perm, draws = _epoch_draws(len(x), bs, families, cfg.dsa, generator, x.shape[-1])
        for idx, draw in zip(to_device(perm, x.device).split(bs), draws):
            xb = x[idx] if draw is None else augment.apply(x[idx], draw)
            with _autocast(x.device):
                loss = F.cross_entropy(model(xb).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if _show_loss(epoch, cfg.epochs):
            progress.set_postfix(loss=f"{loss.item():.3f}")
    return model


def accuracy(model, x_test, y_test, batch: int = 1000) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum((model(x_test[i:i + batch]).argmax(1) == y_test[i:i + batch]).sum()
                      for i in range(0, len(x_test), batch))
    return correct.item() / len(x_test)


def evaluate_set(images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                 test_labels: torch.Tensor, dataset: str, cfg: EvalConfig = EvalConfig(),
                 device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Train ``cfg.runs`` fresh ``cfg.model`` networks on (images N x C x 32 x 32 in [0, 1],
    labels N) and test on the real test set. Returns per-run accuracies in %, their mean and
    std, and the wall time in seconds."""
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
    models, generators = [], []
    for k in range(cfg.runs):
        torch.manual_seed(_run_seed(cfg.seed, k))
        models.append(make_model(cfg.model, spec.channels, spec.num_classes).to(device, memory_format=cl))
        generators.append(torch.Generator().manual_seed(_run_seed(cfg.seed, k)))
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in models[0].modules())
    bar = lambda desc: tqdm(range(cfg.epochs), desc=desc, disable=not progress, leave=False)  # noqa: E731
    together = device.type == "cuda" if cfg.together is None else cfg.together
    if together and not has_bn:  # batch-norm running stats cannot be updated under vmap
        base, params, buffers = _train_together(models, x, y, families, cfg, generators,
                                                bar(f"{cfg.model} x{cfg.runs}"))
        accs = (_accuracy_together(base, params, buffers, x_test, y_test) * 100).tolist()
    else:
        accs = [100 * accuracy(_train_one(m, x, y, families, cfg, g, bar(f"{cfg.model} run {k}")), x_test, y_test)
                for k, (m, g) in enumerate(zip(models, generators))]
    t = torch.tensor(accs)
    return {"accuracies": accs, "mean": t.mean().item(),
            "std": t.std(unbiased=False).item() if len(accs) > 1 else 0.0,
            "wall_time_s": time.time() - start, "train_size": len(images), "eval": asdict(cfg)}
