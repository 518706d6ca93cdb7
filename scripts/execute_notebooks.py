#!/usr/bin/env python
"""Execute the notebooks: for each ``notebooks/NN_*.py`` (jupytext percent format), convert it
to a notebook in memory, run it with papermill (parameters ``profile``, ``device``, ``redo_before``,
plus ``repo_url`` from ``_config.yml`` for the Colab install cell) and write
``NN_*.ipynb`` with its outputs. The ``.py`` files are only read, never written, so papermill's
injected-parameters cell never reaches them. Only parameters that differ from the notebook's
own defaults are injected (``injected``): a notebook rendered with its defaults keeps one
injected cell, ``repo_url``, and a reader's edits of the parameters cell in Colab stand.

With the default parameters every result is loaded from ``results/<profile>/``: rendering
never trains, and a result that is not stored is shown as not yet computed (``--compute``
computes it). ``--force`` recomputes every result written before the reproduction started:
the notebooks get ``redo_before = <start time>`` (see ``gdd.results.is_stale``), the start time is
kept in ``results/<profile>/.reproduce-notebooks`` (``--mark-start`` writes it, so that
``make reproduce`` can mark it before ``gdd reproduce --force``) and removed once every
notebook has run, so an interrupted reproduction resumes. Whatever the parameters, the
``.ipynb`` written is that of a run with ``redo_before = None`` against the stored results (a run
that computed is executed again), which is what nbval re-executes and compares.

Examples::

    python scripts/execute_notebooks.py                       # all notebooks, profile cpu
    python scripts/execute_notebooks.py notebooks/01_data.py --profile smoke --out-dir /tmp/nb
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
# what papermill and jupytext write that changes at every run or would pair the .ipynb with its
# .py (an injected-parameters cell must never be synced back into the .py)
VOLATILE_CELL_METADATA = ("papermill", "execution", "ExecuteTime")
VOLATILE_NB_METADATA = ("papermill", "jupytext", "widgets")


def notebook_sources(paths: list[str] | None = None) -> list[Path]:
    if paths:
        return [Path(p).resolve() for p in paths]
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def clean(nb):
    """Drop run-specific metadata so that a re-execution with the same outputs is no git change,
    and hide papermill's injected-parameters cell in the book (it stays in the notebook)."""
    for key in VOLATILE_NB_METADATA:
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        # ids from position and source, not random: re-executing gives no spurious git diff
        cell.id = hashlib.sha1(f"{i}:{cell.source}".encode()).hexdigest()[:8]
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("papermill", None)
    return nb


def computed(nb) -> bool:
    """Whether a run computed a result (``cached_run`` says so on stderr) instead of loading it."""
    return any(out.get("name") == "stderr" and "result written to" in out.get("text", "")
               for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []))


def parameter_defaults(nb) -> dict:
    """The values the notebook's ``parameters`` cell assigns (literals only)."""
    import ast
    cell = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if cell is None:
        return {}
    out = {}
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def injected(parameters: dict, defaults: dict) -> dict:
    """The parameters papermill must inject: those that differ from the notebook's defaults
    (and any the notebook does not define, such as ``repo_url``). A committed notebook rendered
    with its defaults thus has an injected cell holding only ``repo_url``, so a reader who edits
    the parameters cell in Colab is not overridden by a cell below it."""
    return {k: v for k, v in parameters.items() if k not in defaults or defaults[k] != v}


def marker(profile: str) -> Path:
    root = Path(os.environ.get("GDD_RESULTS", ROOT / "results"))
    return root / profile / ".reproduce-notebooks"


def mark_start(profile: str) -> float:
    """The start time of the reproduction of ``profile`` in progress (marked now if none is)."""
    path = marker(profile)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(repr(time.time()))
    return float(path.read_text())


def execute(py: Path, out: Path, parameters: dict, timeout: int | None = None, log=print,
            rerun: bool = True) -> float:
    """Run ``py`` with ``parameters`` into ``out`` (written only if the run succeeds). A run with
    ``redo_before``, or one that computed results, is executed once more with ``redo_before = None``, so
    that the written notebook shows what a re-execution against the stored results shows (what
    nbval compares; no progress bars in the book)."""
    import jupytext
    import nbformat
    import papermill as pm

    nb = jupytext.read(py, fmt="py:percent")
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / py.with_suffix(".ipynb").name, Path(tmp) / "out.ipynb"
        nbformat.write(nb, src)
        try:
            defaults = parameter_defaults(nb)
            run = lambda params: pm.execute_notebook(
                str(src), str(dst), parameters=injected(params, defaults), kernel_name="python3", cwd=str(ROOT),
                progress_bar=False, execution_timeout=timeout, log_output=False, report_mode=False)
            first = run(parameters)
            if rerun and (computed(first) or parameters.get("redo_before")):
                log(f"  computed in {time.time() - start:.0f} s; executing again to load the stored results")
                run({**parameters, "redo_before": None, "compute": False})
        except Exception:
            failed = ROOT / "_build" / "failed" / out.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                failed.write_bytes(dst.read_bytes())
                log(f"  FAILED; the partial notebook with the error is in {failed}")
            raise
        result = clean(nbformat.read(dst, as_version=4))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".ipynb.part")
    nbformat.write(result, tmp_out)
    os.replace(tmp_out, out)
    return time.time() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks/NN_*.py files (default: all)")
    ap.add_argument("--profile", default="cpu", choices=["smoke", "cpu", "gpu", "paper"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--force", action="store_true",
                    help="recompute the results written before this reproduction started (default: load them)")
    ap.add_argument("--compute", action="store_true",
                    help="compute the results that are not stored (default: show them as not yet computed)")
    ap.add_argument("--mark-start", action="store_true", help="only mark the start of a reproduction")
    ap.add_argument("--out-dir", type=Path, help="where the .ipynb go (default: beside each .py)")
    ap.add_argument("--timeout", type=int, help="seconds per cell")
    ap.add_argument("--single-run", action="store_true",
                    help="keep the first run's outputs even if it computed (tests; not for committed notebooks)")
    ap.add_argument("--keep-going", action="store_true", help="execute the others when one fails")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from gdd.notebook import repo_url
    if args.mark_start:
        print(f"[execute] reproduction of profile {args.profile} started at {mark_start(args.profile):.0f} "
              f"({marker(args.profile)})")
        return 0
    redo_before = mark_start(args.profile) if args.force else None
    params = {"profile": args.profile, "device": args.device, "redo_before": redo_before,
              "compute": args.compute or args.force, "repo_url": repo_url()}
    sources = notebook_sources(args.notebooks)
    if not sources:
        print("no notebooks found", file=sys.stderr)
        return 1
    done, failed, total = [], [], time.time()
    for py in sources:
        out = (args.out_dir.resolve() if args.out_dir else py.parent) / py.with_suffix(".ipynb").name
        print(f"[execute] {py.relative_to(ROOT) if py.is_relative_to(ROOT) else py} "
              f"(profile={args.profile}, device={args.device}, force={args.force})", flush=True)
        try:
            secs = execute(py, out, copy.deepcopy(params), args.timeout, rerun=not args.single_run)
            print(f"  -> {out} in {secs:.0f} s", flush=True)
            done.append(py.name)
        except Exception as err:  # papermill's PapermillExecutionError names the cell and the error
            failed.append(py.name)
            print(f"  error: {str(err).strip()[:2000]}", file=sys.stderr, flush=True)
            if not args.keep_going:
                break
    if args.force and not failed and not args.notebooks:
        marker(args.profile).unlink(missing_ok=True)
    print(f"[execute] {len(done)}/{len(sources)} notebooks in {time.time() - total:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
