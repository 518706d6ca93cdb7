"""Packaging: requirements.lock (exact pins), pyproject.toml (ranges) and environment.yml agree, and
the GPU stage script runs from a bare copy of the tree, as on the GPU machine."""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def test_pyproject_ranges_admit_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    lock = _lock()
    for text in reqs:
        req = Requirement(text)
        name = req.name.lower()
        assert name in lock, f"{name} is a dependency but not pinned in requirements.lock"
        assert req.specifier.contains(lock[name], prereleases=True), f"{name}=={lock[name]} not in {req.specifier}"
    assert lock["torch"] == "2.14.1" and lock["torchvision"] == "0.29.1"


def test_environment_yml_pins_equal_the_lock():
    lock = _lock()
    pins = re.findall(r"^\s+- ([A-Za-z0-9_.-]+)==(\S+)$", (ROOT / "environment.yml").read_text(), re.M)
    assert len(pins) >= 10
    for name, version in pins:
        assert lock[name.lower()] == version, f"environment.yml pins {name}=={version}, lock has {lock[name.lower()]}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    direct = {Requirement(r).name.lower() for r in project["dependencies"]}
    assert direct <= {n.lower() for n, _ in pins}


def test_gpu_stage_script_rehearsed_on_the_cpu(tmp_path):
    """scripts/gpu_stage.sh as the GPU machine runs it: a bare copy of the tree, gdd on
    PYTHONPATH (not installed), one stage through ``gdd reproduce``, results packed into $OUT.
    Rehearsed with the smoke profile on the CPU."""
    tree, bin_dir, out = tmp_path / "tree", tmp_path / "bin", tmp_path / "out"
    shutil.copytree(ROOT / "gdd", tree / "gdd", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "scripts", tree / "scripts")
    (tree / "data").symlink_to(Path(os.environ["GDD_DATA"]).resolve())
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "OUT": str(out),
           "GDD_STAGE_PROFILE": "smoke", "GDD_STAGE_DEVICE": "cpu", "GDD_RUNS": str(tmp_path / "runs")}
    run = subprocess.run(["bash", "scripts/gpu_stage.sh", "table1", "mnist"], cwd=tree, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "wall time:" in run.stdout and "stopped at its time budget" not in run.stdout
    with tarfile.open(out / "results.tar.gz") as tar:
        names = tar.getnames()
    for method in ("random", "cgan", "dim", "gdd"):
        assert any(n.startswith(f"results/smoke/mnist-{method}-ipc2") and n.endswith(".json") for n in names), names
