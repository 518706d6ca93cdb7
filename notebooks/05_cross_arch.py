# %% [markdown]
# # Table 2: cross-architecture generalisation at IPC 10
#
# The generator is tuned with a single matcher (ConvNet-3, or ResNet-18) instead of the
# whole pool; its IPC-10 samples then train ConvNet-3, ResNet-18, AlexNet and VGG-11.
# A random real subset is the reference row. The paper reports this on CIFAR-10; here it
# runs on the profile's focus dataset.

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
import pandas as pd

from gdd import grids
d = p.focus_dataset
rows = []
for (source, m), r in grids.table2(p, device, redo_before).items():
    rows.append({"source": "random real" if source == "random" else f"gdd, matcher {source}", "model": m,
                 "acc": f"{r['result']['mean']:.1f} ± {r['result']['std']:.1f}",
                 "epochs": r["config"]["eval"]["epochs"], "runs": r["config"]["eval"]["runs"]})
table2 = pd.DataFrame(rows).pivot(index="source", columns="model", values="acc")[list(p.cross_models)]
budget = {r["model"]: f"{r['epochs']} epochs x {r['runs']}" for r in rows}
print(f"{d}, IPC 10; evaluation per architecture: {budget}")
table2
