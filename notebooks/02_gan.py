# %% [markdown]
# # Stage 1: the conditional GAN
#
# The generator $G(z, y)$ is trained on the real training set as a label-conditioned
# WGAN-GP with an auxiliary classifier (AC-GAN): the critic scores real against generated
# images and classifies both; the generator tries to raise its score and to be classified
# as the intended class. Architecture and losses: {doc}`../book/method`.
# This notebook trains (or loads) the stage-1 run of every dataset of the profile and shows
# its losses and samples.

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

# %% tags=["remove-output"]
from gdd.notebook import grid
figures = grid("figures", p, device, redo_before)
records = {d: figures[("generator", d, "gan")] for d in p.datasets if figures[("generator", d, "gan")] is not None}
for d, r in records.items():
    cfg = r["config"]["generator"]
    print(f"{d}: width {cfg['width']}, noise {cfg['noise']}, {r['result']['steps']} steps of batch {cfg['batch']}, "
          f"{r['result']['wall_time_s'] / 60:.1f} min on {r['provenance']['device']}")

# %% tags=["remove-input"]
from gdd.notebook import budget_box

budget_box()

# %% [markdown]
# ## Losses
# The Wasserstein estimate (critic score of real minus generated) measures how well the critic
# tells the two apart: it rises while the critic learns faster than the generator and falls as
# the generator catches up, so over a short budget it need not shrink. The class term falls as
# generated images become recognisable as their class ({numref}`fig-gan-losses`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Stage 1: the critic's Wasserstein estimate and the generator's adversarial and class losses during GAN training, one panel per dataset.", "name": "fig-gan-losses"}}
from gdd.notebook import label, plot_curves

names = {"wasserstein": "Wasserstein estimate", "g_adv": "generator: adversarial", "g_cls": "generator: class"}
plot_curves([(label(d), [(names[k], r["result"]["curves"]["step"], r["result"]["curves"][k]) for k in names])
             for d, r in records.items()], xlabel="generator step", ylabel="loss")


# %% tags=["remove-input"]
import math

from gdd.notebook import md


def ends(values):
    """The first and last logged value of a curve (None where a bin logged nothing)."""
    got = [v for v in values if v is not None]
    return got[0], got[-1]


def losses_text(d, r):
    c = r["result"]["curves"]
    (w0, w1), (c0, c1) = ends(c["wasserstein"]), ends(c["g_cls"])
    return (f"{label(d)}: Wasserstein estimate {w0:.2f} → {w1:.2f}, generator class loss {c0:.2f} → {c1:.2f} "
            f"(chance: ln 10 = {math.log(10):.2f}) over {r['result']['steps']} generator steps")


md("*Reading it:* " + ("; ".join(losses_text(d, r) for d, r in records.items()) or "not yet computed") +
   ". A class loss well below chance means the critic's classifier recognises the class each image was "
   "generated for: the conditioning has emerged.")

# %% [markdown]
# ## Samples after stage 1
# Ten fixed noise vectors per class, one row per class ({numref}`fig-gan-samples`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Samples of the stage-1 generators: ten fixed noise vectors per class, one row per class.", "name": "fig-gan-samples"}}
from gdd.notebook import class_names, sample_panels

sample_panels([(f"{label(d)}: stage-1 generator", r["result"]["grid_png"]) for d, r in records.items()],
              [class_names(d) for d in records])
