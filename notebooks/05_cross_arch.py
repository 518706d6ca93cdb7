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
force = False

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

from gdd import experiments

d = p.focus_dataset
rows = []
for m in p.cross_models:
    r = experiments.method_result(p, d, "random", 10, model=m, device=device, force=force)
    rows.append({"source": "random real", "model": m, "acc": f"{r['result']['mean']:.1f} ± {r['result']['std']:.1f}"})
for matcher in p.cross_matchers:
    for m in p.cross_models:
        r = experiments.method_result(p, d, "gdd", 10, model=m, device=device, force=force, pool=(matcher,))
        rows.append({"source": f"gdd, matcher {matcher}", "model": m,
                     "acc": f"{r['result']['mean']:.1f} ± {r['result']['std']:.1f}"})
table2 = pd.DataFrame(rows).pivot(index="source", columns="model", values="acc")[list(p.cross_models)]
print(f"{d}, IPC 10; evaluation: ConvNet-3 {p.epochs_for(10)} epochs x {p.eval_runs} networks, "
      f"others {p.cross_epochs or p.epochs_for(10)} epochs x {p.cross_runs or p.eval_runs}")
table2
