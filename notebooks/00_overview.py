# %% [markdown]
# # Generative Dataset Distillation (GDD) and Small-Scale Data-Free Knowledge Distillation (SSD-KD), reproduced
#
# This book and the small PyTorch package behind it, `gdd`, reproduce two CVPR 2024 papers:
# *Generative Dataset Distillation: Balancing Global Structure and Local Details*
# {cite}`li2024gdd` and *Small Scale Data-Free Knowledge Distillation* {cite}`liu2024ssdkd`.
#
# **Dataset distillation** asks for a very small training set that trains a network almost as
# well as the full one {cite}`wang2018dd,zhao2021dc`. GDD stores that knowledge in a
# conditional generator instead of a fixed set of images, tuned so that networks see generated
# images the way they see real ones, both in their decisions (global structure) and in their
# intermediate features (local details); any number of images per class (IPC) is then sampled
# with no new optimisation. It extends DiM {cite}`wang2023dim`. **SSD-KD** trains a student from
# a teacher with synthetic images only, from a small replay buffer balanced by a modulation
# term and drawn by priority.
#
# Every number on these pages is read from a stored result (`results/<profile>/*.json`), with
# the budget it was computed at shown above it; the papers' numbers appear only where a source
# gives them, marked *published*.
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

p = setup(profile, device, redo_before, compute=compute)

# %% tags=["remove-input"]
from gdd.notebook import md, present, scale_line, stored_grid

table1 = list(present(stored_grid("table1", p, device)).values())  # the records stored so far
md(scale_line(p, table1))

# %% [markdown]
# ## The papers' claims, checked
#
# Each claim with its source, what the stored results of this profile say with the budget they
# were computed at, and a verdict by the rule beside it: *reproduced*, *not reproduced*, or
# *inconclusive at this budget* (the differences are within the spread of the trained
# networks). The GDD paper's own table and figure values are not available to us, so its claims
# are checked in the direction and size its text gives. The verdict rules are provisional.

# %% tags=["remove-input"]
from gdd.notebook import claims_table, paper_checks

claims_table(paper_checks(p, device))

# %% [markdown]
# ## Headline: Table 1
#
# Test accuracy of ConvNet-3 networks trained only on each distilled set, beside published
# numbers of image-based methods (DC {cite}`zhao2021dc`, DSA {cite}`zhao2021dsa`, KIP
# {cite}`nguyen2021kip`, LD {cite}`bohdal2020ld`); details, CIFAR-10 and a figure in
# {doc}`04_table1`.

# %% tags=["remove-input"]
from gdd.notebook import published_beside
from gdd.notebook import budget_box, by_setting, label

if table1:
    display(budget_box(table1))
    display(published_beside({(d, label(m)): v for (d, m), v in by_setting(table1).items()}, p.ipcs,
                             compare="gdd", name="headline",
                             caption="Test accuracy (%), mean ± std over the networks. Under a published value: "
                                     "gdd's mean minus it."))
else:
    display(md(f"Table 1 is not computed for profile `{p.name}` yet (`make reproduce PROFILE={p.name}`)."))

# %% tags=["remove-input"]
from gdd.notebook import difference, result_of


def headline_text():
    """How often gdd is ahead of dim, of the random real subset and of the best image-based method,
    by more than one combined std, over the cells where both are stored."""
    cells = by_setting(table1)
    parts = []
    for other, name in (("dim", "dim"), ("random", "the random real subset"), *[(m, label(m)) for m in p.image_methods]):
        diffs = [difference(result_of(cells[(d, "gdd")][i]), result_of(cells[(d, other)][i]))
                 for d in p.datasets for i in p.ipcs
                 if i in cells.get((d, "gdd"), {}) and i in cells.get((d, other), {})]
        if diffs:
            ahead = sum(m > s_ for m, s_ in diffs)
            behind = sum(m < -s_ for m, s_ in diffs)
            parts.append(f"against {name}: ahead in {ahead}, behind in {behind}, within one combined std in "
                         f"{len(diffs) - ahead - behind} of {len(diffs)} cells")
    return ("*Reading it:* gdd " + "; ".join(parts) + "." if parts else "*Reading it:* not yet computed.")


md(headline_text())

# %% [markdown]
# ## How to read this book
#
# | page | content |
# |---|---|
# | {doc}`../book/method` | the three stages and their losses as equations; the evaluation protocol |
# | {doc}`01_data` | the datasets, and the floor every method must beat: a random real subset |
# | {doc}`02_gan`, {doc}`03_distill` | stage 1 (the conditional GAN) and stage 2 (global and local matching) |
# | {doc}`04_table1`, {doc}`05_cross_arch`, {doc}`06_ablation`, {doc}`07_images` | the paper's Table 1, Table 2, Figure 3 and Figure 2 |
# | {doc}`08_redeploy` | the cost of a new IPC budget |
# | {doc}`30_datafree_kd` | small-scale data-free knowledge distillation (SSD-KD) |
# | {doc}`../book/results` | where each table and figure of the papers is reproduced |
# | {doc}`../book/differences` | what differs from the papers, and why: read it before comparing numbers |
# | {doc}`../book/reproduce` | `make book`, `make reproduce`, Colab |
#
# Each chapter calls the package; no training loop is written inside a notebook. Every notebook
# runs in Colab from the launch button at the top of its page: it loads the stored results of
# the `cpu` profile, or computes those of another profile and says first how long that takes.
#
# ## Compute profiles
#
# One parameter, `profile`, sets every budget; the profiles live in `gdd/profiles.py`.
# `smoke` only checks that every code path runs (its numbers mean nothing); `paper` uses the
# papers' budgets (DiM's GAN and matching schedules, 1000 evaluation epochs, 5 networks).

# %% tags=["hide-input"]
from gdd import configs
from gdd.notebook import HTML, table
from gdd.profiles import PROFILES


def settings(q):
    """The settings that differ between profiles, read from the configs each profile builds."""
    d = q.datasets[0]
    gan, dist, ev = configs.gan_config(q, d), configs.distill_config(q, d, "gdd"), configs.eval_config(q, q.ipcs[0])
    cross = configs.eval_config(q, 10, "resnet18")
    teacher, student = configs.teacher_config(q, d), configs.datafree_config(q, d, "ssdkd")
    return {
        "datasets": ", ".join(label(d) for d in q.datasets),
        "IPC": ", ".join(map(str, q.ipcs)),
        "evaluation epochs (per IPC)": ", ".join(f"{configs.epochs_for(q, i)}" for i in q.ipcs),
        "evaluation networks": ev.runs,
        "test images": q.eval_test_size or "all",
        "GAN width / noise": f"{gan.width} / {gan.noise}",
        "GAN epochs × steps": f"{gan.epochs} × {gan.steps_per_epoch or 'full pass'}",
        "matching epochs × steps": f"{dist.epochs} × {dist.steps_per_epoch or 'full pass'}",
        "matching learning rate": f"{dist.lr_g:g}",
        HTML("λ<sub>g</sub> / λ<sub>l</sub>"): f"{dist.lambda_global:g} / {dist.lambda_local:g}",
        "pool (width)": f"{', '.join(label(m) for m in dist.pool)} ({dist.pool_width or 'default'})",
        "pool-model steps per matching step": dist.pool_steps,
        HTML("L<sub>local</sub> over C·H·W"): dist.local_reduction,
        "DiM's protocol (method at IPC)": ", ".join(f"{m} {i}" for m, i in configs.dim_protocol_cells(q)),
        "Table 2: other architectures' epochs × networks": f"{cross.epochs} × {cross.runs}"
                                                          + (f" (ResNet-18 width {cross.width})" if cross.width else ""),
        "data-free: teacher, epochs over its data": f"{label(teacher.model)} width {teacher.model_kw.get('width')}, "
                                                    f"{q.teacher_epochs}",
        "data-free: student steps × batch, seeds": f"{student.iters} × {student.batch}, {len(q.datafree_seeds)}",
        "Table 2 / Figure 3 dataset": label(q.focus_dataset),
        HTML("λ<sub>l</sub> sweep"): ", ".join(f"{x:g}" for x in q.ablation_lambdas),
    }


cols = {name: settings(q) for name, q in PROFILES.items()}
table([{"setting": k, **{name: cols[name][k] for name in PROFILES}} for k in cols["smoke"]], name="profiles",
      caption="Every budget of every profile (gdd/profiles.py).")

# %% [markdown]
# ## Running it
#
# ```bash
# make book                      # execute every notebook against results/, build _build/html
# make reproduce PROFILE=cpu     # recompute every cpu result (resumable), then re-render
# make test                      # unit tests, notebook checks (nbval, smoke runs)
# ```
