"""The results store: one JSON file per experiment, keyed by its config, with provenance.

``cached_run(name, config, fn, profile)`` returns the stored result when the same experiment
(same name and config) was already run under that profile, and otherwise runs ``fn()`` and
writes ``results/<profile>/<name>-<key>.json`` atomically with: profile, full config, device
name, git commit, start time, wall time and package versions.

Provenance is written only by the process that computed the numbers: when ``fn`` returns the
summary of a training run (whose numbers the run computed, perhaps earlier or elsewhere), the
summary's own ``provenance`` becomes the record's.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from gdd.files import atomic_write_json


def results_root() -> Path:
    return Path(os.environ.get("GDD_RESULTS", "results"))


def runs_root() -> Path:
    """Where large artefacts (checkpoints, generators, image sets) go; not in git."""
    return Path(os.environ.get("GDD_RUNS", "runs"))


RUNS = "$GDD_RUNS"


def portable(path: str | os.PathLike) -> str:
    """``path`` as written into a config: under the runs folder it becomes ``$GDD_RUNS/...``, so
    that a config, its key and its stored result do not depend on where the checkout lies."""
    path, root = Path(path).resolve(), runs_root().resolve()
    return f"{RUNS}/{path.relative_to(root).as_posix()}" if path.is_relative_to(root) else str(path)


def local(path: str | os.PathLike) -> Path:
    """The inverse of ``portable``: ``$GDD_RUNS/...`` expanded to this machine's runs folder."""
    text = str(path)
    return runs_root() / text[len(RUNS) + 1:] if text.startswith(RUNS + "/") else Path(text)


def device_name(device: str | torch.device = "cpu") -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({torch.get_num_threads()} threads)"


def git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions() -> dict:
    import torchvision
    from gdd import __version__
    return {"python": sys.version.split()[0], "torch": torch.__version__,
            "torchvision": torchvision.__version__, "gdd": __version__}


def machine_provenance(device: str | torch.device = "cpu") -> dict:
    """Where and from what code a number is being computed: device (CPU model and thread count,
    or GPU name), git commit, host, UTC time, package versions."""
    return {"device": device_name(device), "commit": git_commit(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(), "host": platform.node()}


def _plain(obj):
    if dataclasses.is_dataclass(obj):
        # a field added after results were stored (metadata ``omit_at_default``) is left out while
        # at its default: the configs and keys of the stored results stay what they were
        return {k: v for k, v in dataclasses.asdict(obj).items()
                if not (obj.__dataclass_fields__[k].metadata.get("omit_at_default")
                        and getattr(obj, k) == obj.__dataclass_fields__[k].default)}
    return str(obj)


def as_dict(config) -> dict:
    """``config`` (a dataclass or a dict holding dataclasses) as plain JSON data."""
    return json.loads(json.dumps(config, default=_plain))


def config_key(config) -> str:
    text = json.dumps(as_dict(config), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def result_path(name: str, config, profile: str) -> Path:
    return results_root() / profile / f"{name}-{config_key(config)}.json"


def write_record(path: Path, name: str, config, result: dict, prov: dict, wall_time_s: float) -> dict:
    record = {"name": name, "config": as_dict(config), "provenance": {**prov, "wall_time_s": round(wall_time_s, 2)},
              "result": result}
    atomic_write_json(record, path)
    return record


def load_record(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def redo_time(force: bool) -> float | None:
    """``redo_before`` for a ``--force`` switch: everything written before now is recomputed."""
    return time.time() if force else None


def is_stale(written: Path | float, redo_before: float | None) -> bool:
    """Whether a result or run folder written at ``written`` (a path's mtime, or a POSIX time)
    must be recomputed: ``redo_before`` None never; else if written before it (a forced
    reproduction records its start, so when interrupted it resumes instead of starting over)."""
    if redo_before is None:
        return False
    when = written if isinstance(written, (int, float)) else Path(written).stat().st_mtime
    return when < redo_before


def cached_run(name: str, config, fn: Callable[[], dict], profile: str, redo_before: float | None = None,
               device: str | torch.device = "cpu", path: Path | None = None) -> dict:
    """The stored record of experiment ``name`` under ``config``; runs ``fn()`` if there is none
    (or it is stale, see ``is_stale``). ``fn`` returns a JSON-serialisable dict; if it holds a
    ``provenance`` (a training run's summary), that is the record's provenance."""
    path = Path(path) if path else result_path(name, config, profile)
    if path.exists() and not is_stale(path, redo_before):
        record = load_record(path)
        if record.get("config") == as_dict(config):
            return record
    prov, start = machine_provenance(device), time.time()
    result = fn()
    wall = time.time() - start
    if "provenance" in result:  # the numbers are a run's: its provenance and wall time, not ours
        result = dict(result)
        prov, wall = result.pop("provenance"), result.get("wall_time_s", wall)
    record = write_record(path, name, config, result, {"profile": profile, **prov}, wall)
    print(f"[gdd] {name}: result written to {path}", file=sys.stderr)
    return record


def find_records(profile: str, name: str | None = None) -> list[dict]:
    """All stored records of a profile (optionally of one experiment name)."""
    folder = results_root() / profile
    paths = sorted(folder.glob(f"{name}-*.json" if name else "*.json"))
    return [load_record(p) for p in paths]
