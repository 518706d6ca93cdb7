# %% [markdown]
# # Figure 3: the weight of the local loss
#
# Accuracy at IPC 1 against $\lambda_l$, with $\lambda_g = 0.01$ fixed. $\lambda_l = 0$ is
# DiM's objective. The paper (CIFAR-10) finds $\lambda_l = 0.001$ best; here the sweep runs on
# the profile's focus dataset.

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
import matplotlib.pyplot as plt

from gdd import experiments

d = p.focus_dataset
sweep = {lam: experiments.method_result(p, d, "gdd", 1, device=device, force=force, lambda_local=lam)
         for lam in p.ablation_lambdas}
for lam, r in sweep.items():
    print(f"lambda_l = {lam:g}: {r['result']['mean']:.1f} ± {r['result']['std']:.1f} %")

# %%
lams = list(sweep)
xs = range(len(lams))
plt.errorbar(xs, [sweep[l]["result"]["mean"] for l in lams], yerr=[sweep[l]["result"]["std"] for l in lams],
             marker="o", capsize=3)
plt.xticks(xs, [f"{l:g}" for l in lams])
plt.xlabel("lambda_l (lambda_g = 0.01)")
plt.ylabel("test accuracy at IPC 1 (%)")
plt.title(f"{d}, profile {p.name}")
plt.show()
