# %% [markdown]
# # Table 1: accuracy of distilled data at IPC 1, 10 and 50
#
# For every dataset and images-per-class budget: a random class-balanced real subset,
# and images sampled from the generators tuned by `cgan`, `dim` and `gdd`. Each image set
# trains fresh ConvNet-3 networks from scratch with the standard protocol (SGD, DSA
# augmentation), tested on the real test set; mean ± std over the profile's networks.
# Published numbers of image-based methods are shown beside, labelled as published; they
# were obtained with 1000 training epochs and are not comparable with reduced profiles.

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

from gdd import grids, published
from gdd.grids import TABLE1_METHODS
rec = grids.table1(p, device, redo_before)

# %%
rows = []
for d in p.datasets:
    for m in TABLE1_METHODS:
        row = {"dataset": d, "method": m}
        for ipc in p.ipcs:
            r = rec[(d, m, ipc)]["result"]
            row[f"IPC {ipc}"] = f"{r['mean']:.1f} ± {r['std']:.1f}"
        rows.append(row)
    for name, table in published.TABLE1.items():
        rows.append({"dataset": d, "method": name, **{f"IPC {i}": f"{table[d][i]:.1f}" if i in table[d] else "–"
                                                       for i in p.ipcs}})
table1 = pd.DataFrame(rows).set_index(["dataset", "method"])
table1

# %% [markdown]
# ## Budget and provenance of these numbers

# %%
r0 = rec[(p.datasets[0], "gdd", p.ipcs[0])]
ev = {ipc: rec[(p.datasets[0], "gdd", ipc)]["config"]["eval"] for ipc in p.ipcs}
print(f"profile {p.name}: evaluation epochs per IPC {({i: e['epochs'] for i, e in ev.items()})}, "
      f"{ev[p.ipcs[0]]['runs']} networks each; "
      f"device {r0['provenance']['device']}; commit {r0['provenance']['commit'][:12]}")
wall = pd.DataFrame([{"dataset": d, "method": m, "IPC": ipc, "eval epochs": rec[(d, m, ipc)]["config"]["eval"]["epochs"],
                      "runs": rec[(d, m, ipc)]["config"]["eval"]["runs"],
                      "evaluation wall time (s)": round(rec[(d, m, ipc)]["result"]["wall_time_s"])}
                     for d in p.datasets for m in TABLE1_METHODS for ipc in p.ipcs])
wall.pivot_table(index=["dataset", "method"], columns="IPC", values="evaluation wall time (s)")

# %% [markdown]
# ## The same numbers as a figure

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, len(p.datasets), figsize=(6 * len(p.datasets), 3.5), squeeze=False)
for ax, d in zip(axes[0], p.datasets):
    for m in TABLE1_METHODS:
        means = [rec[(d, m, i)]["result"]["mean"] for i in p.ipcs]
        stds = [rec[(d, m, i)]["result"]["std"] for i in p.ipcs]
        ax.errorbar([str(i) for i in p.ipcs], means, yerr=stds, marker="o", capsize=3, label=m)
    ax.set(title=d, xlabel="images per class", ylabel="test accuracy (%)")
    ax.legend()
plt.tight_layout()
plt.show()
