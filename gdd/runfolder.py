"""One protocol for every resumable training loop (GAN and distillation, teacher and reference
students, data-free KD): the loops stay explicit; the scaffolding around them lives here.

A run folder ``out`` holds one run of one config::

    with runfolder.open_run(out, cfg, device, inputs=[...], redo_before=t, stop_after=n) as run:
        if run.summary is not None:          # finished earlier under the same config: reuse
            return run.summary
        ...build models...
        ckpt = run.resume()                  # None, or the last checkpoint (config, device, inputs checked)
        ...load states from ckpt...; run.restore_rng(ckpt)
        for step in run.steps(total, desc):  # tqdm bar from the resumed step
            ...
            run.log(step, row={...}, loss=loss)       # 0-dim tensors; read back at checkpoints
            if run.due(step + 1, every, total):
                run.checkpoint(step + 1, model=..., ...)
            if run.stopping(step + 1, total):
                return run.stop(step + 1, model=..., ...)
        return run.finish({...})             # summary.json (config, wall time, provenance)

What the protocol guarantees, for every loop alike:
- one process per folder (a file lock; a second process waits, then reuses the finished run);
- a folder whose last write is older than ``redo_before`` (a POSIX time) is emptied first, so a
  forced result is really recomputed (``results.is_stale``: the one definition of staleness);
- resume only under the same config, on the same device type, with the same input files
  (sha256 of each, recorded at the start), with every random generator restored;
- losses stay on the device and are read back in one transfer per checkpoint; a non-finite one
  stops the run before anything of its step is saved;
- side outputs (``losses.csv``) are written before the checkpoint that marks them done;
- elapsed time counted one way: the loop's own time, without paused spans (evaluations);
- a truncated checkpoint or summary is named, with the fix; Ctrl-C says where to resume.
"""
from __future__ import annotations

import fcntl
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from tqdm.auto import tqdm

from gdd.files import (BadFile, IncompatibleCheckpoint, atomic_save, atomic_write_json, atomic_write_text,
                       check_finite, check_same_config, config_dict, load_pt, read_back, rows_to_csv,
                       file_hash)
from gdd.results import is_stale, machine_provenance


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says which step the rerun resumes from."""


def input_hashes(paths) -> dict[str, str]:
    """{path: sha256} of the files a run reads besides the data (a teacher, a stage-1 GAN)."""
    out = {}
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"input file {path} does not exist")
        out[str(path)] = file_hash(path)
    return out


def last_write(out: Path) -> float | None:
    """POSIX time of the newest file in run folder ``out`` (None: nothing written yet)."""
    times = [f.stat().st_mtime for f in Path(out).iterdir() if f.is_file() and f.name != ".lock"]
    return max(times, default=None)


class Run:
    """A run folder opened by ``open_run``; see the module docstring."""

    def __init__(self, out: Path, config, device: torch.device, inputs: dict[str, str],
                 stop_after: int | None, progress: bool):
        self.out, self.config, self.device, self.inputs = out, config, device, inputs
        self.stop_after, self.progress = stop_after, progress
        self.start, self.step, self.saved_step = 0, 0, 0
        self.rows: list[dict] = []
        self.generators: dict[str, torch.Generator] = {}
        self.bar, self.total = None, None
        self._pending: list[tuple[int, dict, dict | None]] = []
        self._elapsed, self._t0 = 0.0, time.time()
        self.summary = self._load_summary()

    # ---- reuse and resume ----

    def _load_json(self, path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            raise BadFile(f"{path} is unreadable (truncated by a kill or a full disk?); "
                          f"delete it to redo this run") from None

    def _check_inputs(self, saved: dict, where: Path) -> None:
        changed = [p for p in self.inputs if p in saved and saved[p] != self.inputs[p]]
        if changed:
            raise IncompatibleCheckpoint(
                f"{where} was made from another version of {', '.join(changed)} (sha256 differs); "
                f"use another --out folder, or delete it to start over")

    def _load_summary(self) -> dict | None:
        path = self.out / "summary.json"
        if not path.exists():
            return None
        summary = self._load_json(path)
        check_same_config(summary.get("config", {}), self.config, path)
        self._check_inputs(summary.get("inputs", {}), path)
        return summary

    def resume(self) -> dict | None:
        """The folder's checkpoint (None if there is none), refused if made under another config,
        on another device type or from other input files. Sets ``start``, ``rows``, elapsed time."""
        path = self.out / "checkpoint.pt"
        if not path.exists():
            self._say(f"{type(self.config).__name__}: outputs in {self.out}")
            return None
        try:
            ckpt = load_pt(path, "checkpoint")
        except BadFile as err:
            raise BadFile(f"{err}; delete {path} to restart this run from its beginning") from None
        check_same_config(ckpt["config"], self.config, path)
        if ckpt["device"] != self.device.type:  # random streams are device-specific
            raise IncompatibleCheckpoint(
                f"{path} was written by a run on {ckpt['device']}; resume it there (--device {ckpt['device']}) "
                f"or delete the checkpoint to start again on {self.device.type}")
        self._check_inputs(ckpt["inputs"], path)
        self.start = self.step = self.saved_step = ckpt["step"]
        self.rows, self._elapsed = ckpt["rows"], ckpt["elapsed_s"]
        self._say(f"resuming {self.out} from step {self.start}")
        return ckpt

    def track(self, **generators: torch.Generator) -> None:
        """Random generators (besides torch's global ones) saved with every checkpoint."""
        self.generators.update(generators)

    def restore_rng(self, ckpt: dict) -> None:
        """torch's global generators and the tracked ones as they were at the checkpoint (call it
        after building whatever draws from the global generator on resume)."""
        torch.set_rng_state(ckpt["rng"])
        if "rng_cuda" in ckpt:
            torch.cuda.set_rng_state(ckpt["rng_cuda"], self.device)
        for name, g in self.generators.items():
            g.set_state(ckpt["generators"][name])

    # ---- the loop ----

    def steps(self, total: int, desc: str):
        """Steps ``start .. total - 1`` with a progress bar."""
        self.total = total
        self.bar = tqdm(range(self.start, total), desc=desc, disable=not self.progress, initial=self.start,
                        total=total)
        self._t0 = time.time()
        return self.bar

    def log(self, step: int, row: dict | None = None, **checks: torch.Tensor) -> None:
        """Keep the losses ``checks`` (0-dim tensors, checked finite) and the loss ``row`` (tensors
        or numbers, appended to ``rows``) of step ``step`` (counted from 1) until the next read-back."""
        self.step = step
        self._pending.append((step, checks, row))

    def flush(self) -> None:
        """Read the pending losses back in one transfer (one host-device wait per checkpoint),
        stop on a non-finite one, append the pending rows to ``rows``."""
        if not self._pending:
            return
        values = read_back([{**checks, **(row or {})} for _, checks, row in self._pending])
        for (step, checks, row), r in zip(self._pending, values):
            check_finite(step, **{k: r[k] for k in checks})
            if row is not None:
                self.rows.append({k: round(r[k], 6) if isinstance(r[k], float) else r[k] for k in row})
        self._pending.clear()
        if self.bar is not None and self.rows:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in self.rows[-1].items()
                                  if isinstance(v, float)}, refresh=False)

    def elapsed(self) -> float:
        """Seconds this run has trained, across resumptions, paused spans excluded."""
        return self._elapsed + (time.time() - self._t0 if self._t0 is not None else 0.0)

    @contextmanager
    def paused(self):
        """A span (an evaluation) not counted in ``elapsed``."""
        self._elapsed, self._t0 = self.elapsed(), None
        try:
            yield
        finally:
            self._t0 = time.time()

    def due(self, step: int, every: int, total: int) -> bool:
        return step % every == 0 or step == total

    def stopping(self, step: int, total: int) -> bool:
        """``stop_after`` steps done in this call, and the run not finished."""
        return self.stop_after is not None and step - self.start >= self.stop_after and step < total

    def checkpoint(self, step: int, **state) -> None:
        """Read pending losses back (nothing is saved past a non-finite one), write ``losses.csv``,
        then ``checkpoint.pt`` with ``state`` (state dicts, tensors, plain data) and every
        random generator, then ``config.json``."""
        self.flush()
        atomic_write_text(rows_to_csv(self.rows), self.out / "losses.csv")
        rng = {"rng": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        atomic_save({"config": config_dict(self.config), "step": step, "rows": self.rows,
                     "elapsed_s": self.elapsed(), "device": self.device.type, "inputs": self.inputs,
                     "generators": {k: g.get_state() for k, g in self.generators.items()}, **rng, **state},
                    self.out / "checkpoint.pt")
        atomic_write_json(config_dict(self.config), self.out / "config.json")
        self.saved_step = step

    def stop(self, step: int, **state) -> dict:
        """Checkpoint and end this call early (``stop_after``); the rerun resumes here."""
        self.checkpoint(step, **state)
        self._say(f"stopped at step {step}; rerun the same command to resume")
        return {"finished": False, "step": step, "total": self.total}

    def finish(self, summary: dict) -> dict:
        """Write ``summary.json``: ``summary`` plus finished, config, inputs, wall time (s,
        unless the summary gives it) and the provenance of the machine that finished the run."""
        self.flush()
        summary = {"finished": True, "config": config_dict(self.config), "inputs": self.inputs,
                   "wall_time_s": round(self.elapsed(), 2), "provenance": machine_provenance(self.device),
                   **summary}
        atomic_write_json(summary, self.out / "summary.json")
        self._say(f"finished {self.out}")
        return summary

    def _say(self, text: str) -> None:
        if self.progress:
            print(f"[gdd] {text}")


def _refuse_foreign(out: Path, config) -> None:
    """Never write into a folder whose ``config.json`` is not a run of this kind (someone
    else's file would be overwritten): its keys must be this config's fields."""
    path = out / "config.json"
    if not path.is_file() or (out / "checkpoint.pt").exists() or (out / "summary.json").exists():
        return
    try:
        saved = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        saved = None
    if not isinstance(saved, dict) or set(saved) != set(config_dict(config)):
        raise BadFile(f"{out} holds a config.json that is not a gdd run of this kind; refusing to overwrite it: "
                      f"give a new --out folder")


@contextmanager
def open_run(out: Path, config, device: str | torch.device = "cpu", inputs=(), redo_before: float | None = None,
             stop_after: int | None = None, progress: bool = True):
    """Open run folder ``out`` for ``config`` under a file lock (see the module docstring).
    ``inputs``: files the run reads (their sha256 is recorded and checked on resume);
    ``redo_before``: a folder last written before this time is emptied first."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadFile(f"{out} is a file; --out names a run folder (new, or one of an earlier run to resume)")
    _refuse_foreign(out, config)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[gdd] {out} is in use by another process; waiting for it to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        written = last_write(out)
        if written is not None and redo_before is not None and is_stale(written, redo_before):
            for f in out.iterdir():
                if f.name != ".lock":
                    shutil.rmtree(f) if f.is_dir() else f.unlink()
        run = Run(out, config, torch.device(device), input_hashes(inputs), stop_after, progress)
        try:
            yield run
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted at step {run.step} of {out}; the last checkpoint is step "
                              f"{run.saved_step}: rerun the same command to resume") from None
