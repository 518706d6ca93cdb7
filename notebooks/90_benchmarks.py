# %% [markdown]
# # Appendix: speed
#
# How fast the pieces run, on the hardware that ran them (a benchmark, `gdd.bench`, not a
# test). The figures:
#
# - **ConvNet-3 training**: images/s for one network (width 128, 3×32×32, batch 256).
# - **K networks together**: the evaluation protocol trains K = 5 networks on the same
#   distilled set. Trained together (their parameters stacked, one batched forward with
#   `torch.func.vmap`) against one after another, at IPC 10; the ratio is measured in one run.
#   Goal on one H100: at least 4×.
# - **Generator steps/s**: stage 1 (GAN) and stage 2 (`gdd` matching, including the pool
#   model's own training step), batch 64.
# - **Sampling**: seconds to draw IPC 1, 10 and 50 images per class (10 classes).
#
# Each profile measures at its own scale (`bench` in `gdd/profiles.py`: `tiny`, `quick`,
# `full`): a CPU cannot run the full one in reasonable time. Figures of different scales or
# devices are not comparable one to one; ratios measured in one run are.

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

# %% [markdown]
# The figures of this profile on this notebook's device (measured now if none are stored),
# then every other set stored under `results/`, with the hardware each came from.

# %%
from gdd import grids
from gdd.profiles import PROFILES
from gdd.results import find_records
from gdd.notebook import table
grids.bench(p, device, redo_before)
records = [r for name in PROFILES for t in ("cpu", "cuda") for r in find_records(name, f"bench-{t}")]
rows = []
for r in records:
    f = r["result"]
    rows.append({"hardware": r["provenance"]["device"], "profile": r["provenance"]["profile"],
                 "scale": r["config"]["scale"], "ConvNet-3 img/s": round(f["convnet3_train_img_per_s"]),
                 "K=5 together (s)": f["together_vs_apart"]["together_s"],
                 "K=5 apart (s)": f["together_vs_apart"]["apart_s"],
                 "together speed-up": f"{f['together_vs_apart']['speedup']:.2f}x",
                 "GAN steps/s": f["gan_steps_per_s"], "gdd steps/s": f["distill_steps_per_s"],
                 "GAN width": r["config"]["bench"]["gen_width"]})
table(rows, digits=2)

# %% [markdown]
# Sampling time, seconds, against the number of images per class:

# %%
table([{"hardware": r["provenance"]["device"], "profile": r["provenance"]["profile"],
        "GAN width": r["config"]["bench"]["gen_width"],
        **{f"IPC {i}": r["result"]["sampling"][f"ipc{i}_s"] for i in (1, 10, 50)}} for r in records], digits=4)

# %% [markdown]
# Host waits. On a GPU the host queues work and runs ahead; every value read back
# (`.item()`, a blocking copy of batch indices) makes it wait until the queue drains, and with
# the small batches of distilled sets that waiting costs as much as the work. The inner loops
# therefore draw an epoch's batch orders and augmentations on the CPU ahead of time, copy them
# asynchronously from pinned memory, and read losses back about ten times a run (evaluation)
# or once per checkpoint (GAN and distillation). CUDA's sync debug mode counts the waits that
# remain, per inner-loop step (set-up and saving included):

# %%
waits = [{"hardware": r["provenance"]["device"], "profile": r["provenance"]["profile"],
          "steps": r["result"]["host_waits"]["steps"],
          "evaluation waits / step": r["result"]["host_waits"]["evaluation"] / r["result"]["host_waits"]["steps"],
          "distillation waits / step": r["result"]["host_waits"]["distill"] / r["result"]["host_waits"]["steps"]}
         for r in records if "host_waits" in r["result"]]
table(waits, digits=2) if waits else print("no GPU record yet: host waits are counted on CUDA only")

# %% [markdown]
# Reading the figures: on a CPU, `vmap` over K networks is *slower* than training them one
# after another (the batched convolutions do not use the cores better than the plain ones),
# so the evaluation protocol trains them together only on CUDA (`EvalConfig.together=None`
# picks that). Where no GPU row appears above, no GPU was available to the sessions that
# built this book; `scripts/gpu_stage.sh` runs the `gpu` profile, this benchmark included.
