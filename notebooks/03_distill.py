# %% [markdown]
# # Stage 2: distillation with global and local matching
#
# The stage-1 generator is tuned further with
#
# $$
# L = L_{cGAN} + \lambda_g L_{global} + \lambda_l L_{local}
# $$
#
# as in DiM's released code ({doc}`../book/fidelity`): each epoch draws a model from DiM's pool
# (ConvNet-3, ResNet-10, ResNet-18 and the two ResNets with average-pool downsampling) and
# initialises it fresh; before every generator step it takes 16 SGD steps on real batches. A
# real batch and a synthetic batch of the same labels then go through one augmentation draw
# (colour, crop, cutout, shared by the whole batch) and the pool model: $L_{global}$ compares
# their log-softmax outputs (what the model *decides*), $L_{local}$ sums the absolute
# differences of their mean feature maps at a middle layer (what the model *sees*).
# Three methods share this one code path: `cgan` ($\lambda_g = \lambda_l = 0$), `dim`
# ($\lambda_l = 0$) and `gdd` (both).

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
runs = {(d, m): figures[("generator", d, m)] for d in p.datasets for m in ("cgan", "dim", "gdd")
        if figures[("generator", d, m)] is not None}
done = [d for d in p.datasets if all((d, m) in runs for m in ("cgan", "dim", "gdd"))]  # every run stored
for (d, m), r in runs.items():
    cfg = r["config"]["generator"]
    lam_g, lam_l = {"cgan": (0, 0), "dim": (cfg["lambda_global"], 0)}.get(m, (cfg["lambda_global"], cfg["lambda_local"]))
    print(f"{d:<14} {m:<5} lambda_g={lam_g:<5} lambda_l={lam_l:<6} {r['result']['steps']} steps, "
          f"{r['result']['wall_time_s'] / 60:.1f} min")

# %% tags=["remove-input"]
from gdd.notebook import budget_box

budget_box(runs.values())

# %% tags=["hide-input"]
from gdd.notebook import label, table

weights = {"cgan": (0, 0), "dim": (1, 0), "gdd": (1, 1)}  # which weights each method uses
table([{"dataset": label(d), "method": m,
        "lambda_g": f'{r["config"]["generator"]["lambda_global"] * weights[m][0]:g}',
        "lambda_l": f'{r["config"]["generator"]["lambda_local"] * weights[m][1]:g}',
        "matching steps": r["result"]["steps"]} for (d, m), r in runs.items()],
      caption="The three stage-2 runs of each dataset.", name="distill-runs", group="dataset")

# %% tags=["remove-input"]
from gdd.notebook import duration, md


def cost_text(d):
    if d not in done:
        return f"{label(d)}: not yet computed"
    t = {m: runs[(d, m)]["result"]["wall_time_s"] for m in ("cgan", "dim", "gdd")}
    return (f"{label(d)}: cgan {duration(t['cgan'])}, dim {duration(t['dim'])} ({t['dim'] / t['cgan']:.1f}×), "
            f"gdd {duration(t['gdd'])} ({t['gdd'] / t['cgan']:.1f}×)")


md("*Reading it:* tuning time, and its multiple of cgan's: " + "; ".join(cost_text(d) for d in p.datasets)
   + ". The matching methods pay for the pool model's training on real batches before every generator step; "
     "the local term adds one feature comparison, little next to that.")

# %% [markdown]
# ## What the matching terms measure during tuning
# `dim` and `gdd` log both distances (only the weighted ones reach the generator). The
# pool model is re-drawn and re-initialised every epoch, so the distances jump at epoch
# boundaries: a fresh model sees real and synthetic images alike, and differences grow as
# it learns the real data ({numref}`fig-distill-distances`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Stage 2: the global (logit) and local (feature) distances between real and generated batches during tuning, for `dim` and `gdd`.", "name": "fig-distill-distances"}}
from gdd.notebook import TEX, plot_curves

plot_curves([(f"{label(d)}: {TEX[key]}", [(m, runs[(d, m)]["result"]["curves"]["step"],
                                           runs[(d, m)]["result"]["curves"][key]) for m in ("dim", "gdd")])
             for d in done for key in ("l_global", "l_local")], xlabel="matching step", ylabel="distance")


# %% tags=["remove-input"]
def tail_mean(values, share=0.2):
    """The mean of the last ``share`` of a curve's logged values."""
    got = [v for v in values if v is not None]
    tail = got[-max(1, int(share * len(got))):]
    return sum(tail) / len(tail)


def distance_text(d):
    c = {m: runs[(d, m)]["result"]["curves"] for m in ("dim", "gdd")}
    loc = {m: tail_mean(c[m]["l_local"]) for m in c}
    glo = {m: tail_mean(c[m]["l_global"]) for m in c}
    return (f"{label(d)}: over the last fifth of tuning, gdd's local distance is {loc['gdd'] / loc['dim']:.2f}× "
            f"dim's and its global distance {glo['gdd'] / glo['dim']:.2f}× dim's")


md("*Reading it:* " + ("; ".join(distance_text(d) for d in done) or "not yet computed")
   + ". dim does not optimise the local distance, only logs it: a ratio below 1 is what the local term buys.")

# %% [markdown]
# ## Samples after stage 2
# Ten fixed noise vectors per class, one row per class, for each method
# ({numref}`fig-distill-samples`).

# %% tags=["hide-input"] mystnb={"figure": {"caption": "Samples of the stage-2 generators (`cgan`, `dim`, `gdd`): ten fixed noise vectors per class, one row per class.", "name": "fig-distill-samples"}}
from gdd.notebook import class_names, sample_panels

sample_panels([(f"{label(d)}: {m}", r["result"]["grid_png"]) for (d, m), r in runs.items()],
              [class_names(d) for d, _ in runs], ncols=3)

# %% [markdown]
# ## How hard does each term pull on the generator?
# The norm of each term's gradient with respect to the stage-1 generator's parameters, for
# each pool architecture, at the start of a distillation epoch (the fresh pool model after its
# first 16 steps on real batches) and at its end (after 16 steps per generator step of the
# epoch), and the ratio of the weighted matching gradients ($\lambda_g \|\nabla L_{global}\|$,
# $\lambda_l \|\nabla L_{local}\|$) to the adversarial one. A ratio far below 1 means the term can
# only steer the generator over many steps; a ratio above 1 means it dominates the update.

# %% tags=["remove-output"]
shares = {d: figures[("gradients", d)]["result"] for d in p.datasets if figures[("gradients", d)] is not None}
for d, res in shares.items():
    for m, at in res.items():
        for when, s_ in at.items():
            print(d, m, when, {k: f"{v:.2e}" for k, v in s_.items()})

# %% tags=["remove-input"]
budget_box([figures[("gradients", d)] for d in shares])

# %% tags=["hide-input"]
from gdd.notebook import HTML

norm = {k: HTML(f"‖∇L<sub>{k}</sub>‖") for k in ("cGAN", "global", "local")}
ratio = {k: HTML(f"λ<sub>{k[0]}</sub>{norm[k]} / {norm['cGAN']}") for k in ("global", "local")}
table([{"dataset": label(d), "pool model": label(m), "pool steps": s_["pool_steps"], norm["cGAN"]: s_["grad_cgan"],
        norm["global"]: s_["grad_global"], norm["local"]: s_["grad_local"],
        ratio["global"]: f"{s_['weighted_global_over_cgan']:.1e}", ratio["local"]: f"{s_['weighted_local_over_cgan']:.1e}"}
       for d, res in shares.items() for m, at in res.items() for s_ in at.values()],
      digits=2, caption="Gradient norms of each loss term with respect to the stage-1 generator, and the weighted "
                        "ratios, at the start and the end of a distillation epoch.",
      name="gradient-shares", group="dataset")

# %% [markdown]
# ### Reading it

# %% tags=["remove-input"]

lines = []
for d, res in shares.items():
    local = [s_["weighted_local_over_cgan"] for at in res.values() for s_ in at.values()]
    glob = [s_["weighted_global_over_cgan"] for at in res.values() for s_ in at.values()]
    lines.append(f"- {label(d)}: the weighted local gradient is {min(local):.1e}–{max(local):.1e} times the "
                 f"adversarial one, the weighted global gradient {min(glob):.1e}–{max(glob):.1e} times.")
md("\n".join(lines))
