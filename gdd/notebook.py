"""What every notebook shares: the set-up cell, provenance, and small display helpers.

A notebook's set-up cell is (``COLAB_CELL``)::

    import sys

    if "google.colab" in sys.modules:  # Colab: install gdd from the repository
        ...
    from gdd.notebook import setup

    p = setup(profile, device)

``setup`` changes to the repository root (so ``results/`` and ``data/`` resolve the same from
Jupyter, papermill, nbval and Colab), sets the default data/results/runs folders, seeds every
generator and prints the provenance (profile, device, machine, commit). It returns the profile (``gdd.profiles.Profile``).

The repository URL lives in one place, ``_config.yml`` (``repository: url:``); ``repo_url()``
reads it, ``scripts/execute_notebooks.py`` injects it into each executed notebook as the
papermill parameter ``repo_url``, and the Colab branch of the set-up cell clones from it
(it cannot import anything from ``gdd`` before ``gdd`` is installed).
"""
from __future__ import annotations

import os
import random
import re
import sys
import warnings
from pathlib import Path

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


def provenance_lines(profile: str, device: str) -> str:
    """Two lines: the profile and device (compared by nbval), then the machine, torch version
    and commit (removed by the nbval sanitiser, tests/nbval_sanitize.cfg)."""
    import torch
    from gdd import __version__
    from gdd.results import device_name, git_commit
    return (f"profile {profile}, device {device} (gdd {__version__})\n"
            f"machine: {device_name(device)}; torch {torch.__version__}; commit {git_commit()[:12]}")


def setup(profile: str = "cpu", device: str = "cpu", seed: int = 0, quiet: bool = False):
    """Set a notebook up (see the module docstring); returns the ``Profile``."""
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
    try:
        import matplotlib.pyplot as plt
        plt.rcParams.update({"figure.dpi": 90, "savefig.dpi": 90, "figure.max_open_warning": 0})
    except ImportError:
        pass
    if not quiet:
        print(provenance_lines(p.name, device))
    return p


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


# ---- display helpers (plain text and matplotlib only) ----

def show_png(path: str | os.PathLike, title: str | None = None, width: float = 7.0):
    """Show a stored PNG (e.g. a sample grid under results/) as a matplotlib figure."""
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    img = mpimg.imread(resolve(path))
    h, w = img.shape[:2]
    fig, ax = plt.subplots(figsize=(width, width * h / w + (0.4 if title else 0)))
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    plt.tight_layout()
    plt.show()


def image_grid(images, labels=None, per_class: int = 10, class_names=None, title: str | None = None,
               cell: float = 0.6):
    """Show ``per_class`` images of every class, one row per class. ``images``: N x C x H x W
    tensor in [0, 1] (or an array); ``labels``: N class indices (None: rows of ``per_class``)."""
    import matplotlib.pyplot as plt
    import torch
    images = torch.as_tensor(images).detach().float().cpu()
    labels = (torch.arange(len(images)) // per_class if labels is None
              else torch.as_tensor(labels).cpu())
    classes = sorted(set(labels.tolist()))
    fig, axes = plt.subplots(len(classes), per_class, squeeze=False,
                             figsize=(per_class * cell + (1.2 if class_names else 0), len(classes) * cell))
    for r, c in enumerate(classes):
        idx = (labels == c).nonzero().squeeze(1)[:per_class]
        for k, ax in enumerate(axes[r]):
            ax.set_xticks([]), ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if k < len(idx):
                img = images[idx[k]].clamp(0, 1)
                if img.shape[0] == 1:
                    ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                else:
                    ax.imshow(img.permute(1, 2, 0).numpy(), interpolation="nearest")
        if class_names:
            axes[r][0].set_ylabel(class_names[c], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title)
    plt.tight_layout()
    plt.show()


def fmt(value, digits: int = 1) -> str:
    """A rounded number (or "–" for None), the way every table in the book prints them."""
    if value is None:
        return "–"
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mean_std(record: dict, digits: int = 1) -> str:
    """``mean ± std`` of a stored evaluation record (or its ``result``)."""
    r = record.get("result", record)
    return f"{r['mean']:.{digits}f} ± {r['std']:.{digits}f}"


def table(rows: list[dict], columns: list[str] | None = None, digits: int = 1):
    """Rows of dicts as a table: displays as an HTML table in Jupyter, Colab and the book, and as
    aligned text elsewhere. Numbers are rounded to ``digits`` (``fmt``)."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    cells = [[fmt(r.get(c), digits) for c in columns] for r in rows]
    return Table(columns, cells)


class Table:
    """A small table: HTML in Jupyter and the book, markdown on request, aligned text otherwise."""

    def __init__(self, columns: list[str], cells: list[list[str]]):
        self.columns, self.cells = [str(c) for c in columns], cells

    def markdown(self) -> str:
        esc = lambda s: str(s).replace("|", "\\|")
        lines = ["| " + " | ".join(map(esc, self.columns)) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        lines += ["| " + " | ".join(map(esc, row)) + " |" for row in self.cells]
        return "\n".join(lines)

    def text(self) -> str:
        widths = [max(len(str(x)) for x in col) for col in zip(self.columns, *self.cells)]
        line = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()
        return "\n".join([line(self.columns), line(["-" * w for w in widths])] + [line(r) for r in self.cells])

    def html(self) -> str:
        from html import escape
        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(x))}</td>" for x in row) + "</tr>" for row in self.cells)
        return f'<table class="table gdd-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return self.text()

    __str__ = __repr__
