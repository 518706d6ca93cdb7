import json
import os
import subprocess
import sys

import torch

from gdd import data
from gdd.cli import main
from gdd.imageset import save_image_set


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


def test_data_check_lists_datasets(tmp_path):
    r = subprocess.run([sys.executable, "-m", "gdd", "data", "check"], capture_output=True, text=True,
                       env={**os.environ, "GDD_DATA": str(tmp_path)})
    assert r.returncode == 0  # nothing fetched is nothing corrupt; `gdd data check mnist` would fail
    assert "mnist" in r.stdout and "fashion_mnist" in r.stdout and "cifar10" in r.stdout
    assert "not fetched" in r.stdout


def test_evaluate_a_generator_with_dims_protocol(tmp_path, capsys):
    from gdd.gan import Generator
    G = Generator(1, 10, width=8, noise=16)
    torch.save({"state_dict": G.state_dict(),
                "meta": {"dataset": "mnist", "channels": 1, "num_classes": 10, "width": 8, "noise": 16}},
               tmp_path / "gen.pt")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--dataset", "mnist", "--source", str(tmp_path / "gen.pt"), "--protocol", "dim",
                 "--ipc", "2", "--runs", "2", "--epochs", "3", "--out", str(out), "--device", "cpu"]) == 0
    rec = json.loads(out.read_text())
    r = rec["result"]
    assert rec["config"]["eval"]["protocol"] == "dim" and rec["config"]["source"] == "generator"
    assert len(rec["config"]["inputs"]["generator_sha256"]) == 64
    assert r["samples_per_epoch"] == 20 and all(b >= a for a, b in zip(r["accuracies"], r["best"]))
    assert "best of the checks" in capsys.readouterr().out


def test_distill_images_dm_resumes_and_coresets_select_real_images(tmp_path, monkeypatch, capsys):
    from gdd.imageset import load_image_set
    monkeypatch.setenv("GDD_RUNS", str(tmp_path / "runs"))
    common = ["--dataset", "mnist", "--ipc", "2", "--profile", "smoke", "--device", "cpu"]
    assert main(["distill-images", "--method", "dm", "--out", str(tmp_path / "dm"), "--stop-after", "1", *common]) == 0
    assert "stopped at step 1/2" in capsys.readouterr().out
    assert main(["distill-images", "--method", "dm", "--out", str(tmp_path / "dm"), *common]) == 0
    images, labels, meta = load_image_set(tmp_path / "dm" / "images.pt", "mnist")
    assert meta["method"] == "dm" and labels.bincount().tolist() == [2] * 10
    assert main(["distill-images", "--method", "k_center", "--out", str(tmp_path / "kc"), *common]) == 0
    chosen, labels, meta = load_image_set(tmp_path / "kc" / "images.pt", "mnist")
    x, _ = data.load("mnist", train=True)
    assert meta["method"] == "k_center" and all((x == im).flatten(1).all(1).any() for im in chosen)  # real images
