# %% [markdown]
# # Figure 2: distilled images
#
# Ten images per class sampled from each dataset's `gdd` generator (one row per class),
# beside the `cgan` generator's samples for the same noise ({numref}`fig-figure2`).

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

p = setup(profile, device, redo_before, needs=("figures",), compute=compute)

# %% tags=["remove-cell"]
from gdd.notebook import grid

figures = grid("figures", p, device, redo_before)
sample_grids = [figures[("grid", d, m)] for d in p.datasets for m in ("cgan", "gdd") if figures[("grid", d, m)] is not None]
# the generators the grids were sampled from (stage 1 and stage 2): their training is the grids' cost
trained = [figures[("generator", d, m)] for d in p.datasets for m in ("gan", "cgan", "gdd")
           if figures[("generator", d, m)] is not None]

# %% tags=["remove-input"]
from gdd.notebook import budget_box

budget_box(sample_grids + trained)

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Figure 2 reproduced: ten images per class sampled from the `cgan` and `gdd` generators of each dataset (the same noise for both), one row per class.", "name": "fig-figure2"}}
from gdd.notebook import class_names, label, sample_panels

sample_panels([(f"{label(g['config']['generator']['dataset'])}: {g['config']['generator']['method']}", g["result"]["png"])
               for g in sample_grids], [class_names(g["config"]["generator"]["dataset"]) for g in sample_grids])


# %% tags=["remove-input"]
def grids_text():
    """How far matching moved the samples: mean absolute pixel difference (0-1 scale) between the
    gdd and cgan grids of a dataset, which share their noise."""
    import matplotlib.image as mpimg
    from gdd.notebook import md, resolve

    by = {(g["config"]["generator"]["dataset"], g["config"]["generator"]["method"]): g for g in sample_grids}
    parts, means = [], []
    for d in p.datasets:
        if (d, "cgan") not in by or (d, "gdd") not in by:
            parts.append(f"{label(d)}: not yet computed")
            continue
        cgan, gdd = (mpimg.imread(resolve(by[(d, m)]["result"]["png"])).astype(float) for m in ("cgan", "gdd"))
        means.append(abs(gdd - cgan).mean())
        parts.append(f"{label(d)}: {means[-1]:.3f} on average, "
                     f"{(abs(gdd - cgan) > 0.25).mean():.1%} of the pixels by more than a quarter of the range")
    verdict = ("" if not means else
               " At this budget matching edits the cGAN's samples: each position shows the same item in both grids."
               if max(means) < 0.05 else " Matching changed the samples visibly, not only edited them.")
    return md("*Reading it:* for the same noise, matching (stage 2) moved the generator's pixels by "
              + "; ".join(parts) + " (0 to 1 scale)." + verdict)


grids_text()
