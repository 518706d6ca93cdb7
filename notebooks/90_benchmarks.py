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
#   The goal for one H100 is at least 4×.
# - **Generator steps/s**: stage 1 (GAN) and stage 2 (`gdd` matching, including the pool
#   model's own training step), batch 64.
# - **Sampling**: seconds to draw IPC 1, 10 and 50 images per class (10 classes).
#
# Each profile measures at its own scale (`bench` in `gdd/profiles.py`: `tiny`, `quick`,
# `full`): a CPU cannot run the full one in reasonable time. Figures of different scales or
# devices are not comparable one to one; ratios measured in one run are.

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

p = setup(profile, device, redo_before, needs=("bench",), compute=compute)

# %% [markdown]
# The figures of this profile on this notebook's device (measured now if none are stored),
# then every other set stored under `results/`, with the hardware each came from.

# %% tags=["remove-output"]
from gdd.notebook import grid
from gdd.profiles import PROFILES
from gdd.results import find_records
from gdd.notebook import table

grid("bench", p, device, redo_before)
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


# %% tags=["remove-input"]
from gdd.notebook import budget_box

budget_box(records)

# %% tags=["hide-input"]
from gdd.notebook import md

columns = [f"{r['provenance']['device']} ({r['provenance']['profile']} profile, {r['config']['scale']} scale)"
           for r in records]
figures = {"ConvNet-3 training (images/s)": lambda f: round(f["convnet3_train_img_per_s"]),
           "K = 5 networks together (s)": lambda f: f["together_vs_apart"]["together_s"],
           "K = 5 networks one after another (s)": lambda f: f["together_vs_apart"]["apart_s"],
           "together: speed-up": lambda f: f"{f['together_vs_apart']['speedup']:.2f}×",
           "GAN steps/s": lambda f: f["gan_steps_per_s"], "gdd matching steps/s": lambda f: f["distill_steps_per_s"],
           **{f"sampling IPC {i} (s)": (lambda f, i=i: f"{f['sampling'][f'ipc{i}_s']:.4f}") for i in (1, 10, 50)}}
table([{"figure": name, **{c: get(r["result"]) for c, r in zip(columns, records)}} for name, get in figures.items()]
      + [{"figure": "generator width", **{c: r["config"]["bench"]["gen_width"] for c, r in zip(columns, records)}}],
      digits=2, name="bench", caption="Speed of each piece, one column per stored benchmark.")

# %% [markdown]
# Host waits. On a GPU the host queues work and runs ahead; every value read back
# (`.item()`, a blocking copy of batch indices) makes it wait until the queue drains, and with
# the small batches of distilled sets that waiting costs as much as the work. The inner loops
# therefore draw an epoch's batch orders and augmentations on the CPU ahead of time, copy them
# asynchronously from pinned memory, and read losses back about ten times a run (evaluation)
# or once per checkpoint (GAN and distillation). CUDA's sync debug mode counts the waits that
# remain, per inner-loop step (set-up and saving included):

# %% tags=["hide-input"]
waits = [{"hardware": r["provenance"]["device"], "profile": r["provenance"]["profile"],
          "steps": r["result"]["host_waits"]["steps"],
          "evaluation waits / step": r["result"]["host_waits"]["evaluation"] / r["result"]["host_waits"]["steps"],
          "distillation waits / step": r["result"]["host_waits"]["distill"] / r["result"]["host_waits"]["steps"]}
         for r in records if "host_waits" in r["result"]]
table(waits, digits=2, name="host-waits") if waits else md("No CUDA benchmark is stored: host waits are counted on CUDA only.")

# %% [markdown]
# Reading the figures: the evaluation protocol trains its K networks together (stacked, one
# `vmap`-ed step) only where that is faster than one after another; `EvalConfig.together=None`
# picks it by device. What the stored benchmarks measured:

# %% tags=["remove-input"]
md("\n".join(f"- {r['provenance']['device']} ({r['provenance']['profile']} profile): K networks together are "
              f"{'faster' if r['result']['together_vs_apart']['speedup'] > 1 else 'slower'} than one after another "
              f"({r['result']['together_vs_apart']['speedup']:.2f}×)." for r in records)
   + "\n\nA device without a row here has no stored benchmark; `make reproduce PROFILE=gpu` on a GPU machine "
     "measures one.")
