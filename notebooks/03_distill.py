# %% [markdown]
# # Stage 2: distillation with global and local matching
#
# The stage-1 generator is tuned further with
#
# $$
# L = L_{cGAN} + \lambda_g L_{global} + \lambda_l L_{local}
# $$
#
# Each epoch draws a model from the pool (ConvNet-3, ResNet-10, ResNet-18), initialises it
# fresh and trains it on real batches while the generator is tuned. A real batch and a
# synthetic batch of the same labels go through the same augmentation draw and the same pool
# model: $L_{global}$ compares their log-softmax outputs (what the model *decides*),
# $L_{local}$ compares their mean feature maps at a middle layer (what the model *sees*).
# Three methods share this one code path: `cgan` ($\lambda_g = \lambda_l = 0$), `dim`
# ($\lambda_l = 0$) and `gdd` (both).

# %% tags=["parameters"]
profile = "cpu"
device = "cpu"
redo_before = None  # a POSIX time (e.g. time.time()): recompute results written before it

# %%
import sys

if "google.colab" in sys.modules:  # Colab: install gdd from the repository
    import os, subprocess  # repo_url: injected by papermill, from _config.yml
    src = "/content/gdd"
    if not os.path.isdir(src):
        subprocess.check_call(["git", "clone", "--depth=1", repo_url, src])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-qe", src])
    sys.path.insert(0, src)
from gdd.notebook import setup

p = setup(profile, device)

# %%
import matplotlib.pyplot as plt

from gdd import grids
figures = grids.generators(p, device, redo_before)
runs = {(d, m): figures[("generator", d, m)] for d in p.datasets for m in ("cgan", "dim", "gdd")}
for (d, m), r in runs.items():
    cfg = r["config"]["generator"]
    lam_g, lam_l = {"cgan": (0, 0), "dim": (cfg["lambda_global"], 0)}.get(m, (cfg["lambda_global"], cfg["lambda_local"]))
    print(f"{d:<14} {m:<5} lambda_g={lam_g:<5} lambda_l={lam_l:<6} {r['result']['steps']} steps, "
          f"{r['result']['wall_time_s'] / 60:.1f} min")

# %% [markdown]
# ## What the matching terms measure during tuning
# `dim` and `gdd` log both distances (only the weighted ones reach the generator). The
# pool model is re-drawn and re-initialised every epoch, so the distances jump at epoch
# boundaries: a fresh model sees real and synthetic images alike, and differences grow as
# it learns the real data.

# %%
fig, axes = plt.subplots(len(p.datasets), 2, figsize=(11, 3.2 * len(p.datasets)), squeeze=False)
for row, d in zip(axes, p.datasets):
    for m in ("dim", "gdd"):
        c = runs[(d, m)]["result"]["curves"]
        row[0].plot(c["step"], c["l_global"], label=m)
        row[1].plot(c["step"], c["l_local"], label=m)
    row[0].set(title=f"{d}: global (logit) distance", xlabel="step")
    row[1].set(title=f"{d}: local (feature) distance", xlabel="step")
    row[0].legend(), row[1].legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Samples after stage 2

# %%
from gdd.notebook import show_png

for (d, m), r in runs.items():
    show_png(r["result"]["grid_png"], title=f"{d}: {m}")

# %% [markdown]
# ## How hard does each term pull on the generator?
# The norm of each term's gradient with respect to the stage-1 generator's parameters, for
# each pool architecture after a short training on real data, and the ratio of the weighted
# matching gradients ($\lambda_g \|\nabla L_{global}\|$, $\lambda_l \|\nabla L_{local}\|$) to the
# adversarial one. Ratios far below 1 mean the matching terms can only steer the generator
# over many steps (DiM tunes for 100 epochs); a short budget leaves it close to the `cgan` run.

# %%
shares = {d: figures[("gradients", d)]["result"] for d in p.datasets}
import pandas as pd

pd.DataFrame([{"dataset": d, "pool model": m, **{k: f"{v:.2e}" for k, v in s.items()}}
              for d, res in shares.items() for m, s in res.items()]).set_index(["dataset", "pool model"])
