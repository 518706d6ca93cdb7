"""The notebooks (part of `make test`).

- every ``notebooks/NN_*.py`` has a committed ``.ipynb`` with the same cells (apart from
  papermill's injected-parameters cell), and follows the conventions: a markdown title, one
  ``parameters`` cell with ``profile``, ``device`` and ``redo_before``, then the set-up cell
  (``gdd.notebook.COLAB_CELL``);
- nbval re-executes every committed ``.ipynb`` against the stored results and compares its
  outputs strictly, after ``tests/nbval_sanitize.cfg``: a change of code or of results that
  changes a table fails here (refresh with ``make notebooks``);
- every notebook executes with ``profile = "smoke"``, computing its results in a temporary
  results/runs folder (never loading the stored ones);
- the repository URL is written in one place, ``_config.yml``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
IDS = [p.stem for p in SOURCES]
INJECTED = "injected-parameters"


def read_py(py: Path):
    import jupytext
    return jupytext.read(py, fmt="py:percent")


def cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    """(type, source, tags) of every cell except papermill's injected one."""
    return [(c.cell_type, c.source.strip(), tuple(t for t in c.metadata.get("tags", [])))
            for c in nb.cells if INJECTED not in c.metadata.get("tags", [])]


def test_there_are_notebooks():
    assert SOURCES, "no notebooks/NN_*.py found"


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_py_and_ipynb_have_the_same_cells(py):
    ipynb = py.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is not there: run `make notebooks` and commit it"
    nb_py, nb_ipynb = read_py(py), nbformat.read(ipynb, as_version=4)
    assert not any(INJECTED in c.metadata.get("tags", []) for c in nb_py.cells), \
        f"{py.name} holds papermill's injected-parameters cell; remove it"
    a, b = cells(nb_py), cells(nb_ipynb)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == y, f"cell {i} differs between {py.name} and {ipynb.name}: run `make notebooks`"
    assert len(a) == len(b), f"{py.name} has {len(a)} cells, {ipynb.name} {len(b)}: run `make notebooks`"


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_notebook_conventions(py):
    from gdd.notebook import COLAB_CELL
    nb = read_py(py)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# "), \
        "the first cell is a markdown title"
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    scope: dict = {}
    exec(nb.cells[params[0]].source, scope)
    assert scope.get("profile") in ("smoke", "cpu", "gpu", "paper")
    assert isinstance(scope.get("device"), str) and scope.get("redo_before", 0) is None
    assert scope.get("compute") is False, "a `compute = False` parameter (True: compute what is not stored)"
    setup_cell = next(c for c in nb.cells[params[0] + 1:] if c.cell_type == "code")
    assert setup_cell.source.startswith(COLAB_CELL.rstrip()), \
        "the cell after the parameters is the set-up cell, gdd.notebook.COLAB_CELL, then setup(profile, device)"
    assert re.search(r"setup\(profile, device, redo_before.*compute=compute\)", setup_cell.source)
    train_loop = [c.source for c in nb.cells if c.cell_type == "code" and re.search(r"\.backward\(\)|optimizer?\.step\(", c.source)]
    assert not train_loop, "no training loop inside a notebook: call the package"


def test_only_parameters_that_differ_from_the_defaults_are_injected():
    sys.path.insert(0, str(ROOT / "scripts"))
    from execute_notebooks import injected, parameter_defaults
    nb = read_py(SOURCES[0])
    defaults = parameter_defaults(nb)
    assert defaults["profile"] == "cpu" and defaults["compute"] is False and defaults["redo_before"] is None
    got = injected({"profile": "cpu", "device": defaults["device"], "compute": True, "redo_before": None,
                    "repo_url": "u"}, defaults)
    assert got == {"compute": True, "repo_url": "u"}


@pytest.mark.parametrize("ipynb", [p.with_suffix(".ipynb") for p in SOURCES], ids=IDS)
def test_committed_notebook_does_not_override_the_parameters_cell(ipynb):
    """In Colab a reader edits the parameters cell; a committed injected cell that assigned
    profile, device or compute again would silently undo the edit."""
    nb = nbformat.read(ipynb, as_version=4)
    for c in nb.cells:
        if INJECTED in c.metadata.get("tags", []):
            names = set(re.findall(r"^(\w+)\s*=", c.source, flags=re.M))
            assert names <= {"repo_url"}, f"{ipynb.name}'s injected cell assigns {sorted(names)}: run `make notebooks`"


def test_repo_url_is_written_once():
    from gdd.notebook import repo_url
    url = repo_url()
    assert url.startswith("https://github.com/")
    try:
        files = subprocess.run(["git", "grep", "-l", "-F", url, "--", ".", ":!*.ipynb"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert files == ["_config.yml"], f"the repository URL is also written in {files}; read it from _config.yml"


# ---- nbval on the committed notebooks ----

COMMITTED = [p.with_suffix(".ipynb") for p in SOURCES if p.with_suffix(".ipynb").exists()]


@pytest.mark.parametrize("ipynb", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_nbval_committed_notebook(ipynb):
    """Re-execute against the stored results; outputs must match (strict, sanitised)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
           "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
           "--nbval-cell-timeout", "1200", "--rootdir", str(ROOT / "notebooks"), str(ipynb)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, (f"nbval: {ipynb.name} no longer reproduces its committed outputs; "
                                 f"if the change is intended, run `make notebooks`\n{out.stdout[-6000:]}{out.stderr[-2000:]}")


# ---- smoke execution of every notebook ----

@pytest.fixture(scope="session")
def smoke_dirs(tmp_path_factory):
    """One results/runs folder for the session: computed by the first notebook that needs it."""
    base = tmp_path_factory.mktemp("smoke")
    return {"results": base / "results", "runs": base / "runs", "out": base / "out"}


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_smoke_execution(py, smoke_dirs):
    env = {**os.environ, "GDD_RESULTS": str(smoke_dirs["results"]), "GDD_RUNS": str(smoke_dirs["runs"])}
    cmd = [sys.executable, str(ROOT / "scripts" / "execute_notebooks.py"), str(py), "--profile", "smoke",
           "--device", "cpu", "--out-dir", str(smoke_dirs["out"]), "--timeout", "600", "--single-run", "--compute"]
    start = time.time()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{py.name} fails with profile=smoke:\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}"
    executed = nbformat.read(smoke_dirs["out"] / py.with_suffix(".ipynb").name, as_version=4)
    injected = [c for c in executed.cells if INJECTED in c.metadata.get("tags", [])]
    assert injected and 'profile = "smoke"' in injected[0].source
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{py.name}: smoke execution {time.time() - start:.0f} s")
    assert not list(ROOT.glob("notebooks/*.ipynb.part"))


# ---- gdd.notebook helpers ----

def test_table_renders_html_and_text():
    from gdd.notebook import fmt, mean_std, table
    t = table([{"method": "gdd", "acc": 91.234, "n": 3}, {"method": "a|b", "acc": None}], digits=1)
    assert "91.2" in t.text() and "–" in t.text() and t.text().splitlines()[0].split() == ["method", "acc", "n"]
    assert t._repr_html_().startswith("<table") and "<td>91.2</td>" in t.html()
    assert "a\\|b" in t.markdown()
    assert fmt((1.234, 0.05)) == "1.2 ± 0.1" and mean_std({"result": {"mean": 50.0, "std": 1.26}}) == "50.0 ± 1.3"


def test_setup_and_resolve(tmp_path, monkeypatch):
    from gdd import notebook
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GDD_RESULTS", "rel-results")  # relative to where the kernel started
    for k in ("GDD_RUNS",):
        monkeypatch.delenv(k, raising=False)
    try:
        p = notebook.setup("smoke", "cpu", quiet=True)
        assert p.name == "smoke" and Path.cwd() == ROOT
        assert os.environ["GDD_RESULTS"] == str(tmp_path / "rel-results")
        assert os.environ["GDD_RUNS"] == str(ROOT / "runs")
    finally:
        os.chdir(tmp_path)
    png = tmp_path / "rel-results" / "smoke" / "images" / "x.png"
    png.parent.mkdir(parents=True)
    png.write_bytes(b"")
    assert notebook.resolve("/elsewhere/checkout/results/smoke/images/x.png") == png


def test_render_only_grid_shows_missing_results_as_not_yet_computed(tmp_path, monkeypatch):
    """setup(compute=False): a grid loads what is stored and gives None for the rest, never training."""
    from gdd import experiments, notebook
    monkeypatch.setenv("GDD_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GDD_RUNS", str(tmp_path / "runs"))
    p = notebook.setup("smoke", "cpu", None, quiet=True, compute=False)
    monkeypatch.setattr(experiments, "train_generator", lambda *a, **k: pytest.fail("render-only mode trained"))
    records = notebook.grid("table1", p)
    assert records and all(r is None for r in records.values())
    t = notebook.table([{"IPC 1": notebook.result_of(records[("mnist", "gdd", 1)])}])
    assert "not yet computed" in t.html() and "not yet computed" in t.csv()
    assert "not yet computed" in notebook.difference_text("gdd", None, "dim", None)
    notebook.setup("smoke", "cpu", None, quiet=True, compute=True)  # leave the module state as the others expect


def test_stored_grid_never_computes_even_when_computing_is_on(tmp_path, monkeypatch):
    """A summary page (the landing page's headline) shows another page's grid as far as it is
    stored: stored_grid loads, whatever setup's compute says."""
    from gdd import experiments, notebook
    monkeypatch.setenv("GDD_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GDD_RUNS", str(tmp_path / "runs"))
    p = notebook.setup("smoke", "cpu", None, quiet=True, compute=True)
    monkeypatch.setattr(experiments, "train_generator", lambda *a, **k: pytest.fail("stored_grid trained"))
    monkeypatch.setattr(experiments, "evaluate_images", lambda *a, **k: pytest.fail("stored_grid evaluated"))
    records = notebook.stored_grid("table1", p)
    assert records and all(r is None for r in records.values())
    assert notebook.present(records) == {}


def test_claims_use_the_table1_cells_stored_so_far(tmp_path, monkeypatch):
    """With only part of Table 1 stored, the gdd − dim claims read the cells that are, and say how
    many of all they cover; a claim with none of its cells stored reads as not computed."""
    from gdd import experiments, notebook
    monkeypatch.setenv("GDD_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GDD_RUNS", str(tmp_path / "runs"))
    p = notebook.setup("smoke", "cpu", None, quiet=True, compute=True)
    for method in ("gdd", "dim"):
        experiments.method_result(p, "mnist", method, 1)
    notebook.setup("smoke", "cpu", None, quiet=True, compute=False)
    try:
        checks = {c.claim.key: c.ours() for c in notebook.paper_checks(p)}
        ev = checks["gdd_over_dim"]
        assert ev is not None and len(ev.value) == 1
        assert "MNIST, IPC 1:" in ev.text and "1 of 2 cells stored so far" in ev.text
        assert checks["table1_ordering"] is None   # no cgan cell stored
    finally:
        notebook.setup("smoke", "cpu", None, quiet=True, compute=True)
