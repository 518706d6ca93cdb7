# %% [markdown]
# # Re-deployment cost
#
# The argument for a generator as the distilled form: a new images-per-class budget costs
# one forward pass per image, not a new optimisation. Below, the measured time to sample IPC
# 1, 10 and 50 against the time it took to train the GAN and tune it (`gdd`), from the
# same runs as Table 1.

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

p = setup(profile, device, redo_before, needs=("table1", "redeploy"), compute=compute)

# %% tags=["remove-output"]
from gdd.notebook import grid

table1 = grid("table1", p, device, redo_before)

rows = []
for d in p.datasets:
    for ipc in p.ipcs:
        rec = table1[(d, "gdd", ipc)]
        if rec is None:
            continue
        r = rec["result"]
        rows.append({"dataset": d, "IPC": ipc, "sampling (s)": round(r["sampling"]["sample_s"], 3),
                     "GAN training (s)": round(r["gan_wall_time_s"]), "distillation (s)": round(r["distill_wall_time_s"]),
                     "ratio (training / sampling)": f"{(r['gan_wall_time_s'] + r['distill_wall_time_s']) / r['sampling']['sample_s']:.0f}x"})

# %% tags=["remove-input"]
from gdd.notebook import budget_box

budget_box()

# %% tags=["hide-input"]
from gdd.notebook import label, table

table([{**r, "dataset": label(r["dataset"]), "ratio (training / sampling)": r["ratio (training / sampling)"].replace("x", "×")}
       for r in rows], digits=3, group="dataset", name="redeploy",
      caption="Seconds to sample a distilled set of each IPC from the trained gdd generator, against the seconds it took "
              "to train that generator (GAN, then distillation).")

# %% tags=["remove-input"]
from gdd.notebook import duration, md


def sampling_text(d):
    mine = [r for r in rows if r["dataset"] == d]
    if not mine:
        return f"{label(d)}: not yet computed"
    fast, slow = min(mine, key=lambda r: r["IPC"]), max(mine, key=lambda r: r["IPC"])
    train = slow["GAN training (s)"] + slow["distillation (s)"]
    return (f"{label(d)}: sampling takes {fast['sampling (s)']:.2f} s at IPC {fast['IPC']} and "
            f"{slow['sampling (s)']:.2f} s at IPC {slow['IPC']}, against {duration(train)} to train the generator once")


md("*Reading it:* " + "; ".join(sampling_text(d) for d in dict.fromkeys(r["dataset"] for r in rows))
   + ". Once the generator exists, a new IPC costs a sampling pass; the fair comparison is with "
     "what another method pays for a new set, which the race below measures.")

# %% [markdown]
# ## The race: a new set from DM against a new sample from the generator
#
# The paper's argument measured: for each IPC in turn, on one machine in one run, the wall time
# to obtain a new set by distribution matching optimised from scratch (at this profile's DM
# budget) and by sampling the already trained `gdd` generator; beside them, the accuracy each
# set reaches (Table 1's numbers, the same configurations).

# %% tags=["remove-input"]
from gdd.grids import REDEPLOY_ARCH
from gdd.notebook import PENDING, result_of

got = grid("redeploy", p, device, redo_before)
race, d = got["race"], p.focus_dataset
budget_box([r for r in (race, got["dm"], got["gdd"]) if r is not None], title="Budget of the race below")

# %% tags=["hide-input"]
legs = [*(str(ipc) for ipc in p.ipcs), REDEPLOY_ARCH]
accuracy = {**{str(ipc): (table1.get((d, "dm", ipc)), table1.get((d, "gdd", ipc))) for ipc in p.ipcs},
            REDEPLOY_ARCH: (got["dm"], got["gdd"])}
table([{"new set": f"IPC {leg}" if leg.isdigit() else f"IPC 10, evaluated on {label(leg)}",
        "DM from scratch (s)": PENDING if race is None else race["result"][leg]["dm_s"],
        "sampling gdd (s)": PENDING if race is None else race["result"][leg]["sample_s"],
        "DM accuracy (%)": result_of(accuracy[leg][0]), "gdd accuracy (%)": result_of(accuracy[leg][1])}
       for leg in legs], digits=2, name="redeploy-race",
      caption=f"{label(d)}: seconds to a new distilled set, and the accuracy it reaches (ConvNet-3, or the "
              f"architecture named; DM re-optimised with that architecture as its embedding network).")

# %% [markdown]
# ### Reading it

# %% tags=["remove-input"]
def race_text(leg):
    name = f"IPC {leg}" if leg.isdigit() else f"IPC 10 on {label(leg)}"
    if race is None:
        return f"- {name}: not yet computed."
    r = race["result"][leg]
    dm_acc, gdd_acc = (result_of(a) for a in accuracy[leg])
    acc = (f"; accuracy DM {dm_acc[0]:.1f} %, gdd {gdd_acc[0]:.1f} % ({gdd_acc[0] - dm_acc[0]:+.1f} points)"
           if isinstance(dm_acc, tuple) and isinstance(gdd_acc, tuple) else "; accuracy not yet computed")
    return f"- {name}: DM takes {r['dm_s'] / r['sample_s']:,.0f}× as long as sampling ({r['dm_s']:.0f} s vs {r['sample_s']:.2f} s){acc}."


md("\n".join(race_text(leg) for leg in legs))
