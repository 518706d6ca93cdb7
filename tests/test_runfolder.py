"""The run-folder protocol, the results store and the package's layering.

- the results store: reuse, recompute of stale records, and provenance written only by the run
  that computed the numbers (``results.cached_run``);
- forced data-free results are really recomputed (a finished run folder is not reused);
- a run folder: one process at a time, truncated files named with the fix, Ctrl-C says where
  the rerun resumes;
- imports go one way, from the command line down to the file helpers, with no circle.
"""
import ast
import json
import threading
import time
from pathlib import Path

import pytest
import torch

from gdd import results, runfolder
from gdd.files import BadFile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("GDD_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("GDD_RUNS", str(tmp_path / "runs"))
    return tmp_path


# ---- the results store ----

def test_a_stored_record_is_reused_and_a_stale_one_recomputed(store):
    calls = []

    def fn():
        calls.append(1)
        return {"value": len(calls)}

    first = results.cached_run("x", {"a": 1}, fn, "test")
    assert results.cached_run("x", {"a": 1}, fn, "test")["result"] == {"value": 1} and len(calls) == 1
    assert results.cached_run("x", {"a": 2}, fn, "test")["result"] == {"value": 2}   # another config
    path = results.result_path("x", {"a": 1}, "test")
    written = path.stat().st_mtime
    assert results.cached_run("x", {"a": 1}, fn, "test", redo_before=written - 1)["result"] == {"value": 1}
    assert results.cached_run("x", {"a": 1}, fn, "test", redo_before=written + 1)["result"] == {"value": 3}
    assert results.cached_run("x", {"a": 1}, fn, "test", redo_before=results.redo_time(True))["result"] == {"value": 4}
    assert first["provenance"]["profile"] == "test" and "commit" in first["provenance"]


def test_a_record_made_from_a_run_carries_the_runs_provenance_not_ours(store):
    theirs = {"device": "a GPU elsewhere", "commit": "0123abc", "host": "elsewhere", "started": "2020-01-01"}
    record = results.cached_run("x", {"a": 1}, lambda: {"accuracy": 50.0, "wall_time_s": 12.5,
                                                       "provenance": theirs}, "test")
    assert record["provenance"] == {"profile": "test", **theirs, "wall_time_s": 12.5}
    assert "provenance" not in record["result"]
    stored = json.loads(results.result_path("x", {"a": 1}, "test").read_text())
    assert stored["provenance"]["commit"] == "0123abc"


def test_forced_datafree_result_is_recomputed_not_read_from_the_old_run(store):
    """Before the run-folder protocol, ``force`` rewrote the record around the old run's numbers."""
    from gdd import configs
    from gdd.datafree.experiments import datafree_result
    first = datafree_result("smoke", "mnist", "adv")
    folder = configs.datafree_folder("smoke", "mnist-adv", configs.datafree_config("smoke", "mnist", "adv"))
    summary = json.loads((folder / "summary.json").read_text())
    planted = {**summary, "test_accuracy": 123.0, "provenance": {**summary["provenance"], "commit": "elsewhere"}}
    (folder / "summary.json").write_text(json.dumps(planted))        # numbers trained earlier, elsewhere
    assert datafree_result("smoke", "mnist", "adv")["result"]["test_accuracy"] == first["result"]["test_accuracy"]
    forced = datafree_result("smoke", "mnist", "adv", redo_before=results.redo_time(True))
    assert forced["result"]["test_accuracy"] == first["result"]["test_accuracy"]  # recomputed: same seed, same number
    assert forced["provenance"]["commit"] != "elsewhere"
    assert json.loads((folder / "summary.json").read_text())["test_accuracy"] != 123.0


# ---- run folders ----

def test_a_second_process_waits_for_the_folder_lock(tmp_path):
    import fcntl
    tmp_path.mkdir(exist_ok=True)
    held = open(tmp_path / ".lock", "w")
    fcntl.flock(held, fcntl.LOCK_EX)
    entered = []

    def second():
        with runfolder.open_run(tmp_path, {"a": 1}, progress=False):
            entered.append(time.time())

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    assert not entered                      # still waiting
    released = time.time()
    fcntl.flock(held, fcntl.LOCK_UN)
    t.join(5)
    assert entered and entered[0] >= released


def test_truncated_files_are_named_with_the_fix(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut off")
    with runfolder.open_run(tmp_path, {"a": 1}, progress=False) as run:
        with pytest.raises(BadFile, match=r"checkpoint.pt .*delete .*checkpoint.pt to restart"):
            run.resume()
    (tmp_path / "summary.json").write_text('{"finished": tr')
    with pytest.raises(BadFile, match=r"summary.json is unreadable .*delete it"):
        with runfolder.open_run(tmp_path, {"a": 1}, progress=False):
            pass


def test_ctrl_c_says_where_the_rerun_resumes(tmp_path):
    with pytest.raises(runfolder.Interrupted, match=r"interrupted at step 7 .* last checkpoint is step 5"):
        with runfolder.open_run(tmp_path, {"a": 1}, progress=False) as run:
            run.steps(10, "test")
            run.checkpoint(5)
            run.log(7, loss=torch.tensor(1.0))
            raise KeyboardInterrupt


def test_a_stale_folder_is_emptied_and_a_fresh_one_kept(tmp_path):
    with runfolder.open_run(tmp_path, {"a": 1}, progress=False) as run:
        run.steps(4, "test")
        run.checkpoint(2)
    written = runfolder.last_write(tmp_path)
    with runfolder.open_run(tmp_path, {"a": 1}, redo_before=written - 1, progress=False) as run:
        assert run.resume()["step"] == 2
    with runfolder.open_run(tmp_path, {"a": 1}, redo_before=written + 1, progress=False) as run:
        assert run.resume() is None and not (tmp_path / "checkpoint.pt").exists()


# ---- layering ----

# Each module may import modules of its own layer or lower ones, never higher ones.
LAYERS = [
    ["__init__", "datafree.__init__", "argtypes", "files", "published"],
    ["results", "data"],
    ["models", "augment", "gan", "losses", "runfolder", "imageset"],
    ["pool", "evaluate", "datafree.synthesis", "datafree.buffer", "dm", "coreset"],
    ["distill", "deploy", "datafree.teacher", "datafree.train", "profiles"],
    ["configs"],
    ["experiments", "datafree.experiments", "bench"],
    ["grids", "notebook"],
    ["reproduce", "datafree.cli", "cli", "__main__"],
]


def _imports(path: Path) -> set[str]:
    """gdd modules (dotted, without ``gdd.``) imported anywhere in ``path``, function-level
    imports included; ``from gdd import data`` counts as ``data``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gdd":
            base = node.module[4:]
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                out.add(sub if sub in NAMES else base or "__init__")
        elif isinstance(node, ast.Import):
            out |= {a.name[4:] for a in node.names if a.name.startswith("gdd.")}
    return out


NAMES = {str(p.relative_to(ROOT / "gdd").with_suffix("")).replace("/", ".") for p in (ROOT / "gdd").rglob("*.py")}


def test_every_module_has_a_layer_and_imports_go_downward_only():
    layer = {m: i for i, names in enumerate(LAYERS) for m in names}
    names = NAMES
    assert names == set(layer), f"modules without a layer or gone: {names ^ set(layer)}"
    upward = []
    for m in names:
        for dep in _imports(ROOT / "gdd" / (m.replace(".", "/") + ".py")):
            if dep == "datafree":
                dep = "datafree.__init__"
            if layer[dep] > layer[m]:
                upward.append(f"{m} imports {dep}")
    assert not upward, upward


def test_no_import_circle():
    graph = {m: {("datafree.__init__" if d == "datafree" else d) for d in _imports(ROOT / "gdd" / (m.replace(".", "/") + ".py"))}
             - {m} for m in NAMES}
    done, path = set(), []

    def visit(m):
        if m in path:
            raise AssertionError(f"import circle: {' -> '.join(path[path.index(m):] + [m])}")
        if m in done:
            return
        path.append(m)
        for dep in sorted(graph[m]):
            visit(dep)
        path.pop()
        done.add(m)

    for m in sorted(NAMES):
        visit(m)
