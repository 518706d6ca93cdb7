# %% [markdown]
# # The data, and the floor to beat
#
# MNIST {cite}`lecun1998mnist` and Fashion-MNIST {cite}`xiao2017fashion` (CIFAR-10
# {cite}`krizhevsky2009cifar` where it can be had): 10 classes, 60 000 training and 10 000 test
# images; the 28×28 digits and garments are padded to 32×32, as in the dataset-distillation
# literature. Every raw file is checked against torchvision's md5 before it is decoded
# (`gdd data check`).
#
# The floor for any distilled set is a **random class-balanced subset of the real
# training set** of the same size, trained on with the same evaluation protocol
# (ConvNet-3, DSA augmentation, SGD; {doc}`../book/method`).

# %% tags=["parameters", "remove-cell"]
profile = "cpu"
device = "cpu"
redo_before = None  # a POSIX time (e.g. time.time()): recompute results written before it
compute = False  # True: also compute the results not stored (the next cell says how long first)

# %% tags=["remove-cell"]
import sys

if "google.colab" in sys.modules:  # Colab: install gdd from the repository
    import os, subprocess  # repo_url: injected by papermill, from _config.yml
    src = "/content/gdd"
    if not os.path.isdir(src):
        subprocess.check_call(["git", "clone", "--depth=1", repo_url, src])
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-qe", src])
    sys.path.insert(0, src)
from gdd.notebook import setup

p = setup(profile, device, redo_before, needs=("table1",), compute=compute)

# %% tags=["hide-input"]
import torch

from gdd import data
from gdd.notebook import label, table

splits = {d: {split: data.load(d, train=split == "train") for split in ("train", "test")}
          for d in p.datasets}
rows = []
for d, s in splits.items():
    spec = data.get_spec(d)
    x = s["train"][0]
    rows.append({"dataset": label(d), "train images": len(x), "test images": len(s["test"][0]),
                 "image (C × H × W)": " × ".join(map(str, x.shape[1:])),
                 "pixel mean / std": f"{x.mean().item():.4f} / {x.std().item():.4f}",
                 "normalisation mean / std": f"{spec.mean[0]} / {spec.std[0]}"})
table(rows, caption="The datasets as used here (after padding to 32 × 32).", name="data-splits")

# %% [markdown]
# The normalisation constants are the usual 28×28 ones; the zero padding to 32×32 lowers
# the measured mean and standard deviation of the padded images. Evaluation uses the usual
# constants, as the papers do.
#
# ## Class counts

# %% tags=["hide-input"]
rows = []
for d, s in splits.items():
    names = data.get_spec(d).classes
    counts = {k: torch.bincount(s[k][1], minlength=len(names)).tolist() for k in ("train", "test")}
    rows += [{"dataset": label(d), "class": name, "train images": counts["train"][c],
              "test images": counts["test"][c]} for c, name in enumerate(names)]
table(rows, caption="Images per class in each split.", name="class-counts", group="dataset")

# %% [markdown]
# ## Samples
# Ten training images of every class (one row per class), drawn with a fixed seed
# ({numref}`fig-data-samples`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Ten training images of every class, one row per class, drawn with a fixed seed.", "name": "fig-data-samples"}}
from gdd.notebook import sample_panels

panels, names = [], []
for d, s in splits.items():
    x, y = s["train"]
    spec = data.get_spec(d)
    idx = data.class_balanced_subset(y, 10, spec.num_classes, torch.Generator().manual_seed(0))
    idx = idx[torch.argsort(y[idx], stable=True)]
    panels.append((label(d), x[idx]))
    names.append(list(spec.classes))
sample_panels(panels, names)

# %% [markdown]
# ## The floor: a random real subset at each IPC
#
# `ipc` images of every class drawn at random (seed 0) from the training set train fresh
# ConvNet-3 networks with the profile's evaluation budget; mean ± std of the test accuracy
# over the networks. Stored under `results/<profile>/`; a re-run loads them.

# %% tags=["remove-output"]
from gdd.notebook import grid

floor = {(d, ipc): r for (d, m, ipc, *protocol), r in grid("table1", p, device, redo_before).items()
         if m == "random" and not protocol}

# %% tags=["remove-input"]
from gdd.notebook import budget_box

budget_box([r for r in floor.values() if r is not None])

# %% tags=["hide-input"]
from gdd.notebook import result_of
from gdd.configs import eval_config

table([{"dataset": label(d), "IPC": ipc, "training images": ipc * data.get_spec(d).num_classes, "test accuracy (%)": result_of(r),
        "networks": eval_config(p, ipc).runs, "epochs": eval_config(p, ipc).epochs} for (d, ipc), r in floor.items()],
      caption="Random real subsets: test accuracy, mean ± std over the networks.", name="floor", group="dataset")

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Random real subsets: test accuracy of each trained network (points) and their mean ± one standard deviation, against the images per class.", "name": "fig-data-floor"}}
from gdd.notebook import networks, plot_networks

df = networks(({"dataset": label(d), "images per class": ipc}, r) for (d, ipc), r in floor.items())
plot_networks(df, x="images per class", hue="dataset", title=f"random real subset ({p.name} profile)")

# %% [markdown]
# ### Reading it
# Every distilled set of Table 1 is compared with this floor, under the same evaluation
# ({numref}`fig-data-floor`); its "improvement over random" column subtracts it.

# %% tags=["remove-input"]
from gdd.notebook import md


def floor_text(d):
    got = {ipc: result_of(floor.get((d, ipc))) for ipc in p.ipcs}
    done = {ipc: v for ipc, v in got.items() if isinstance(v, tuple)}
    if not done:
        return f"- {label(d)}: not yet computed."
    parts = [f"IPC {ipc}: {v[0]:.1f} ± {v[1]:.1f} %" for ipc, v in done.items()]
    spread = max(v[1] for v in done.values())
    return (f"- {label(d)}: {'; '.join(parts)}" + ("" if len(done) == len(got) else " (the other IPCs not yet computed)")
            + f". The standard deviation over networks is at most {spread:.1f} points.")


md("\n".join(floor_text(d) for d in p.datasets))
