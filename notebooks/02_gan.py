# %% [markdown]
# # Stage 1: the conditional GAN
#
# The generator $G(z, y)$ is trained on the real training set as a label-conditioned
# WGAN-GP with an auxiliary classifier (AC-GAN): the critic scores real against generated
# images and classifies both; the generator tries to raise its score and to be classified
# as the intended class. Architecture and losses: {doc}`../book/method`.
# This notebook trains (or loads) the stage-1 run of every dataset of the profile and shows
# its losses and samples.

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
records = {d: figures[("generator", d, "gan")] for d in p.datasets}
for d, r in records.items():
    cfg = r["config"]["generator"]
    print(f"{d}: width {cfg['width']}, noise {cfg['noise']}, {r['result']['steps']} steps of batch {cfg['batch']}, "
          f"{r['result']['wall_time_s'] / 60:.1f} min on {r['provenance']['device']}")

# %% [markdown]
# ## Losses
# The Wasserstein estimate (critic score of real minus generated) shrinks as the generator
# improves; the class terms fall as generated images become recognisable.

# %%
fig, axes = plt.subplots(1, len(records), figsize=(6 * len(records), 3.5), squeeze=False)
for ax, (d, r) in zip(axes[0], records.items()):
    c = r["result"]["curves"]
    for key in ("wasserstein", "g_cls", "g_adv"):
        ax.plot(c["step"], c[key], label=key)
    ax.set(title=d, xlabel="generator step")
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Samples after stage 1
# Ten fixed noise vectors per class (one row per class).

# %%
from gdd.notebook import show_png

for d, r in records.items():
    show_png(r["result"]["grid_png"], title=f"{d}: stage-1 generator")
