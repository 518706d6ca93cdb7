"""requirements.lock (exact pins), pyproject.toml (ranges) and environment.yml must agree."""
import re
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
