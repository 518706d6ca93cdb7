"""Data-free KD: a student trained only on synthetic images from a generator that inverts a
frozen teacher. One loop; the methods are switch settings of it (``METHODS``):

    for step in range(iters):
        if step % synth_every == 0:                 # synthesis
            g_steps times: x = g(z, y); generator step on L_G (synthesis.py); add x to the buffer
        draw a student batch from the buffer        # uniform, or priority sampling (buffer.py)
        student step on  mean(w * KL_T(t(x) || s(x))) * T^2 ;  refresh the drawn samples' priorities

The teacher's logits are cached with each buffer sample (the teacher is frozen), so a student
step costs one student forward/backward; a synthesis step costs a generator, teacher and
student forward and backward (the expensive part). "Synthetic samples used" is the number of
samples ever added to the buffer (``syn_batch * g_steps`` per synthesis).

Unknown hyperparameters of SSD-KD (no official code) are chosen here and exposed: gamma = 2,
alpha = 0.6, beta annealed 0.4 -> 1, eps = 1e-6 (focal-loss and PER defaults); a FIFO buffer of
``buffer_frac`` (10 %) of the real training-set size; synthesis every ``synth_every`` student
steps (plain adversarial KD: every step); priorities of the whole buffer refreshed every
``refresh_every`` student steps besides the drawn samples' at every step.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from gdd import data
from gdd.datafree.buffer import ReplayBuffer, anneal
from gdd.datafree.synthesis import BNStatsLoss, InversionGenerator, kl_per_sample, modulation
from gdd.datafree.teacher import build_model, cosine_lr, load_model, save_model
from gdd.data import normalize
from gdd.evaluate import accuracy
from gdd.files import (IncompatibleCheckpoint, atomic_save, atomic_write_json, check_finite, check_same_config,
                    load_checkpoint, read_back, save_checkpoint)
from gdd.models import MODELS

# method -> the switches it sets. ``buffer_size`` "small" means buffer_frac x the real training-set size.
METHODS: dict[str, dict] = {
    "adv": dict(phi_diversity=False, phi_difficulty=False, prioritized=False, buffer_size=None, small=False),
    "ssdkd": dict(phi_diversity=True, phi_difficulty=True, prioritized=True, buffer_size="small", small=True),
    "ssdkd_nophi": dict(phi_diversity=False, phi_difficulty=False, prioritized=True, buffer_size="small", small=True),
    "ssdkd_noprio": dict(phi_diversity=True, phi_difficulty=True, prioritized=False, buffer_size="small", small=True),
    # neither balancing term nor priority sampling: adv at SSD-KD's small synthesis budget
    "adv_small": dict(phi_diversity=False, phi_difficulty=False, prioritized=False, buffer_size="small", small=True),
}


@dataclass
class DataFreeConfig:
    """One data-free KD run. Build with ``method_config`` to apply a method's switches."""
    dataset: str
    teacher: str                           # model.pt of the teacher (a run folder of `gdd train-teacher`)
    method: str = "ssdkd"                  # the preset the switches came from (see METHODS)
    student: str = "convnet3"
    student_kw: dict = dataclasses.field(default_factory=lambda: {"width": 32})
    iters: int = 2000                      # student steps
    batch: int = 128                       # student batch
    lr_s: float = 0.05                     # student SGD lr (cosine to 0), momentum 0.9, wd 5e-4
    temperature: float = 4.0               # KD temperature of the student loss and of priorities
    # synthesis
    syn_batch: int = 64
    g_steps: int = 1                       # generator steps (each adds a batch) per synthesis
    synth_every: int = 1                   # synthesise at every k-th student step
    gen_width: int = 16
    noise: int = 128
    lr_g: float = 3e-3                     # Adam (0.5, 0.999)
    w_bn: float = 0.1                      # Fast-Datafree's weights (BN 10, task 0.5, adv 1) left the task
    w_task: float = 1.0                    # term negligible against our summed BN norms: teacher agreed
    w_adv: float = 1.0                     # with the intended class at chance level (10 %) on Fashion-MNIST
    phi_diversity: bool = True             # (1 - class share in the buffer) factor of phi
    phi_difficulty: bool = True            # (1 - p_t)^gamma factor of phi
    gamma: float = 2.0
    # replay buffer and priority sampling
    buffer_size: int | None = 6000         # None: unbounded pool
    prioritized: bool = True
    alpha: float = 0.6
    beta0: float = 0.4                     # annealed linearly to 1 over ``iters``
    eps: float = 1e-6
    refresh_every: int = 100               # student steps between full priority refreshes (0: never)
    # bookkeeping
    eval_every: int = 50                   # student steps between test-accuracy points
    test_size: int | None = 2000
    seed: int = 0
    checkpoint_every: int = 100

    def __post_init__(self):
        data.get_spec(self.dataset)
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        if self.student not in MODELS:
            raise ValueError(f"unknown student {self.student!r}; valid names: {', '.join(MODELS)}")
        for name in ("iters", "batch", "syn_batch", "g_steps", "synth_every", "gen_width", "noise",
                     "eval_every", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("w_bn", "w_task", "w_adv", "gamma", "alpha", "eps", "refresh_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.beta0 <= 1:
            raise ValueError(f"beta0 must be in [0, 1], got {self.beta0}")
        if self.lr_s <= 0 or self.lr_g <= 0 or self.temperature <= 0:
            raise ValueError("lr_s, lr_g and temperature must be positive")
        if self.buffer_size is not None and self.buffer_size < self.batch:
            raise ValueError(f"buffer_size ({self.buffer_size}) must hold at least one student batch ({self.batch})")

    @property
    def synthetic_samples(self) -> int:
        """Samples the run synthesises in all: syn_batch * g_steps per synthesis."""
        return -(-self.iters // self.synth_every) * self.g_steps * self.syn_batch


def method_config(method: str, dataset: str, teacher: str, buffer_frac: float = 0.1, small_every: int = 4,
                  **overrides) -> DataFreeConfig:
    """The config of ``method``: its switches, a bounded buffer of ``buffer_frac`` x the real
    training-set size for the small-scale methods (which synthesise every ``small_every``
    student steps; plain ``adv`` every step), then ``overrides``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    sw = dict(METHODS[method])
    small = sw.pop("small")
    if sw["buffer_size"] == "small":
        sw["buffer_size"] = max(1, int(round(buffer_frac * len(data.load(dataset, train=True)[1]))))
    sw["synth_every"] = small_every if small else 1
    return DataFreeConfig(dataset=dataset, teacher=str(teacher), method=method, **{**sw, **overrides})


def load_finished(out: Path) -> dict | None:
    path = Path(out) / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def buffer_histograms(buf: ReplayBuffer, bins: int = 10) -> dict:
    """Teacher-predicted class counts (K) and teacher-confidence histogram (max softmax
    probability in ``bins`` equal bins over [0, 1]) of the samples in the buffer (their Figure 2)."""
    probs, labels = F.softmax(buf.teacher_logits.cpu(), 1), buf.labels.cpu()
    conf = probs.max(1).values
    intended = probs.gather(1, labels.view(-1, 1)).squeeze(1) if len(buf) else conf
    return {"pred_class_counts": torch.bincount(probs.argmax(1), minlength=buf.num_classes).tolist(),
            "confidence_counts": torch.histc(conf, bins, 0, 1).long().tolist(),
            "intended_prob_counts": torch.histc(intended, bins, 0, 1).long().tolist(),
            "intended_agree": round((probs.argmax(1) == labels).float().mean().item(), 4) if len(buf) else 0.0,
            "size": len(buf)}


def save_grid(buf: ReplayBuffer, path: Path, per_class: int = 8) -> None:
    """A grid PNG of the newest ``per_class`` buffer samples of every intended class."""
    from gdd.files import save_png
    rows = []
    labels = buf.labels.cpu()
    for c in range(buf.num_classes):
        idx = (labels == c).nonzero().squeeze(1)[-per_class:]
        imgs = buf.images[idx.to(buf.device)].float().cpu()
        rows.append(torch.cat([imgs, torch.zeros(per_class - len(imgs), *buf.shape)]))
    save_png(torch.cat(rows), path, nrow=per_class)


def train(cfg: DataFreeConfig, out: Path, device: str | torch.device = "cpu", stop_after: int | None = None,
          progress: bool = True, test: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """Run (or resume, or reuse) one data-free KD run in folder ``out``. Writes ``checkpoint.pt``,
    ``student.pt``, ``generator.pt``, ``synthetic.png`` and ``summary.json``; returns the summary:
    final student test accuracy (%), synthetic samples used, training wall time (s, evaluation
    excluded), the accuracy curve ``evals`` (step, synthetic, train_time_s, accuracy) and the
    buffer histograms. ``stop_after`` ends the call after that many steps (``finished`` False)."""
    out, device = Path(out), torch.device(device)
    done = load_finished(out)
    if done is not None:
        check_same_config(done["config"], cfg, out / "summary.json")
        return done
    spec = data.get_spec(cfg.dataset)
    if test is None:
        xt, yt = data.load(cfg.dataset, train=False)
        test = (xt, yt) if cfg.test_size is None else (xt[:cfg.test_size], yt[:cfg.test_size])
    x_test, y_test = normalize(test[0].to(device), cfg.dataset), test[1].to(device)
    norm = lambda x: normalize(x, cfg.dataset)  # noqa: E731

    teacher, _ = load_model(cfg.teacher, cfg.dataset)
    teacher = teacher.to(device).eval().requires_grad_(False)
    torch.manual_seed(cfg.seed)
    student = build_model(cfg.student, cfg.dataset, **cfg.student_kw).to(device)
    G = InversionGenerator(spec.channels, spec.num_classes, cfg.gen_width, cfg.noise).to(device)
    opt_s = torch.optim.SGD(student.parameters(), cfg.lr_s, momentum=0.9, weight_decay=5e-4)
    opt_g = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=(0.5, 0.999))
    buf = ReplayBuffer(cfg.buffer_size, (spec.channels, 32, 32), spec.num_classes, device)
    sampler = torch.Generator(device=device).manual_seed(cfg.seed + 1)  # draws from the buffer, on its device
    start, elapsed, rows, evals = 0, 0.0, [], []
    ckpt = load_checkpoint(out, cfg)
    if ckpt is not None:
        if ckpt.get("device", "cpu") != device.type:  # the buffer sampler's state is device-specific
            raise IncompatibleCheckpoint(
                f"{out / 'checkpoint.pt'} was written by a run on {ckpt.get('device', 'cpu')}; resume it there "
                f"(--device {ckpt.get('device', 'cpu')}) or delete the checkpoint to start again on {device.type}")
        start, elapsed, rows, evals = ckpt["step"], ckpt["elapsed_s"], ckpt["rows"], ckpt["evals"]
        student.load_state_dict(ckpt["student"]), G.load_state_dict(ckpt["G"])
        opt_s.load_state_dict(ckpt["opt_s"]), opt_g.load_state_dict(ckpt["opt_g"])
        buf.load_state_dict(ckpt["buffer"])
        torch.set_rng_state(ckpt["rng"]), sampler.set_state(ckpt["sampler"])
        print(f"[gdd] resuming {out} from step {start}/{cfg.iters}")
    else:
        print(f"[gdd] data-free KD ({cfg.method}) on {cfg.dataset}: {cfg.iters} student steps, "
              f"{cfg.synthetic_samples} synthetic samples, outputs in {out}")

    # Losses stay on the device until a checkpoint or evaluation reads them all back at once:
    # a read-back per step would make the host wait for the GPU's queue to drain every step.
    pending = []  # (step, {loss name: 0-dim tensor} to check, row for ``rows`` or None), in order

    def flush():
        """Read the pending losses back in one transfer, stop on the first non-finite one (nothing
        of it is saved), append the pending rows to ``rows``."""
        if not pending:
            return
        for (step, checks, row), r in zip(pending, read_back([{**checks, **(row or {})} for _, checks, row in pending])):
            check_finite(step, **{k: r[k] for k in checks})
            if row is not None:
                rows.append({k: round(r[k], 5) if isinstance(r[k], float) else r[k] for k in row})
        pending.clear()
        r = rows[-1]
        bar.set_postfix(kd=f"{r['l_kd']:.3f}", bn=f"{r.get('l_bn', 0):.2f}", n=r["synthetic"])

    def checkpoint(step):
        save_checkpoint(out, cfg, step=step, elapsed_s=elapsed, rows=rows, evals=evals,
                        student=student.state_dict(), G=G.state_dict(), opt_s=opt_s.state_dict(),
                        opt_g=opt_g.state_dict(), buffer=buf.state_dict(), rng=torch.get_rng_state(),
                        sampler=sampler.get_state(), device=device.type)

    def evaluate(step):
        evals.append({"step": step, "synthetic": buf.added, "train_time_s": round(elapsed, 3),
                      "accuracy": round(100 * accuracy(student, x_test, y_test), 2)})
        student.train()

    def synthesize(step):
        """g_steps generator steps; every generated batch goes to the buffer. Returns the last
        step's loss terms (0-dim tensors)."""
        student.eval().requires_grad_(False)
        for _ in range(cfg.g_steps):
            y = data.to_device((torch.arange(cfg.syn_batch) + step) % spec.num_classes, device)
            z = data.to_device(torch.randn(cfg.syn_batch, cfg.noise), device)
            x = G(z, y)
            bn.reset()
            t_logits = teacher(norm(x))
            s_logits = student(norm(x))
            l_bn = bn.loss()
            ce = F.cross_entropy(t_logits, y, reduction="none")
            phi = modulation(t_logits, y, buf.class_shares(), cfg.gamma, cfg.phi_diversity, cfg.phi_difficulty)
            l_task = (phi * ce).mean()
            l_adv = kl_per_sample(t_logits, s_logits).mean()
            loss = cfg.w_bn * l_bn + cfg.w_task * l_task - cfg.w_adv * l_adv
            pending.append((step, {"generator_loss": loss.detach()}, None))
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            with torch.no_grad():
                delta = kl_per_sample(t_logits, s_logits, cfg.temperature)  # w_{-1} = 1
            buf.add(x.detach(), t_logits.detach(), y, delta)
        student.train().requires_grad_(True)
        return {"l_bn": l_bn.detach(), "l_task": l_task.detach(), "l_adv": l_adv.detach(), "phi": phi.mean()}

    def refresh():
        """delta = w * KL(t || s) for the whole buffer under the current student."""
        student.eval()
        with torch.no_grad():
            for i in range(0, len(buf), 1000):
                part = slice(i, min(i + 1000, len(buf)))
                s_logits = student(norm(buf.images[part].float()))
                buf.update_priorities(part, kl_per_sample(buf.teacher_logits[part], s_logits, cfg.temperature))
        student.train()

    student.train()
    T = cfg.temperature
    syn_row = {k: v for k, v in (rows[-1] if rows else {}).items() if k in ("l_bn", "l_task", "l_adv", "phi")}
    t0 = time.time()
    with BNStatsLoss(teacher) as bn:
        bar = tqdm(range(start, cfg.iters), desc=f"datafree:{cfg.method}", disable=not progress,
                   initial=start, total=cfg.iters)
        for step in bar:
            if step % cfg.synth_every == 0:
                syn_row = synthesize(step)
            beta = anneal(cfg.beta0, 1.0, step, cfg.iters)
            try:
                idx, w = buf.sample(cfg.batch, sampler, cfg.prioritized, cfg.alpha, beta, cfg.eps)
            except RuntimeError:
                flush()  # non-finite priorities come from a non-finite loss: report that, not the draw
                raise
            s_logits = student(norm(buf.images[idx].float()))
            kl = kl_per_sample(buf.teacher_logits[idx], s_logits, T)
            loss = (w * kl).mean() * T * T
            pending.append((step, {"student_loss": loss.detach()},
                            {"step": step + 1, "synthetic": buf.added, "l_kd": loss.detach(), **syn_row}))
            for group in opt_s.param_groups:
                group["lr"] = cosine_lr(cfg.lr_s, step, cfg.iters)
            opt_s.zero_grad(set_to_none=True)
            loss.backward()
            opt_s.step()
            if cfg.prioritized:
                buf.update_priorities(idx, kl)
                if cfg.refresh_every and (step + 1) % cfg.refresh_every == 0:
                    refresh()
            at_eval = (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.iters
            at_checkpoint = (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.iters
            stopping = stop_after is not None and step + 1 - start >= stop_after and step + 1 < cfg.iters
            if at_eval or at_checkpoint or stopping:
                flush()  # it waits for the device, so the time below includes the steps' queued work
            elapsed += time.time() - t0
            if at_eval:
                evaluate(step + 1)
            if at_checkpoint or stopping:
                checkpoint(step + 1)
            if stopping:
                return {"finished": False, "step": step + 1, "total": cfg.iters}
            t0 = time.time()

    save_model(student.cpu(), cfg.student, cfg.student_kw, cfg.dataset, out / "student.pt",
               test_accuracy=evals[-1]["accuracy"], role=f"datafree-{cfg.method}")
    atomic_save({"state_dict": G.state_dict(), "config": asdict(cfg)}, out / "generator.pt")
    save_grid(buf, out / "synthetic.png")
    summary = {"finished": True, "steps": cfg.iters, "test_accuracy": evals[-1]["accuracy"],
               "synthetic_samples": buf.added, "buffer_size": len(buf), "wall_time_s": round(elapsed, 2),
               "evals": evals, "histograms": buffer_histograms(buf), "final": rows[-1], "config": asdict(cfg)}
    atomic_write_json(summary, out / "summary.json")
    print(f"[gdd] finished {out}: student {summary['test_accuracy']:.2f} % with {buf.added} synthetic samples "
          f"({elapsed:.0f} s)")
    return summary
