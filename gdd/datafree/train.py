"""Data-free KD: a student trained only on synthetic images from a generator that inverts a
frozen teacher. One loop; the methods are switch settings of it (``METHODS``):

    for step in range(iters):
        if step % synth_every == 0:                 # synthesis (Fast-Datafree's inner loop)
            g_steps times: x = g(z, y); generator step on L_G (synthesis.py)
            add the batch of the lowest L_G among them to the buffer
        draw a student batch from the buffer        # uniform, or priority sampling (buffer.py)
        student step on  mean(w * KL_T(t(x) || s(x))) * T^2 ;  refresh the drawn samples' priorities

The teacher's logits are cached with each buffer sample (the teacher is frozen), so a student
step costs one student forward/backward; a synthesis costs ``g_steps`` generator, teacher and
student forwards and backwards (the expensive part). "Synthetic samples used" is the number of
samples ever added to the buffer (``syn_batch`` per synthesis).

As in Fast-Datafree's released synthesizer (``datafree/synthesis/fast_meta.py``): the adversarial
term counts only the samples on which student and teacher predict the same class (``adv_mask``),
each synthesis keeps its lowest-loss batch, and the generator first learns to invert the teacher
without the adversarial term (``warmup`` generator steps before the first student step, their
time counted, nothing stored; Fast-Datafree's warm-up epochs, which also train no student).
Not taken over: its meta-learned generator initialisation (one generator is trained on
throughout here), its per-batch learned noise and its crop/flip augmentation.

Unknown hyperparameters of SSD-KD (no official code) are chosen here and exposed: gamma = 2,
alpha = 0.6, beta annealed 0.4 -> 1, eps = 1e-6 (focal-loss and PER defaults); a FIFO buffer of
``buffer_frac`` (10 %) of the real training-set size; synthesis every ``synth_every`` student
steps (plain adversarial KD: every step); priorities of the whole buffer refreshed every
``refresh_every`` student steps besides the drawn samples' at every step.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from gdd import data
from gdd.datafree.buffer import ReplayBuffer, anneal
from gdd.datafree.synthesis import BNStatsLoss, InversionGenerator, adversarial_kl, kl_per_sample, modulation
from gdd.datafree.teacher import build_model, cosine_lr, load_model, save_model
from gdd.data import normalize
from gdd.evaluate import accuracy
from gdd.files import atomic_save, save_png
from gdd.models import MODELS
from gdd.results import local
from gdd.runfolder import open_run

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
    """One data-free KD run. Build with ``method_config`` to apply a method's switches. Defaults
    are Fast-Datafree's published settings (PAPERS.md section 4) where it states them; SSD-KD's
    unknowns (gamma, alpha, beta, eps, buffer, schedules) are chosen as the module docstring says."""
    dataset: str
    teacher: str                           # model.pt of the teacher (a run folder of `gdd train-teacher`)
    method: str = "ssdkd"                  # the preset the switches came from (see METHODS)
    student: str = "convnet3"
    student_kw: dict = dataclasses.field(default_factory=lambda: {"width": 128})
    iters: int = 2000                      # student steps
    batch: int = 256                       # student batch (Fast-Datafree)
    lr_s: float = 0.2                      # student SGD lr (cosine to 0), momentum 0.9, wd 5e-4 (Fast-Datafree)
    temperature: float = 20.0              # KD temperature of the student loss and of priorities (Fast-Datafree)
    # synthesis
    syn_batch: int = 256
    g_steps: int = 1                       # generator steps per synthesis (its lowest-loss batch is kept)
    adv_mask: bool = True                  # adversarial term only where student and teacher agree (Fast-Datafree)
    warmup: int = 0                        # generator steps without the adversarial term before the student starts
    synth_every: int = 1                   # synthesise at every k-th student step
    gen_width: int = 64                    # Fast-Datafree's generator: noise 256, width 64
    noise: int = 256
    lr_g: float = 3e-3                     # Adam (0.5, 0.999)
    w_bn: float = 10.0                     # Fast-Datafree's synthesis weights: BN 10, task 0.5, adversarial 1
    w_task: float = 0.5
    w_adv: float = 1.0
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
    test_size: int | None = None           # None: the whole test set
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
        for name in ("w_bn", "w_task", "w_adv", "gamma", "alpha", "eps", "refresh_every", "warmup"):
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
        """Samples the run adds to its buffer in all: syn_batch per synthesis."""
        return -(-self.iters // self.synth_every) * self.syn_batch


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
        sw["buffer_size"] = max(1, int(round(buffer_frac * data.get_spec(dataset).train_size)))
    sw["synth_every"] = small_every if small else 1
    return DataFreeConfig(dataset=dataset, teacher=str(teacher), method=method, **{**sw, **overrides})


def buffer_histograms(buf: ReplayBuffer, bins: int = 10) -> dict:
    """Teacher-predicted class counts (K) and teacher-confidence histogram (max softmax
    probability in ``bins`` equal bins over [0, 1]) of the samples in the buffer (their Figure 2)."""
    probs, labels = F.softmax(buf.teacher_logits.cpu(), 1), buf.labels.cpu()
    conf = probs.max(1).values
    return {"pred_class_counts": torch.bincount(probs.argmax(1), minlength=buf.num_classes).tolist(),
            "confidence_counts": torch.histc(conf, bins, 0, 1).long().tolist(),
            "intended_agree": round((probs.argmax(1) == labels).float().mean().item(), 4) if len(buf) else 0.0,
            "size": len(buf)}


def save_grid(buf: ReplayBuffer, path: Path, per_class: int = 8) -> None:
    """A grid PNG of the newest ``per_class`` buffer samples of every intended class."""
    rows = []
    labels = buf.labels.cpu()
    for c in range(buf.num_classes):
        idx = (labels == c).nonzero().squeeze(1)[-per_class:]
        imgs = buf.images[idx.to(buf.device)].float().cpu()
        rows.append(torch.cat([imgs, torch.zeros(per_class - len(imgs), *buf.shape)]))
    save_png(torch.cat(rows), path, nrow=per_class)


def train(cfg: DataFreeConfig, out: Path, device: str | torch.device = "cpu", stop_after: int | None = None,
          progress: bool = True, test: tuple[torch.Tensor, torch.Tensor] | None = None,
          redo_before: float | None = None) -> dict:
    """Run (or resume, or reuse) one data-free KD run in folder ``out`` (``gdd.runfolder``). Writes
    ``checkpoint.pt``, ``student.pt``, ``generator.pt``, ``synthetic.png`` and ``summary.json``;
    returns the summary: final student test accuracy (%), synthetic samples used, training wall
    time (s, evaluations and checkpoints excluded), the accuracy curve ``evals`` (step, synthetic,
    train_time_s, accuracy) and the buffer histograms. ``stop_after`` ends the call after that
    many steps (``finished`` False). The teacher file's sha256 is part of the run."""
    device = torch.device(device)
    teacher_file = local(cfg.teacher)
    teacher_file = teacher_file / "model.pt" if teacher_file.is_dir() else teacher_file
    with open_run(out, cfg, device, [teacher_file] if teacher_file.is_file() else [], redo_before, stop_after,
                  progress) as run:
        if run.summary is not None:
            return run.summary
        return _train(cfg, run, test, device)


def _train(cfg: DataFreeConfig, run, test, device: torch.device) -> dict:
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
    run.track(sampler=sampler)
    evals = []
    ckpt = run.resume()
    if ckpt is not None:
        evals = ckpt["evals"]
        student.load_state_dict(ckpt["student"]), G.load_state_dict(ckpt["G"])
        opt_s.load_state_dict(ckpt["opt_s"]), opt_g.load_state_dict(ckpt["opt_g"])
        buf.load_state_dict(ckpt["buffer"])
        run.restore_rng(ckpt)
    elif run.progress:
        print(f"[gdd] data-free KD ({cfg.method}) on {cfg.dataset}: {cfg.iters} student steps, "
              f"{cfg.synthetic_samples} synthetic samples")

    def state():
        return {"evals": evals, "student": student.state_dict(), "G": G.state_dict(), "opt_s": opt_s.state_dict(),
                "opt_g": opt_g.state_dict(), "buffer": buf.state_dict()}

    def evaluate(step):
        evals.append({"step": step, "synthetic": buf.added, "train_time_s": round(run.elapsed(), 3),
                      "accuracy": round(100 * accuracy(student, x_test, y_test), 2)})
        student.train()

    def batch(step):
        """(z, y): noise and the intended classes, every class in turn."""
        y = data.to_device((torch.arange(cfg.syn_batch) + step) % spec.num_classes, device)
        return data.to_device(torch.randn(cfg.syn_batch, cfg.noise), device), y

    def warm_up():
        """``warmup`` generator steps on L_G without the adversarial term and phi, fresh (z, y) each."""
        student.eval().requires_grad_(False)
        for i in range(cfg.warmup):
            z, y = batch(i)
            x = G(z, y)
            bn.reset()
            t_logits = teacher(norm(x))
            loss = cfg.w_bn * bn.loss() + cfg.w_task * F.cross_entropy(t_logits, y)
            run.log(0, generator_loss=loss.detach())
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
        student.train().requires_grad_(True)

    def synthesize(step):
        """g_steps generator steps on one batch of (z, y); the batch of the lowest generator loss
        goes to the buffer. Returns that batch's loss terms (0-dim tensors)."""
        student.eval().requires_grad_(False)
        z, y = batch(step)
        best = None
        for _ in range(cfg.g_steps):
            x = G(z, y)
            bn.reset()
            t_logits = teacher(norm(x))
            s_logits = student(norm(x))
            l_bn = bn.loss()
            ce = F.cross_entropy(t_logits, y, reduction="none")
            phi = modulation(t_logits, y, buf.class_shares(), cfg.gamma, cfg.phi_diversity, cfg.phi_difficulty)
            l_task = (phi * ce).mean()
            l_adv = adversarial_kl(t_logits, s_logits, cfg.adv_mask).mean()
            loss = cfg.w_bn * l_bn + cfg.w_task * l_task - cfg.w_adv * l_adv
            run.log(step + 1, generator_loss=loss.detach())
            with torch.no_grad():
                delta = kl_per_sample(t_logits, s_logits, cfg.temperature)  # w_{-1} = 1
                new = tuple(t.detach() for t in (loss, x, t_logits, delta, l_bn, l_task, l_adv, phi.mean()))
                # the lower-loss batch, chosen on the device (no read-back per synthesis)
                best = new if best is None else tuple(torch.where(new[0] < best[0], a, b) for a, b in zip(new, best))
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
        _, x, t_logits, delta, l_bn, l_task, l_adv, phi = best
        buf.add(x, t_logits, y, delta)
        student.train().requires_grad_(True)
        return {"l_bn": l_bn, "l_task": l_task, "l_adv": l_adv, "phi": phi}

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
    syn_row = {k: v for k, v in (run.rows[-1] if run.rows else {}).items() if k in ("l_bn", "l_task", "l_adv", "phi")}
    with BNStatsLoss(teacher) as bn:
        for step in run.steps(cfg.iters, f"datafree:{cfg.method}"):
            if step == 0 and cfg.warmup:
                warm_up()
            if step % cfg.synth_every == 0:
                syn_row = synthesize(step)
            beta = anneal(cfg.beta0, 1.0, step, cfg.iters)
            try:
                idx, w = buf.sample(cfg.batch, sampler, cfg.prioritized, cfg.alpha, beta, cfg.eps)
            except RuntimeError:
                run.flush()  # non-finite priorities come from a non-finite loss: report that, not the draw
                raise
            s_logits = student(norm(buf.images[idx].float()))
            kl = kl_per_sample(buf.teacher_logits[idx], s_logits, T)
            loss = (w * kl).mean() * T * T
            row = {"step": step + 1, "synthetic": buf.added, "l_kd": loss.detach(), **syn_row}
            if cfg.prioritized:
                row.update(w_mean=w.mean(), max_norm_scale=buf.max_norm_scale)
            run.log(step + 1, row, student_loss=loss.detach())
            for group in opt_s.param_groups:
                group["lr"] = cosine_lr(cfg.lr_s, step, cfg.iters)
            opt_s.zero_grad(set_to_none=True)
            loss.backward()
            opt_s.step()
            if cfg.prioritized:
                buf.update_priorities(idx, kl)
                if cfg.refresh_every and (step + 1) % cfg.refresh_every == 0:
                    refresh()
            at_eval = run.due(step + 1, cfg.eval_every, cfg.iters)
            at_checkpoint = run.due(step + 1, cfg.checkpoint_every, cfg.iters)
            stopping = run.stopping(step + 1, cfg.iters)
            if at_eval or at_checkpoint or stopping:
                run.flush()  # it waits for the device, so the time below includes the steps' queued work
            with run.paused():
                if at_eval:
                    evaluate(step + 1)
                if stopping:
                    return run.stop(step + 1, **state())
                if at_checkpoint:
                    run.checkpoint(step + 1, **state())

    with run.paused():
        save_model(student.cpu(), cfg.student, cfg.student_kw, cfg.dataset, run.out / "student.pt",
                   test_accuracy=evals[-1]["accuracy"], role=f"datafree-{cfg.method}")
        atomic_save({"state_dict": G.state_dict(), "config": asdict(cfg)}, run.out / "generator.pt")
        save_grid(buf, run.out / "synthetic.png")
    run.flush()
    scales = [r["max_norm_scale"] for r in run.rows if "max_norm_scale" in r]
    summary = run.finish({"steps": cfg.iters, "test_accuracy": evals[-1]["accuracy"],
                          "max_norm_scale_mean": sum(scales) / len(scales) if scales else None,
                          "synthetic_samples": buf.added, "buffer_size": len(buf), "evals": evals,
                          "histograms": buffer_histograms(buf), "final": run.rows[-1]})
    if run.progress:
        print(f"[gdd] {run.out}: student {summary['test_accuracy']:.2f} % with {buf.added} synthetic samples "
              f"({summary['wall_time_s']:.0f} s)")
    return summary
