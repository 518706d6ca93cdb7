"""What every notebook shares: the set-up cell, budget boxes, tables, figures and the claims checklist.

A notebook's set-up cell is (``COLAB_CELL``)::

    import sys

    if "google.colab" in sys.modules:  # Colab: install gdd from the repository
        ...
    from gdd.notebook import setup

    p = setup(profile, device, redo_before, needs=("table1",))

``setup`` changes to the repository root (so ``results/`` and ``data/`` resolve the same from
Jupyter, papermill, nbval and Colab), sets the default data/results/runs folders, seeds every
generator, sets the book's one figure theme, starts noting every result record the notebook
loads (for ``budget_box``) and, when running the notebook would *compute* instead of load
(a result of ``needs`` is not stored, or ``redo_before`` is set), says so with the expected time. It returns
the profile (``gdd.profiles.Profile``).

The repository URL lives in one place, ``_config.yml`` (``repository: url:``); ``repo_url()``
reads it, ``scripts/execute_notebooks.py`` injects it into each executed notebook as the
papermill parameter ``repo_url``, and the Colab branch of the set-up cell clones from it
(it cannot import anything from ``gdd`` before ``gdd`` is installed).

Everything a page says about a result is generated here from the stored records, at execution
time: ``budget_box`` (where, how long, with which budget a result was computed), ``table``
(HTML with a CSV download; the CSV is also written to ``results/<profile>/tables/``),
``plot_networks`` (one point per trained network, with mean and standard deviation),
``sample_panels`` (image grids side by side, rows labelled with class names) and
``claims_table`` (each claim of the papers against ours, with a verdict).
"""
from __future__ import annotations

import base64
import functools
import json
import math
import os
import random
import re
import sys
import warnings
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Callable, Iterable

from gdd import published
from gdd.published import HTML

ROOT_MARKERS = ("_config.yml", "pyproject.toml")

# The set-up cell every notebook starts with (tests/test_notebooks.py checks that each has it).
COLAB_CELL = """import sys

if "google.colab" in sys.modules:  # Colab: install gdd from the repository
    import os, subprocess  # repo_url: injected by papermill, from _config.yml
    src = "/content/gdd"
    if not os.path.isdir(src):
        subprocess.check_call(["git", "clone", "--depth=1", repo_url, src])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-qe", src])
    sys.path.insert(0, src)
from gdd.notebook import setup
"""

# what the notebook session knows: the profile, the records loaded since the last budget box, and
# whether ``cached_run`` may compute (False inside ``stored``/``missing_result``: a dry run)
_STATE: dict[str, Any] = {"profile": None, "loaded": [], "dry": False, "dry_loaded": [], "compute": True,
                          "lenient": False, "missing": []}


class Pending:
    """A result not computed yet (``grid`` with ``setup(compute=False)``): shown as such in tables."""
    text = "not yet computed"

    def __repr__(self) -> str:
        return self.text


PENDING = Pending()


def repo_root(start: Path | None = None) -> Path:
    """The repository checkout that holds this package (its ``_config.yml``), else the cwd."""
    here = Path(start or Path(__file__).resolve().parent.parent)
    for folder in (here, *here.parents):
        if all((folder / m).exists() for m in ROOT_MARKERS):
            return folder
    return Path.cwd()


def repo_url(config: Path | None = None) -> str:
    """The repository URL from ``_config.yml`` (``repository: url: ...``): its only home."""
    text = Path(config or repo_root() / "_config.yml").read_text()
    m = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", text, re.M)
    if not m:
        raise ValueError("no `repository: url:` in _config.yml")
    return m.group(1).strip("\"'")


def _absolute_env(name: str, default: Path) -> None:
    """Make ``$name`` absolute (relative to the cwd the kernel started in) or set its default."""
    value = os.environ.get(name)
    os.environ[name] = str(Path(value).expanduser().resolve()) if value else str(default)


def seed_everything(seed: int = 0) -> None:
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def theme() -> None:
    """The book's one figure style: seaborn's whitegrid with a colour-blind palette, 150 dpi."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        return
    try:
        import seaborn as sns
        sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    except ImportError:  # a bare `pip install gdd` has matplotlib only
        pass
    plt.rcParams.update({"figure.dpi": 150, "savefig.dpi": 150, "figure.max_open_warning": 0,
                         "axes.titlesize": "medium", "legend.fontsize": "small"})


def setup(profile: str = "cpu", device: str = "cpu", redo_before: float | None = None,
          needs: Iterable[str | Callable] = (), seed: int = 0, quiet: bool = False, compute: bool = True):
    """Set a notebook up (see the module docstring); returns the ``Profile``. ``needs``: the grids
    of ``gdd.grids.STAGES`` (or functions ``f(p, device, redo_before)``) whose results the notebook
    shows, checked without computing anything. ``compute=False``: ``grid`` only loads, and shows
    a result that is not stored as not yet computed."""
    from gdd.profiles import get_profile
    p = get_profile(profile)
    root = repo_root()
    for name, default in (("GDD_DATA", root / "data"), ("GDD_RESULTS", root / "results"),
                          ("GDD_RUNS", root / "runs")):
        _absolute_env(name, default)
    mirror = root.parent / "shared" / "data"
    if "GDD_DATA_MIRROR" not in os.environ and mirror.is_dir():
        os.environ["GDD_DATA_MIRROR"] = str(mirror)
    os.chdir(root)
    seed_everything(seed)
    # tqdm.auto falls back to text bars without ipywidgets and says so on stderr at import
    warnings.filterwarnings("ignore", message="IProgress not found")
    theme()
    _STATE.update(profile=p.name, loaded=[], compute=compute, missing=[])
    _install_hook()
    if not quiet:
        notice = compute_notice(p, needs, device, redo_before, compute)
        if notice:
            print(notice)
    return p


# ---- which results a notebook loads, and whether it would compute ----

class WouldCompute(Exception):
    """Raised inside a dry run where ``cached_run`` would compute instead of load."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _refuse(name: str):
    raise WouldCompute(name)


def _install_hook() -> None:
    """Wrap ``gdd.results.cached_run`` (and the references to it that ``gdd`` modules imported
    already hold) once: every record it returns is noted for ``budget_box``, and in a dry run
    it refuses to compute (``WouldCompute``) instead of running the experiment."""
    import gdd.results as results
    original = results.cached_run
    if getattr(original, "_gdd_notebook", False):
        return

    @functools.wraps(original)
    def cached_run(name, config, fn, *args, **kwargs):
        if _STATE["dry"] or _STATE["lenient"]:
            fn = functools.partial(_refuse, name)
        try:
            record = original(name, config, fn, *args, **kwargs)
        except WouldCompute:
            if not _STATE["lenient"] or _STATE["dry"]:
                raise
            _STATE["missing"].append(name)
            return None
        _STATE["dry_loaded" if _STATE["dry"] else "loaded"].append(record)
        return record

    cached_run._gdd_notebook = True
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("gdd") and getattr(module, "cached_run", None) is original:
            module.cached_run = cached_run


def stored(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)`` if every result it needs is stored, else None; never computes."""
    _install_hook()
    _STATE["dry"] = True
    try:
        return fn(*args, **kwargs)
    except WouldCompute:
        return None
    finally:
        _STATE["dry"] = False


def grid(stage: str | Callable, p, device: str = "cpu", redo_before: float | None = None) -> dict:
    """The records of a grid (a name of ``gdd.grids.STAGES`` or ``f(p, device, redo_before)``):
    computed where missing, or, after ``setup(compute=False)``, loaded only, with None for each
    record that is not stored (``result_of`` shows it as not yet computed)."""
    from gdd.grids import STAGES
    fn = STAGES[stage] if isinstance(stage, str) else stage
    if _STATE["compute"] or redo_before is not None:
        return fn(p, device, redo_before)
    return stored_grid(fn, p, device)


def stored_grid(stage: str | Callable, p, device: str = "cpu") -> dict:
    """The records of a grid as far as they are stored (None for the others); never computes,
    whatever ``setup``'s ``compute`` (e.g. a summary page showing another page's results)."""
    from gdd.grids import STAGES
    fn = STAGES[stage] if isinstance(stage, str) else stage
    _install_hook()
    _STATE["lenient"] = True
    try:
        return fn(p, device, None)
    finally:
        _STATE["lenient"] = False


def present(records: dict) -> dict:
    """The entries of a grid whose record is stored."""
    return {k: r for k, r in records.items() if r is not None}


def missing_result(stage: str | Callable, p, device: str = "cpu") -> str | None:
    """The first result of ``stage`` (a name of ``gdd.grids.STAGES`` or ``f(p, device, redo_before)``)
    that is not stored for profile ``p``, or None when all are."""
    from gdd.grids import STAGES
    fn = STAGES[stage] if isinstance(stage, str) else stage
    _install_hook()
    _STATE["dry"] = True
    try:
        fn(p, device, None)
    except WouldCompute as missing:
        return missing.name
    finally:
        _STATE["dry"] = False
    return None


def expected_time(p, records: list[dict] | None = None) -> str:
    """What computing costs: the profile's own estimate (``Profile.expected_time``) if it states
    one, else the compute time of ``records`` (the notebook's stored results, when recomputing
    them), else that of every result stored for the profile so far."""
    stated = getattr(p, "expected_time", None)
    if stated:
        return stated
    from gdd.results import find_records
    what = "these results took"
    if not records:
        records, what = find_records(p.name), f"the {{n}} results stored for profile {p.name} so far took"
    if not records:
        return f"not measured yet for profile {p.name}"
    return (f"{what.format(n=len(records))} {duration(work_seconds(records))} "
            f"on {', '.join(sorted(_devices(records)))} when they were computed")


def compute_notice(p, needs: Iterable[str | Callable] = (), device: str = "cpu", redo_before: float | None = None,
                   compute: bool = True):
    """A warning when running the notebook computes rather than loads (None when it only loads)."""
    from gdd.results import results_root
    _STATE["dry_loaded"] = []
    missing = [m for m in (missing_result(s, p, device) for s in needs) if m]
    if not compute and redo_before is None:
        return (f"Note: some results of this page are not computed yet for profile {p.name} "
                f"(e.g. {', '.join(missing)}); they are shown as not yet computed. Set compute = True in the "
                f"parameters cell to compute them here (expected time: {expected_time(p)}), or run "
                f"`gdd reproduce --profile {p.name}`.") if missing else None
    if redo_before is not None:
        return (f"WARNING: redo_before={redo_before!r}: this notebook recomputes its results of profile {p.name} "
                f"on {device}. Expected time: {expected_time(p, [] if missing else _STATE['dry_loaded'])}.")
    if not missing:
        return None
    return (f"WARNING: running this notebook COMPUTES results: {', '.join(missing)} (and maybe more) "
            f"is not stored under {results_root() / p.name}. On {device}, expected time: {expected_time(p)}. "
            f"The stored results of another profile load instantly (e.g. profile = \"cpu\").")


def recent_records() -> list[dict]:
    """The records loaded since the last call (or since ``setup``), each once."""
    seen, out = set(), []
    for r in _STATE["loaded"]:
        key = (r.get("name"), r["provenance"].get("started"), json.dumps(r.get("config"), sort_keys=True))
        if key not in seen:
            seen.add(key)
            out.append(r)
    _STATE["loaded"] = []
    return out


# ---- labels ----

NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
         "convnet3": "ConvNet-3", "resnet10": "ResNet-10", "resnet18": "ResNet-18", "resnet18_bn": "ResNet-18 (BN)",
         "resnet10_ap": "ResNet-10-AP", "resnet18_ap": "ResNet-18-AP",
         "alexnet": "AlexNet", "vgg11": "VGG-11", "random": "random real subset",
         "dm": "DM (ours)", "herding": "herding (coreset)", "k_center": "k-center (coreset)",
         "lambda_g": HTML("λ<sub>g</sub>"), "lambda_l": HTML("λ<sub>l</sub>"),
         # data-free KD (gdd.datafree.experiments)
         "teacher": "teacher (real data)", "scratch": "student from scratch (real data)",
         "kd_real": "KD on real data", "adv": "adversarial KD", "adv_small": "adversarial KD at the small budget",
         "ssdkd": "SSD-KD", "ssdkd_nophi": "SSD-KD without φ", "ssdkd_noprio": "SSD-KD without priority sampling"}
TEX = {"lambda_g": r"$\lambda_g$", "lambda_l": r"$\lambda_l$", "l_global": r"$L_{global}$",
       "l_local": r"$L_{local}$", "l_cgan": r"$L_{cGAN}$"}


def label(key) -> str:
    """The reader's name of a dataset, model, method or parameter (``key`` itself if none)."""
    return NAMES.get(key, key) if isinstance(key, str) else str(key)


def class_names(dataset: str) -> list[str]:
    from gdd.data import get_spec
    return list(get_spec(dataset).classes)


# ---- formatting ----

def duration(seconds: float) -> str:
    """``95`` -> ``1.6 min``; ``7300`` -> ``2.0 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt(value, digits: int = 1) -> str:
    """A rounded number (or "–" for None), the way every table in the book prints them; integers
    stay integers."""
    if value is None:
        return "–"
    if isinstance(value, Pending):
        return value.text
    if isinstance(value, Cell):
        return fmt(value.value, digits) + (f" ({fmt(value.note)})" if value.note else "")
    if isinstance(value, HTML):
        return value.plain
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(getattr(value, "text", value))


def mean_std(record: dict, digits: int = 1) -> str:
    """``mean ± std`` of a stored evaluation record (or its ``result``)."""
    r = record.get("result", record)
    return f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}"


# ---- budget boxes ----

def work_seconds(records: list[dict]) -> float:
    """Compute time behind ``records``: each record's own work (its ``result.wall_time_s``, else
    the time it took to store), plus every generator or teacher they were made from, once."""
    times: dict[tuple, float] = {}
    for r in records:
        cfg, res = r.get("config", {}), r.get("result", {})
        if not isinstance(res, dict):
            res = {}
        if cfg.get("generator") and "eval" not in cfg and "wall_time_s" in res and "ipc" not in cfg:
            times[("gen", _key(cfg["generator"]))] = res["wall_time_s"]  # a generator's own record
        else:
            times[("rec", id(r))] = res.get("wall_time_s", r["provenance"].get("wall_time_s", 0.0))
        for part, key in (("gan", "gan_wall_time_s"), ("generator", "distill_wall_time_s")):
            if key in res and part in cfg:
                times[("gen", _key(cfg[part]))] = res[key]
        if "teacher_wall_time_s" in res:
            times[("teacher", cfg.get("teacher"))] = res["teacher_wall_time_s"]
    return sum(t or 0.0 for t in times.values())


def _key(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _devices(records) -> set[str]:
    return {r["provenance"].get("device", "unknown") for r in records}


def _joined(values, limit: int = 4) -> str:
    values = list(dict.fromkeys(str(v) for v in values))
    return ", ".join(values[:limit]) + (f" (+{len(values) - limit} more)" if len(values) > limit else "")


def _steps(g: dict) -> str:
    per = g.get("steps_per_epoch")
    return f"{g['epochs']} × {per} steps" if per else f"{g['epochs']} epochs"


def budget(records: list[dict]) -> dict[str, str]:
    """The budget behind ``records``, in words: hardware, evaluation, training, seeds, time, code."""
    facts: dict[str, str] = {}
    devices: dict[str, int] = {}
    for r in records:
        devices[r["provenance"].get("device", "unknown")] = devices.get(r["provenance"].get("device", "unknown"), 0) + 1
    facts["hardware"] = "; ".join(f"{d} ({n} result{'s' * (n > 1)})" for d, n in devices.items())
    facts["profile"] = _joined(r["provenance"].get("profile", "?") for r in records)
    evals: dict[tuple, dict] = {}
    for r in records:
        ev = r.get("config", {}).get("eval")
        if isinstance(ev, dict):
            evals.setdefault((ev["model"], ev["runs"]), {})[r["config"].get("ipc")] = ev["epochs"]
    if evals:
        facts["evaluation"] = "; ".join(
            f"{label(m)}: {n} network{'s' * (n > 1)} × " + ", ".join(
                f"{e} epochs" + (f" (IPC {i})" if i is not None and len(by_ipc) > 1 else "")
                for i, e in sorted(by_ipc.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
            for (m, n), by_ipc in evals.items())
    gens = {}
    for r in records:
        cfg = r.get("config", {})
        for g in (cfg.get("gan"), cfg.get("generator")):
            if isinstance(g, dict) and "stage" in g:
                gens[_key(g)] = g
    if gens:
        facts["generators"] = _joined(
            f"{'GAN' if g['stage'] == 'gan' else g['method']} (width {g['width']}): {_steps(g)} of batch {g['batch']}"
            for g in gens.values())
    students = [r["config"] for r in records if "iters" in r.get("config", {})]
    real = [r["config"] for r in records if r.get("config", {}).get("role")]
    if students or real:
        facts["data-free KD"] = _joined(
            [f"{c['method']}: student {label(c['student'])} (width {c['student_kw'].get('width')}), {c['iters']} steps"
             for c in students] +
            [f"{c['role']}: {label(c['model'])} (width {c['model_kw'].get('width')}), {c['steps']} steps"
             for c in real], limit=6)
    seeds = sorted({v for r in records for v in _find(r.get("config", {}), ("seed", "sample_seed"))})
    if seeds:
        facts["seeds"] = _joined(seeds)
    facts["compute time"] = f"{duration(work_seconds(records))} in all ({len(records)} stored results)"
    dates = sorted(r["provenance"].get("started", "")[:10] for r in records)
    facts["computed"] = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
    facts["commit"] = _joined(r["provenance"].get("commit", "unknown")[:12] +
                              ("-dirty" if r["provenance"].get("commit", "").endswith("-dirty") else "")
                              for r in records)
    return facts


def _find(obj, keys) -> list:
    if isinstance(obj, dict):
        return [v for k, v in obj.items() if k in keys and isinstance(v, int)] + \
               [x for v in obj.values() for x in _find(v, keys)]
    if isinstance(obj, list):
        return [x for v in obj for x in _find(v, keys)]
    return []


class Box:
    """An admonition: HTML that Jupyter, Colab and the book all render (the book's theme styles
    ``div.admonition``); plain text elsewhere."""

    def __init__(self, title: str, items: dict[str, str], kind: str = "note"):
        self.title, self.items, self.kind = title, items, kind

    def _repr_html_(self) -> str:
        rows = "".join(f"<li><strong>{escape(k)}:</strong> {escape(v)}</li>" for k, v in self.items.items())
        return (f'<div class="admonition {self.kind} gdd-box" style="overflow-wrap:anywhere">'
                f'<p class="admonition-title">{escape(self.title)}</p><ul class="simple">{rows}</ul></div>')

    def __repr__(self) -> str:
        return "\n".join([self.title] + [f"  {k}: {v}" for k, v in self.items.items()])


def budget_box(records: Iterable[dict] | None = None, title: str = "Budget of the results below") -> Box:
    """The budget of ``records`` (default: those loaded since the previous box), as a box."""
    records = list(records) if records is not None else recent_records()
    if not records:
        return Box(title, {"results": "none stored yet (not yet computed)"}, "warning")
    return Box(title, budget(records))


def budget_line(records: list[dict]) -> str:
    """The budget in one line (for tables): evaluation, and the hardware."""
    if not records:
        return "–"
    facts = budget(records)
    return "; ".join(facts[k] for k in ("evaluation", "data-free KD", "hardware") if k in facts)


# ---- tables ----

@dataclass(frozen=True)
class Cell:
    """A table value with a small note under it (e.g. a difference to ours)."""
    value: Any
    note: str | None = None


def table(rows: list[dict], columns: list[str] | None = None, digits: int = 1, caption: str = "",
          name: str | None = None, group: str | None = None) -> "Table":
    """Rows of dicts as a table: HTML in Jupyter, Colab and the book, aligned text elsewhere.
    Numbers are rounded to ``digits`` (``fmt``); a row's ``_class`` key (e.g. ``"published"``)
    sets it apart; ``group``: a column shown as a heading row whenever its value changes;
    ``name``: the table is also written as CSV to ``results/<profile>/tables/<name>.csv`` and
    offered for download under it."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r if not k.startswith("_")))
    t = Table(columns, [[r.get(c) for c in columns] for r in rows], digits, caption,
              [r.get("_class", "") for r in rows], group)
    if name:
        t.save_csv(name)
    return t


class Table:
    """A small table: HTML in Jupyter and the book, markdown on request, aligned text otherwise."""

    def __init__(self, columns: list[str], values: list[list], digits: int = 1, caption: str = "",
                 classes: list[str] | None = None, group: str | None = None):
        self.columns, self.values, self.digits = [c if isinstance(c, HTML) else str(c) for c in columns], values, digits
        self.caption, self.classes, self.group = caption, classes or [""] * len(values), group
        self.csv_name: str | None = None
        self.csv_path: Path | None = None

    @property
    def cells(self) -> list[list[str]]:
        return [[fmt(v, self.digits) for v in row] for row in self.values]

    def markdown(self) -> str:
        esc = lambda s: str(s).replace("|", "\\|")
        lines = ["| " + " | ".join(esc(fmt(NAMES.get(c, c))) for c in self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(map(esc, row)) + " |" for row in self.cells]
        return "\n".join(lines)

    def text(self) -> str:
        head = [fmt(NAMES.get(c, c)) for c in self.columns]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *self.cells)]
        line = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
        return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in self.cells])

    def csv(self) -> str:
        """The table as CSV: a mean ± std becomes two columns, a note a third, a source its text."""
        import csv
        import io

        def split(col, v):
            if isinstance(v, Cell):
                return {**split(col, v.value), **({f"{col} note": split(col, v.note)[col]} if v.note else {})}
            if isinstance(v, (tuple, list)) and len(v) == 2:
                return {f"{col} mean": round(v[0], 4), f"{col} std": round(v[1], 4)}
            if hasattr(v, "url"):
                return {col: f"{v.text} <{v.url}>"}
            return {col: round(v, 4) if isinstance(v, float) else fmt(v)}

        rows = [{k: val for c, v in zip(self.columns, row) for k, val in split(fmt(NAMES.get(c, c)), v).items()}
                for row in self.values]
        # columns in the table's order, whatever the first row holds (a pending cell has no std)
        names = [fmt(NAMES.get(c, c)) for c in self.columns]
        header = [k for n in names for k in (n, f"{n} mean", f"{n} std", f"{n} note") if any(k in r for r in rows)]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=header, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def save_csv(self, name: str) -> Path:
        from gdd.files import atomic_write_bytes
        from gdd.results import results_root
        self.csv_name = name
        self.csv_path = results_root() / (_STATE["profile"] or "no-profile") / "tables" / f"{name}.csv"
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.csv().encode(), self.csv_path)
        return self.csv_path

    def _cell_html(self, v) -> str:
        if isinstance(v, Cell):
            note = f'<br><span class="gdd-note" style="font-size:85%">{self._cell_html(v.note)}</span>' if v.note else ""
            return self._cell_html(v.value) + note
        if isinstance(v, HTML):
            return str(v)
        if hasattr(v, "html"):
            return v.html()
        return escape(fmt(v, self.digits)).replace(" ± ", "&nbsp;±&nbsp;")  # a mean ± std stays on one line

    def html(self) -> str:
        keep = [i for i, c in enumerate(self.columns) if c != self.group]
        head = "".join(f"<th>{self._cell_html(NAMES.get(self.columns[i], self.columns[i]))}</th>" for i in keep)
        body, current = [], object()
        gi = self.columns.index(self.group) if self.group in self.columns else None
        for row, cls in zip(self.values, self.classes):
            if gi is not None and row[gi] != current:
                current = row[gi]
                body.append(f'<tr class="gdd-group"><th colspan="{len(keep)}">{self._cell_html(current)}</th></tr>')
            style = ' style="font-style:italic;color:#5f6368"' if cls == "published" else ""
            cells = "".join(f"<td>{self._cell_html(row[i])}</td>" for i in keep)
            body.append(f'<tr class="{("gdd-" + cls) if cls else ""}"{style}>{cells}</tr>' if cls else f"<tr>{cells}</tr>")
        caption = f"<caption>{self._cell_html(self.caption)}</caption>" if self.caption else ""
        return (f'<table class="table gdd-table">{caption}<thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table>{self._download()}')

    def _download(self) -> str:
        if not self.csv_name:
            return ""
        data = base64.b64encode(self.csv().encode()).decode()
        where = f"results/{self.csv_path.parent.parent.name}/tables/{self.csv_name}.csv"
        return (f'<p class="gdd-csv" style="font-size:85%"><a download="{escape(self.csv_name)}.csv" '
                f'href="data:text/csv;base64,{data}">Download this table as CSV</a> '
                f'(also in the repository: <code>{escape(where)}</code>)</p>')

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return (fmt(self.caption) + "\n" if self.caption else "") + self.text()

    __str__ = __repr__


def by_setting(records: Iterable[dict]) -> dict[tuple[str, str], dict[int, dict]]:
    """Evaluation records keyed the way tables show them: {(dataset, method): {ipc: record}}."""
    out: dict[tuple[str, str], dict[int, dict]] = {}
    for r in records:
        c = r["config"]
        if c.get("eval", {}).get("protocol", "fixed") != "fixed":
            continue
        out.setdefault((c["dataset"], c["method"]), {})[c["ipc"]] = r
    return out


# ---- figures ----

def networks(items: Iterable[tuple[dict, dict]]):
    """One row per trained network: ``items`` are (labels, record) pairs; the labels become
    columns, with ``network`` and ``accuracy (%)`` (a record without per-network accuracies
    gives its mean)."""
    import pandas as pd
    rows = []
    for labels, record in items:
        if record is None:  # not computed yet
            continue
        res = record.get("result", record)
        for k, acc in enumerate(res.get("accuracies") or [res["mean"]]):
            rows.append({**labels, "network": k + 1, "accuracy (%)": acc})
    return pd.DataFrame(rows)


def plot_networks(df, x: str, hue: str | None = None, col: str | None = None, xlabel: str | None = None,
                  title: str | None = None, order=None, hue_order=None, height: float = 3.2):
    """Each trained network as a point, and per group the mean with ± one standard deviation
    (seaborn), one panel per value of ``col``; shown as one figure."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    panels = list(dict.fromkeys(df[col])) if col else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(min(10, 4.6 * len(panels)), height), squeeze=False,
                             sharey=False, layout="constrained")
    if hue and hue_order is None:  # every panel gets every level (a panel may lack some, mid-recompute)
        hue_order = list(dict.fromkeys(df[hue]))
    levels = len(hue_order) if hue else 1
    for ax, panel in zip(axes[0], panels):
        part = df if panel is None else df[df[col] == panel]
        kw = dict(data=part, x=x, y="accuracy (%)", hue=hue, order=order, hue_order=hue_order, ax=ax)
        sns.stripplot(**kw, dodge=bool(hue), alpha=0.45, size=4, jitter=0.08, legend=False)
        # the same offsets as the strips': hue level k of n at -0.4 + 0.8 (k + 0.5) / n
        sns.pointplot(**kw, dodge=0.8 * (levels - 1) / levels if hue else False, errorbar="sd", capsize=0.1,
                      linestyle="none", markers="D", markersize=5, err_kws={"linewidth": 1.2})
        ax.set(xlabel=xlabel or x, ylabel="test accuracy (%)",
               title=label(panel) if panel is not None else (title or ""))
        if hue and ax is not axes[0][-1] and ax.get_legend():
            ax.get_legend().remove()
    if hue and axes[0][-1].get_legend():
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.0, 1.0), title=label(hue), frameon=False)
    if title and col:
        fig.suptitle(title)
    plt.show()


def plot_curves(panels: list[tuple[str, list[tuple[str, list, list]]]], xlabel: str, ylabel: str = "",
                ncols: int = 2, log: bool = False):
    """Training curves, one panel per (title, [(line label, steps, values), ...]); one figure
    (a note instead when there is nothing to draw yet)."""
    import matplotlib.pyplot as plt
    if not panels:
        return md("*Not yet computed.*")
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(min(10, 4.8 * ncols), 3.0 * nrows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    for ax, (title, lines) in zip(axes.flat, panels):
        for name, steps, values in lines:
            ax.plot(steps, [math.nan if v is None else v for v in values], label=name, lw=1.3)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if log:
            ax.set_yscale("log")
        ax.legend(frameon=False)
    plt.show()


def show_png(path: str | os.PathLike, title: str | None = None, width: float = 7.0):
    """Show a stored PNG (e.g. a sample grid under results/) as a matplotlib figure."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    img = mpimg.imread(resolve(path))
    h, w = img.shape[:2]
    fig, ax = plt.subplots(figsize=(width, width * h / w + (0.4 if title else 0)), layout="constrained")
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    plt.show()


def _mosaic(images, per_class: int):
    """N x C x H x W images in [0, 1], ``per_class`` of each class in order, as one grid array."""
    import torch
    from torchvision.utils import make_grid
    grid = make_grid(torch.as_tensor(images).float().clamp(0, 1), nrow=per_class, padding=1, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def sample_panels(panels: list[tuple[str, Any]], classes: list[list[str]] | list[str], per_class: int = 10,
                  ncols: int | None = None, cell: float = 0.28):
    """Grids of images side by side, one row per class labelled with its name. ``panels``: (title,
    stored grid PNG path or N x C x H x W tensor, ``per_class`` images of each class in order);
    ``classes``: the class names (one list for all panels or one per panel)."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    if not panels:
        return md("*Not yet computed.*")
    per_panel = classes if classes and isinstance(classes[0], (list, tuple)) else [classes] * len(panels)
    ncols = ncols or min(2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * (per_class * cell + 1.3), nrows * (10 * cell + 0.5)),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (title, src), names in zip(axes.flat, panels, per_panel):
        img = mpimg.imread(resolve(src)) if isinstance(src, (str, os.PathLike)) else _mosaic(src, per_class)
        ax.set_axis_on()
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        h = img.shape[0]
        ax.set_yticks([(r + 0.5) * h / len(names) for r in range(len(names))], names, fontsize=7)
        ax.set_xticks([])
        ax.grid(False)
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_title(title, fontsize="small")
    plt.show()


def resolve(path: str | os.PathLike) -> Path:
    """A path stored in a result record, found from this checkout: records made elsewhere may
    hold another machine's absolute path; the part from ``results/`` or ``runs/`` on is kept."""
    from gdd.results import local
    path = local(path)
    if path.exists():
        return path
    parts = path.parts
    for anchor, env in (("results", "GDD_RESULTS"), ("runs", "GDD_RUNS")):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            candidate = Path(os.environ.get(env, repo_root() / anchor)).joinpath(*parts[i + 1:])
            if candidate.exists():
                return candidate
    return repo_root() / path


# ---- the claims checklist ----

VERDICTS = ("reproduced", "not reproduced", "inconclusive at this budget")


@dataclass
class Evidence:
    """Our side of a claim: in words, the number the verdict rule reads, and the records behind it."""
    text: str
    value: Any
    records: list[dict] = field(default_factory=list)


@dataclass
class Check:
    """A claim of a paper, how we measure it, and the rule that turns our measurement into a
    verdict. ``ours()`` returns ``Evidence`` or None when its results are not stored (it must not
    compute: build it on ``stored``, or on ``stored_grid`` with the evidence saying how much of
    the grid it covers); ``verdict(evidence)`` returns one of ``VERDICTS``;
    ``rule`` says the rule in words (shown in the table)."""
    claim: Any                      # gdd.published.Claim (text and source)
    ours: Callable[[], Evidence | None]
    verdict: Callable[[Evidence], str]
    rule: str


def claims_table(checks: list[Check], name: str | None = "claims") -> Table:
    """The checklist: each claim with its source, ours with its budget, and the verdict."""
    rows = []
    for c in checks:
        ev = c.ours()
        verdict = c.verdict(ev) if ev is not None else "not computed for this profile"
        if ev is not None and verdict not in VERDICTS:
            raise ValueError(f"verdict {verdict!r} of {c.claim.key!r} is not one of {VERDICTS}")
        rows.append({"claim (paper, source)": Cell(c.claim.text, c.claim.source),
                     "ours (budget)": Cell(ev.text, budget_line(ev.records)) if ev else "–",
                     "verdict (rule)": Cell(HTML(f"<strong>{escape(verdict)}</strong>"), c.rule)})
    return table(rows, name=name)


def difference(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """``a − b`` of two (mean, std) results, with the combined standard deviation."""
    return a[0] - b[0], math.hypot(a[1], b[1])


def result_of(record: dict | None, key: str = "") -> tuple[float, float] | Pending:
    """(mean, std) of an evaluation record (``key="best"``: DiM's best-of-checks accuracy);
    ``PENDING`` for a record not computed yet."""
    if record is None:
        return PENDING
    r = record.get("result", record)
    return (r[f"{key}_mean"], r[f"{key}_std"]) if key else (r["mean"], r["std"])


def difference_text(name_a: str, a: dict | None, name_b: str, b: dict | None) -> str:
    """``a − b`` of two evaluation records in words, with the combined standard deviation."""
    if a is None or b is None:
        return f"{name_a} − {name_b}: not yet computed"
    d, s = difference(result_of(a), result_of(b))
    return f"{name_a} − {name_b}: {d:+.1f} points (combined std {s:.1f}, {d / s:+.1f} std)" if s else \
        f"{name_a} − {name_b}: {d:+.1f} points"


def md(text: str):
    """``text`` as Markdown output (rendered by Jupyter and by the book)."""
    from IPython.display import Markdown
    return Markdown(text)


def sign_verdict(diffs: list[tuple[float, float]], k: float = 1.0) -> str:
    """For a claim "positive difference": reproduced when every difference is above ``k`` combined
    standard deviations, not reproduced when every one is below minus that, else inconclusive."""
    if diffs and all(d > k * s for d, s in diffs):
        return VERDICTS[0]
    if diffs and all(d < -k * s for d, s in diffs):
        return VERDICTS[1]
    return VERDICTS[2]


def majority_verdict(diffs: list[tuple[float, float]], k: float = 1.0) -> str:
    """For a claim "positive difference in most settings": reproduced when more than half of the
    differences are above ``k`` combined standard deviations and none is below minus that; not
    reproduced when more than half are below minus that; else inconclusive."""
    up = sum(d > k * s for d, s in diffs)
    down = sum(d < -k * s for d, s in diffs)
    if up > len(diffs) / 2 and not down:
        return VERDICTS[0]
    if down > len(diffs) / 2:
        return VERDICTS[1]
    return VERDICTS[2]


# ---- the checks of the landing page (provisional verdict rules: see each ``rule``) ----

def scale_line(p, records: list[dict]) -> str:
    """The scale of the results shown, in one line, against the papers' budgets (profile ``paper``)."""
    from gdd.profiles import get_profile
    paper = get_profile("paper")
    from gdd import configs
    epochs = sorted({configs.epochs_for(p, i) for i in p.ipcs})
    runs, paper_runs = configs.eval_config(p, p.ipcs[0]).runs, configs.eval_config(paper, 1).runs
    gan, dist = configs.gan_config(p, p.datasets[0]), configs.distill_config(p, p.datasets[0], "gdd")
    paper_gan, paper_dist = configs.gan_config(paper, "cifar10"), configs.distill_config(paper, "cifar10", "gdd")
    steps = lambda epochs_, per: f"{epochs_ * per} steps" if per else f"{epochs_} epochs"
    missing = [label(d) for d in paper.datasets if d not in p.datasets]
    hardware = "; ".join(sorted(_devices(records))) if records else "no stored results yet"
    return (f"**Scale of the results shown** (profile `{p.name}`): computed on {hardware}; "
            f"{', '.join(label(d) for d in p.datasets)} only" + (f" (no {', '.join(missing)})" if missing else "")
            + f"; evaluation {epochs[0]}{f'–{epochs[-1]}' if len(epochs) > 1 else ''} epochs × {runs} networks "
            f"(the papers: {configs.epochs_for(paper, 1)} × {paper_runs}); GAN "
            f"{steps(gan.epochs, gan.steps_per_epoch)} and matching {steps(dist.epochs, dist.steps_per_epoch)}"
            f" (DiM: {steps(paper_gan.epochs, paper_gan.steps_per_epoch)} and "
            f"{steps(paper_dist.epochs, paper_dist.steps_per_epoch)} over the training set).")


def paper_checks(p, device: str = "cpu") -> list[Check]:
    """The papers' claims (``gdd.published.CLAIMS``) against the stored results of profile ``p``."""
    from gdd import grids, published
    from gdd.data import get_spec
    claims = published.CLAIMS

    @functools.cache
    def table1():
        """Table 1's cells as far as they are stored: {(dataset, method): {ipc: record}}."""
        return by_setting(present(stored_grid(grids.table1, p, device)).values())

    def cells(a, b, ipcs):
        """The (dataset, ipc) cells of ``ipcs`` where both methods are stored, and a note on how many
        of all there are (a verdict on part of the table says so)."""
        t = table1()
        want = [(d, ipc) for d in p.datasets for ipc in ipcs]
        got = [(d, ipc) for d, ipc in want if ipc in t.get((d, a), {}) and ipc in t.get((d, b), {})]
        return got, ("" if len(got) == len(want) else f" ({len(got)} of {len(want)} cells stored so far)")

    def gdd_minus_dim(ipcs):
        t = table1()
        got, note = cells("gdd", "dim", ipcs)
        if not got:
            return None
        diffs, parts, recs = [], [], []
        for d, ipc in got:
            a, b = t[(d, "gdd")][ipc], t[(d, "dim")][ipc]
            diffs.append(difference(result_of(a), result_of(b)))
            parts.append(f"{label(d)}, IPC {ipc}: {diffs[-1][0]:+.1f} ± {diffs[-1][1]:.1f}")
            recs += [a, b]
        return Evidence("gdd − dim (points ± combined std): " + "; ".join(parts) + note, diffs, recs)

    def best_lambda():
        sweep = stored(grids.figure3, p, device, None)   # {lambda_l: record}, lambda_g fixed
        if sweep is None:
            return None
        best = max(sweep, key=lambda lam: result_of(sweep[lam])[0])
        claimed = claims["best_lambda_l"].value
        ref = sweep.get(claimed)
        gaps = [difference(result_of(ref), result_of(r)) for lam, r in sweep.items() if lam != claimed] if ref else []
        return Evidence(HTML(f"{label(p.focus_dataset)}, IPC 1: best λ<sub>l</sub> = {best:g} ({mean_std(sweep[best])}); "
                             f"λ<sub>l</sub> = {claimed:g}: {mean_std(ref) if ref else 'not run'}"), gaps,
                        list(sweep.values()))

    @functools.cache
    def datafree():
        out = stored(grids.datafree, p, device, None)   # {(dataset, name, seed): record}
        if out is None:
            return None
        by_name: dict = {}
        for key, r in out.items():
            if key[0] != "sweep":
                by_name.setdefault(key[:2], []).append(r)
        return by_name

    def mean_result(runs, key):
        return sum(r["result"][key] for r in runs) / len(runs)

    def fewer_samples():
        got = datafree()
        if got is None:
            return None
        parts, value, recs = [], [], []
        for d in p.datasets:
            s, a = got[(d, "ssdkd")], got[(d, "adv")]
            samples = mean_result(s, "synthetic_samples")
            fewer = get_spec(d).train_size / max(1, samples)
            gap = mean_result(s, "test_accuracy") - mean_result(a, "test_accuracy")
            value.append((fewer, gap))
            parts.append(f"{label(d)}: {samples:.0f} samples ({fewer:.1f}× fewer than the training set), "
                         f"accuracy {mean_result(s, 'test_accuracy'):.1f} vs adv {mean_result(a, 'test_accuracy'):.1f} "
                         f"({len(s)} seeds)")
            recs += s + a
        return Evidence("; ".join(parts), value, recs)

    def faster():
        from gdd.datafree.experiments import reach
        got = datafree()
        if got is None:
            return None
        parts, value, recs = [], [], []
        for d in p.datasets:
            target = 0.95 * mean_result(got[(d, "kd_real")], "test_accuracy")
            times = {}
            for name in ("adv", ("matched", "ssdkd")):
                hits = [h for h in (reach(r, target) for r in got[(d, name)]) if h]
                times[name] = sum(h["train_time_s"] for h in hits) / len(hits) if hits else None
            adv, ssd = times["adv"], times[("matched", "ssdkd")]
            speedup = (adv / ssd if adv else float("inf")) if ssd else None  # inf: only ssdkd got there
            value.append(speedup)
            parts.append(f"{label(d)}: " + (f"95 % of kd_real reached {speedup:.1f}× sooner than adv" if speedup
                                            else "95 % of kd_real not reached by " +
                                            ("adv" if not adv else "ssdkd")))
            recs += got[(d, "adv")] + got[(d, ("matched", "ssdkd"))]
        return Evidence("; ".join(parts), value, recs)

    def over_cgan():
        t = table1()
        diffs, parts, recs, notes = [], [], [], set()
        for m in ("gdd", "dim"):
            got, note = cells(m, "cgan", p.ipcs)
            notes.add(note)
            for d in p.datasets:
                ipcs = [ipc for d_, ipc in got if d_ == d]
                for ipc in ipcs:
                    a, b = t[(d, m)][ipc], t[(d, "cgan")][ipc]
                    diffs.append(difference(result_of(a), result_of(b)))
                    recs += [a, b]
                if ipcs:
                    vals = ", ".join(f"{x:+.1f}" for x, _ in diffs[-len(ipcs):])
                    parts.append(f"{label(d)} {m} − cgan at IPC {'/'.join(map(str, ipcs))}: {vals}")
        if not diffs:
            return None
        return Evidence("; ".join(parts) + " points" + max(notes, key=len), diffs, recs)

    def cross_arch():
        recs = stored(grids.table2, p, device, None)   # {(source, model): record}
        if recs is None:
            return None
        diffs, parts, used = [], [], []
        for k in p.cross_matchers:
            for m in p.cross_models:
                if m == "convnet3":
                    continue
                a, b = recs[(("gdd", k), m)], recs[(("dim", k), m)]
                diffs.append(difference(result_of(a), result_of(b)))
                parts.append(f"{label(m)} (matcher {label(k)}): {diffs[-1][0]:+.1f} ± {diffs[-1][1]:.1f}")
                used += [a, b]
        return Evidence(f"{label(p.focus_dataset)}, IPC 10, gdd − dim: " + "; ".join(parts), diffs, used)

    def redeploy():
        t = table1()
        got, note = cells("gdd", "gdd", p.ipcs)
        if not got:
            return None
        shares, parts, recs = [], [], []
        for d in p.datasets:
            ipcs = [ipc for d_, ipc in got if d_ == d]
            for ipc in ipcs:
                r = t[(d, "gdd")][ipc]
                res = r["result"]
                share = res["sampling"]["sample_s"] / (res["gan_wall_time_s"] + res["distill_wall_time_s"])
                shares.append(share)
                recs.append(r)
            if ipcs:
                parts.append(f"{label(d)}: sampling IPC {'/'.join(map(str, ipcs))} costs "
                             + "/".join(f"{100 * x:.3f}" for x in shares[-len(ipcs):]) + " % of training the generator")
        return Evidence("; ".join(parts) + note, shares, recs)

    def seed_values(name, f):
        got = datafree()
        if got is None:
            return None
        return {d: [f(r["result"]) for r in got[(d, name)]] for d in p.datasets}, got

    def mean_std_of(values):
        import statistics
        return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    def entropy(h):
        q = [c / h["size"] for c in h["pred_class_counts"] if c]
        return -sum(x * math.log(x) for x in q)

    def compare_datafree(a_name, b_name, f, what, unit):
        a, got = seed_values(a_name, f) or (None, None)
        if a is None:
            return None
        b, _ = seed_values(b_name, f)
        diffs, parts, recs = [], [], []
        for d in p.datasets:
            diffs.append(difference(mean_std_of(a[d]), mean_std_of(b[d])))
            parts.append(f"{label(d)}: {diffs[-1][0]:+.2f} ± {diffs[-1][1]:.2f}{unit}")
            recs += got[(d, a_name)] + got[(d, b_name)]
        return Evidence(f"{what} ({len(p.datafree_seeds)} seeds): " + "; ".join(parts), diffs, recs)

    def lambda_verdict(ev):
        if not ev.value:
            return VERDICTS[2]
        return sign_verdict(ev.value)

    def fewer_verdict(ev):
        if all(f >= 5 and gap >= -1 for f, gap in ev.value):
            return VERDICTS[0]
        if any(gap < -5 for _, gap in ev.value):
            return VERDICTS[1]
        return VERDICTS[2]

    def faster_verdict(ev):
        if all(v and v >= 10 for v in ev.value):
            return VERDICTS[0]
        if all(not v or v < 2 for v in ev.value):
            return VERDICTS[1]
        return VERDICTS[2]

    return [
        Check(claims["table1_ordering"], over_cgan, lambda ev: majority_verdict(ev.value),
              "reproduced if gdd − cgan and dim − cgan > 1 combined std in most settings and < −1 std in none; "
              "not reproduced if < −1 std in most"),
        Check(claims["gdd_over_dim"], lambda: gdd_minus_dim(p.ipcs), lambda ev: majority_verdict(ev.value),
              "reproduced if gdd − dim > 1 combined std in most settings and < −1 std in none; "
              "not reproduced if < −1 std in most"),
        Check(claims["gdd_over_dim_ipc1"], lambda: gdd_minus_dim((1,)), lambda ev: sign_verdict(ev.value),
              "reproduced if gdd − dim > 1 combined std on every dataset; not reproduced if < −1 std on every one"),
        Check(claims["best_lambda_l"], best_lambda, lambda_verdict,
              HTML("reproduced if the claimed λ<sub>l</sub> beats every other λ<sub>l</sub> by > 1 combined std; "
                   "not reproduced if every other beats it by that")),
        Check(claims["cross_arch"], cross_arch, lambda ev: majority_verdict(ev.value),
              "reproduced if gdd − dim > 1 combined std for most (architecture, matcher) pairs and < −1 std for "
              "none; not reproduced if < −1 std for most"),
        Check(claims["redeploy"], redeploy,
              lambda ev: VERDICTS[0] if max(ev.value) < claims["redeploy"].value else VERDICTS[1],
              "reproduced if sampling every IPC costs under 1 % of training the generator, else not reproduced"),
        Check(claims["ssdkd_fewer_samples"], fewer_samples, fewer_verdict,
              "reproduced if ≥ 5× fewer samples than the training set and at most 1 point below adv on every "
              "dataset; not reproduced if more than 5 points below adv on any"),
        Check(claims["ssdkd_faster"], faster, faster_verdict,
              "reproduced if the long ssdkd runs reach 95 % of kd_real's accuracy ≥ 10× sooner than adv's (means over "
              "seeds) on every dataset; not reproduced if < 2× (or never) on every one"),
        Check(claims["phi_flattens"],
              lambda: compare_datafree("ssdkd", "ssdkd_nophi", lambda r: entropy(r["histograms"]),
                                       "class entropy of the final buffer, ssdkd − ssdkd_nophi", " nats"),
              lambda ev: sign_verdict(ev.value),
              "reproduced if the entropy is higher with φ by > 1 combined std on every dataset; not reproduced if "
              "lower by that on every one"),
        Check(claims["priority_helps"],
              lambda: compare_datafree("ssdkd", "ssdkd_noprio", lambda r: r["test_accuracy"],
                                       "student accuracy, ssdkd − ssdkd_noprio", " points"),
              lambda ev: sign_verdict(ev.value),
              "reproduced if ssdkd − ssdkd_noprio > 1 combined std on every dataset; not reproduced if < −1 std on "
              "every one"),
    ]


# ---- published numbers beside ours (the numbers: gdd.published) ----

def _published_label(n) -> str:

    extra = ([label(n.model)] if n.model != "convnet3" else []) + ([n.note] if n.note else [])
    return f"{n.method} ({', '.join(extra + ['published'])})"


def published_beside(ours: dict[tuple[str, str], dict[int, dict]], ipcs, compare: str | None = None,
           datasets=None, caption: str = "", name: str | None = None, shown_in: str = "table1"):
    """Our results and the published ones of the same datasets and IPCs, as one ``Table``.

    ``ours``: {(dataset, method): {ipc: record}} (a record's ``result`` has ``mean`` and ``std``).
    Rows are grouped by dataset (datasets with no result of ours show the published rows only).
    Published rows are set apart: italic, grey, "(published)", their source under the method.
    Where our ``compare`` method has a result at the same IPC, a published cell also gives the
    difference ``compare − published`` under the value (e.g. "gdd −3.2"). Only the numbers meant
    for our table ``shown_in`` appear; models other than ConvNet-3 are named in the method."""
    datasets = list(dict.fromkeys([d for d, _ in ours] + list(datasets or [])))
    cols = {ipc: f"IPC {ipc}" for ipc in ipcs}
    rows = []
    for d in datasets:
        mine = {m: by_ipc for (dd, m), by_ipc in ours.items() if dd == d}
        for m, by_ipc in mine.items():
            rows.append({"dataset": label(d), "method": m,
                         **{cols[i]: result_of(by_ipc[i]) for i in ipcs if i in by_ipc}})
        pub: dict[str, dict] = {}
        for n in published.accuracy(d, shown_in=shown_in):
            if n.ipc not in cols and n.ipc is not None:
                continue
            row = pub.setdefault(_published_label(n), {"dataset": label(d), "method": Cell(_published_label(n), n.source),
                                             "_class": "published"})
            ref = mine.get(compare, {}).get(n.ipc) if compare else None
            delta = None if ref is None else f"{compare}\u00a0{result_of(ref)[0] - n.mean:+.1f}".replace("-", "−")
            if n.ipc is None:
                row["full data"] = Cell(n.value, delta)
            else:
                row[cols[n.ipc]] = Cell(n.value, delta)
        rows += pub.values()
    columns = ["dataset", "method", *cols.values()] + (["full data"] if any("full data" in r for r in rows) else [])
    return table(rows, columns, caption=caption, name=name, group="dataset")


def published_listing(numbers: list, caption: str = "", name: str | None = None):
    """Published numbers alone, one row each (dataset, method with its source, evaluated on, IPC,
    accuracy)."""
    return table([{"dataset": label(n.dataset), "method": Cell(_published_label(n), n.source), "evaluated on": label(n.model),
                   "IPC": "full data" if n.ipc is None else n.ipc, "accuracy (%)": n.value, "_class": "published"}
                  for n in numbers], caption=caption, name=name)


def published_datafree_table(name: str | None = None):
    """Fast-Datafree's CIFAR-10 table, as published (its source in the caption)."""
    return table([{"teacher → student": r.pair, "method": f"{r.method} (published)", "accuracy (%)": r.accuracy,
                   "training hours": r.hours, "_class": "published"} for r in published.DATAFREE], digits=2,
                 caption=HTML(f"CIFAR-10 student accuracy and training time, as published: {published.FAST_DATAFREE.html()}."),
                 name=name, group="teacher → student")
