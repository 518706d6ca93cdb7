# %% [markdown]
# # Overview: what is reproduced here, and how
#
# *Generative Dataset Distillation: Balancing Global Structure and Local Details*
# {cite}`li2024gdd` stores what a training set teaches in a **conditional generator**
# instead of in a fixed handful of images. Any number of images per class (IPC) is then
# sampled at deployment time; a new budget, or a new downstream architecture, needs no new
# optimisation. The method extends DiM {cite}`wang2023dim` with a second matching term.
#
# Three stages, each a function of the `gdd` package (notebooks only call them):
#
# 1. **Conditional GAN** on the real training set, the label as condition
#    (`gdd.experiments.generator_record(..., "gan")`).
# 2. **Distillation**: the generator is tuned with
#    $L = L_{cGAN} + \lambda_g L_{global} + \lambda_l L_{local}$, where a freshly initialised
#    model drawn from a pool compares real and generated batches by their logits (global
#    structure) and by their intermediate features (local details). The equations are in
#    {doc}`../book/method`.
# 3. **Deployment**: sample $x = G(z, y)$ at any IPC, train a fresh network on the samples
#    only, test it on the real test set (`gdd.experiments.method_result`).
#
# Every experiment is cached: its result is a JSON file under `results/<profile>/`, with the
# full configuration and provenance (device, commit, wall time, versions). Executing a
# notebook again with the same parameters loads the stored results; `redo_before=time.time()` recomputes.

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

# %% [markdown]
# ## Compute profiles
#
# One parameter, `profile`, sets every budget; the profiles live in `gdd/profiles.py`.
# `smoke` only checks that every code path runs (its numbers mean nothing); `cpu` is what
# this book shows when no GPU was available; `gpu` fits about 25 minutes of one H100;
# `paper` uses the papers' budgets (DiM's GAN and matching schedules, 1000 evaluation epochs,
# 5 networks).

# %%
from gdd import configs
from gdd.notebook import table
from gdd.profiles import PROFILES


def budget(q):
    """The settings that differ between profiles, read from the configs the profile builds."""
    d = q.datasets[0]
    gan, dist, ev = configs.gan_config(q, d), configs.distill_config(q, d, "gdd"), configs.eval_config(q, q.ipcs[0])
    return {
        "datasets": ", ".join(q.datasets),
        "IPC": ", ".join(map(str, q.ipcs)),
        "eval epochs (per IPC)": ", ".join(f"{configs.epochs_for(q, i)}" for i in q.ipcs),
        "eval networks": ev.runs,
        "test images": q.eval_test_size or "all",
        "GAN width / noise": f"{gan.width} / {gan.noise}",
        "GAN epochs x steps": f"{gan.epochs} x {gan.steps_per_epoch or 'full pass'}",
        "distill epochs x steps": f"{dist.epochs} x {dist.steps_per_epoch or 'full pass'}",
        "distill lr": f"{dist.lr_g:g}",
        "lambda_g / lambda_l": f"{dist.lambda_global:g} / {dist.lambda_local:g}",
        "pool (width)": f"{', '.join(dist.pool)} ({dist.pool_width or 'default'})",
        "Table 2 / Fig. 3 dataset": q.focus_dataset,
        "lambda_l sweep": ", ".join(f"{x:g}" for x in q.ablation_lambdas),
    }


cols = {name: budget(q) for name, q in PROFILES.items()}
table([{"setting": k, **{name: cols[name][k] for name in PROFILES}} for k in cols["smoke"]])

# %% [markdown]
# ## The notebooks
#
# | notebook | what it shows |
# |---|---|
# | `01_data` | the datasets, and the floor every method must beat: a random real subset |
# | `02_gan` | stage 1: the conditional GAN, its losses and samples |
# | `03_distill` | stage 2: tuning with global and local matching |
# | `04_table1` | Table 1: accuracy at IPC 1, 10, 50 |
# | `05_cross_arch` | Table 2: other architectures at IPC 10 |
# | `06_ablation` | Figure 3: accuracy against $\lambda_l$ |
# | `07_images` | Figure 2: distilled images |
# | `08_redeploy` | the cost of a new IPC budget |
# | `3x_*` | small-scale data-free knowledge distillation (SSD-KD) |
#
# ## Running it
#
# ```bash
# make book                      # execute every notebook against results/, build _build/html
# make reproduce PROFILE=cpu     # recompute every cpu result (resumable), then re-render
# make test                      # unit tests, notebook checks (nbval, smoke runs)
# ```
#
# A single notebook with other parameters, outside the book:
#
# ```bash
# jupytext --to ipynb -o - notebooks/01_data.py | papermill - out.ipynb -p profile smoke
# ```
#
# In Colab, the launch button (the rocket at the top of each notebook page) opens the
# committed notebook; its first code cell installs the package from the repository, and
# torchvision downloads the data.

# %% [markdown]
# The profile this notebook was executed with:

# %%
from gdd.configs import eval_config

print(f"profile {p.name}: datasets {', '.join(p.datasets)}; IPC {', '.join(map(str, p.ipcs))}; "
      f"{eval_config(p, p.ipcs[0]).runs} evaluation networks per result")
