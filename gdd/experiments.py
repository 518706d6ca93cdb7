"""The paper's experiments as cached functions: each returns a stored record when the same
experiment (profile + config) already ran, and otherwise runs it and stores it under
``results/<profile>/``. Notebooks and ``gdd reproduce`` call these; nothing else trains."""
from __future__ import annotations

import torch

from gdd import data
from gdd.evaluate import EvalConfig, evaluate_set
from gdd.profiles import Profile, get_profile
from gdd.results import cached_run


def _profile(profile: Profile | str) -> Profile:
    return profile if isinstance(profile, Profile) else get_profile(profile)


def test_split(dataset: str, profile: Profile) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.load(dataset, train=False)
    n = profile.eval_test_size
    return (x, y) if n is None else (x[:n], y[:n])


def eval_config(profile: Profile, ipc: int, model: str = "convnet3", seed: int = 0) -> EvalConfig:
    return EvalConfig(model=model, epochs=profile.epochs_for(ipc), runs=profile.eval_runs, seed=seed)


def evaluate_images(images, labels, dataset: str, profile: Profile, ipc: int, model: str = "convnet3",
                    device="cpu", seed: int = 0) -> dict:
    xt, yt = test_split(dataset, profile)
    return evaluate_set(images, labels, xt, yt, dataset, eval_config(profile, ipc, model, seed), device)


def random_baseline(profile: Profile | str, dataset: str, ipc: int, model: str = "convnet3",
                    seed: int = 0, device="cpu", force: bool = False) -> dict:
    """Class-balanced random real subset at ``ipc``, trained on with the evaluation protocol."""
    profile = _profile(profile)
    cfg = eval_config(profile, ipc, model, seed)
    config = {"dataset": dataset, "method": "random", "ipc": ipc, "eval": cfg,
              "test_size": profile.eval_test_size}

    def run():
        x, y = data.load(dataset, train=True)
        idx = data.class_balanced_subset(y, ipc, data.get_spec(dataset).num_classes,
                                         torch.Generator().manual_seed(seed))
        return evaluate_images(x[idx], y[idx], dataset, profile, ipc, model, device, seed)

    return cached_run(f"{dataset}-random-ipc{ipc}-{model}", config, run, profile.name, force, device)
