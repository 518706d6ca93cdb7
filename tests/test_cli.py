import json
import subprocess
import sys

import torch

from gdd.cli import main
from gdd.files import save_image_set


def test_evaluate_random_writes_record_with_provenance(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["evaluate", "--dataset", "mnist", "--source", "random", "--ipc", "1", "--runs", "1",
            "--epochs", "2", "--out", str(out), "--device", "cpu"]
    assert main(args) == 0
    rec = json.loads(out.read_text())
    assert rec["config"]["ipc"] == 1 and len(rec["result"]["accuracies"]) == 1
    assert {"device", "commit", "started", "wall_time_s", "versions", "profile"} <= set(rec["provenance"])
    mtime = out.stat().st_mtime_ns
    main(args)  # a finished experiment is reused, not recomputed
    assert out.stat().st_mtime_ns == mtime


def test_evaluate_image_set_file(tmp_path):
    path = tmp_path / "set.pt"
    save_image_set(torch.rand(20, 1, 32, 32), torch.arange(20) % 10, {"dataset": "mnist"}, path)
    assert main(["evaluate", "--dataset", "mnist", "--source", str(path), "--runs", "1", "--epochs", "1",
                 "--out", str(tmp_path / "r.json"), "--device", "cpu"]) == 0


def _gdd(*args):
    return subprocess.run([sys.executable, "-m", "gdd", *args], capture_output=True, text=True)


def test_cli_errors_are_clear(tmp_path):
    r = _gdd("evaluate", "--dataset", "svhn", "--source", "random", "--ipc", "1", "--out", "x.json")
    assert r.returncode != 0 and "invalid choice: 'svhn'" in r.stderr
    r = _gdd("evaluate", "--dataset", "mnist", "--source", "random", "--ipc", "0", "--out", "x.json")
    assert r.returncode != 0 and "must be a positive integer, got 0" in r.stderr
    r = _gdd("evaluate", "--dataset", "mnist", "--source", "random", "--ipc", "1", "--model", "lenet", "--out", "x.json")
    assert r.returncode != 0 and "unknown model 'lenet'" in r.stderr
    r = _gdd("evaluate", "--dataset", "mnist", "--source", str(tmp_path / "none.pt"), "--out", "x.json")
    assert r.returncode != 0 and "does not exist" in r.stderr


def test_data_check_lists_datasets():
    r = _gdd("data", "check")
    assert r.returncode == 0
    assert "mnist" in r.stdout and "fashion_mnist" in r.stdout and "cifar10" in r.stdout
