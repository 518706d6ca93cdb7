# %% [markdown]
# # Figure 2: distilled images
#
# Ten images per class sampled from each dataset's `gdd` generator (one row per class),
# beside the `cgan` generator's samples for the same noise.

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
from gdd import grids
from gdd.notebook import show_png
figures = grids.generators(p, device, redo_before)

for d in p.datasets:
    for m in ("cgan", "gdd"):
        r = figures[("grid", d, m)]
        show_png(r["result"]["png"], title=f"{d}: {m}, 10 images per class")
