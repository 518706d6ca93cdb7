# %% [markdown]
# # The data, and the floor to beat
#
# MNIST and Fashion-MNIST (CIFAR-10 where it can be had): 10 classes, 60 000 training and
# 10 000 test images; the 28×28 digits and garments are padded to 32×32, as in the
# dataset-distillation literature. Every raw file is checked against torchvision's md5
# before it is decoded (`gdd data check`).
#
# The floor for any distilled set is a **random class-balanced subset of the real
# training set** of the same size, trained on with the same evaluation protocol
# (ConvNet-3, DSA augmentation, SGD; {doc}`../book/method`).

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
import torch

from gdd import data
from gdd.notebook import table

splits = {d: {split: data.load(d, train=split == "train") for split in ("train", "test")}
          for d in p.datasets}
rows = []
for d, s in splits.items():
    spec = data.get_spec(d)
    x = s["train"][0]
    rows.append({"dataset": d, "train": len(x), "test": len(s["test"][0]),
                 "image (C x H x W)": " x ".join(map(str, x.shape[1:])),
                 "pixel mean": round(x.mean().item(), 4),
                 "pixel std": round(x.std().item(), 4),
                 "normalisation mean / std": f"{spec.mean[0]} / {spec.std[0]}"})
table(rows, digits=4)

# %% [markdown]
# The normalisation constants are the usual 28×28 ones; the zero padding to 32×32 lowers
# the measured mean and standard deviation of the padded images. Evaluation uses the usual
# constants, as the papers do.
#
# ## Class counts

# %%
rows = [{"class": c} for c in range(data.get_spec(p.datasets[0]).num_classes)]
for d, s in splits.items():
    names = data.get_spec(d).classes
    counts = {k: torch.bincount(s[k][1], minlength=len(names)) for k in ("train", "test")}
    for c, row in enumerate(rows):
        if names[c] != str(c):
            row[f"{d} class"] = names[c]
        row[f"{d} train"], row[f"{d} test"] = int(counts["train"][c]), int(counts["test"][c])
table(rows)

# %% [markdown]
# ## Samples
# Ten training images of every class (one row per class), drawn with a fixed seed.

# %%
from gdd.notebook import image_grid

for d, s in splits.items():
    x, y = s["train"]
    spec = data.get_spec(d)
    idx = data.class_balanced_subset(y, 10, spec.num_classes, torch.Generator().manual_seed(0))
    image_grid(x[idx], y[idx], per_class=10, class_names=list(spec.classes), title=d)

# %% [markdown]
# ## The floor: a random real subset at each IPC
#
# `ipc` images of every class drawn at random (seed 0) from the training set train fresh
# ConvNet-3 networks with the profile's evaluation budget; mean ± std of the test accuracy
# over the networks. Stored under `results/<profile>/`; a re-run loads them.

# %%
from gdd import grids
from gdd.notebook import mean_std
floor = {(d, ipc): r for (d, m, ipc), r in grids.table1(p, device, redo_before).items() if m == "random"}
rows = []
for (d, ipc), r in floor.items():
    ev = r["config"]["eval"]
    rows.append({"dataset": d, "IPC": ipc, "images": r["result"]["train_size"],
                 "accuracy (%)": mean_std(r), "networks": ev["runs"], "epochs": ev["epochs"],
                 "wall time (s)": round(r["provenance"]["wall_time_s"])})
table(rows)

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3.2))
for d in p.datasets:
    means = [floor[(d, i)]["result"]["mean"] for i in p.ipcs]
    stds = [floor[(d, i)]["result"]["std"] for i in p.ipcs]
    ax.errorbar([str(i) for i in p.ipcs], means, yerr=stds, marker="o", capsize=3, label=d)
ax.set(xlabel="images per class", ylabel="test accuracy (%)",
       title=f"random real subset ({p.name} profile)")
ax.legend()
plt.tight_layout()
plt.show()
