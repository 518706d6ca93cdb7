# %% [markdown]
# # Figure 3: the weight of the local loss
#
# ```{note}
# The values of the GDD paper's Figure 3 are not available to us (only its conclusion, that
# $\lambda_l = 0.001$ was best, is), so no published curve is drawn.
# ```
#
# Accuracy at IPC 1 against $\lambda_l$, with $\lambda_g = 0.01$ fixed. $\lambda_l = 0$ is
# DiM's objective. The paper (CIFAR-10) finds $\lambda_l = 0.001$ best; here the sweep runs on
# the profile's focus dataset.

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

p = setup(profile, device, redo_before, needs=("figure3", "table1"), compute=compute)

# %% tags=["remove-output"]
from gdd import configs
from gdd.notebook import grid

d = p.focus_dataset
sweep = grid("figure3", p, device, redo_before)
lambda_g = configs.distill_config(p, d, "gdd").lambda_global  # fixed along the sweep

# %% tags=["remove-input"]
from gdd.notebook import budget_box

budget_box()

# %% tags=["hide-input"]
from gdd.notebook import HTML, label, table

from gdd.notebook import result_of

table([{"lambda_l": f"{lam:g}", "test accuracy (%) at IPC 1": result_of(r),
        "networks": configs.eval_config(p, 1).runs} for lam, r in sweep.items()], digits=1, name="figure3",
      caption=HTML(f"{label(d)}, IPC 1, λ<sub>g</sub> = {lambda_g:g}: test accuracy, mean ± std over the networks."))

# %% [markdown]
# {numref}`fig-figure3` is the paper's Figure 3 at this budget, network by network.

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Figure 3 reproduced: test accuracy at IPC 1 of each trained network (points) and the mean ± one standard deviation, against the weight of the local loss (global weight fixed).", "name": "fig-figure3"}}
from gdd.notebook import TEX, md, networks, plot_networks

df = networks(({"lam": f"{lam:g}"}, r) for lam, r in sweep.items())
plot_networks(df, x="lam", xlabel=f"{TEX['lambda_l']}  ({TEX['lambda_g']} = {lambda_g:g})",
              title=f"{label(d)}, IPC 1 ({p.name} profile)") if len(df) else md("*Not yet computed.*")

# %% [markdown]
# ## Reading it
# Each $\lambda_l > 0$ against $\lambda_l = 0$ (DiM's objective, the same runs otherwise):

# %% tags=["remove-input"]
from gdd.notebook import difference_text, md

md("\n".join(f"- λ_l = {lam:g}: " + difference_text(f"λ_l = {lam:g}", r, "λ_l = 0", sweep.get(0.0))
              for lam, r in sweep.items() if lam != 0.0))
