"""Numbers and claims published in the papers, each with its source (never computed here).

Everything here comes from ``PAPERS.md`` section 7 (and the text claims of sections 1 and 4) of
the project's reference notes; nothing else may be shown as published. The GDD paper's own
Table 1, Table 2 and Figure 3 values are not available to us: the notebooks that reproduce
them say so.

- ``ACCURACY``: test accuracy (%) of distilled data, one ``Number`` per method x dataset x IPC;
- ``DATAFREE``: Fast-Datafree's CIFAR-10 table (teacher -> student accuracy and hours);
- ``CLAIMS``: the papers' claims in words (GDD's text, SSD-KD's abstract);
- ``beside(...)``: our results with the published rows of the same setting, as a ``Table``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class HTML(str):
    """A string that is already HTML (not escaped in tables); ``plain`` is its text form."""

    @property
    def plain(self) -> str:
        return re.sub(r"<[^>]+>", "", re.sub(r"<sub>(.*?)</sub>", r"_\1", self))


import re



@dataclass(frozen=True)
class Source:
    """Where a published number comes from: a short citation, a link, and its bibliography key(s)
    in ``book/references.bib`` (cited in the text near every table that shows it)."""
    text: str
    url: str
    keys: tuple[str, ...] = ()

    def html(self) -> str:
        from html import escape
        return f'<a href="{escape(self.url)}">{escape(self.text)}</a>'


@dataclass(frozen=True)
class Number:
    """One published accuracy (%): ``ipc`` None is the whole training set."""
    method: str
    dataset: str
    ipc: int | None
    mean: float
    std: float | None
    source: Source
    model: str = "convnet3"
    note: str = ""
    tables: tuple[str, ...] = ("table1",)   # which of our tables it is shown beside

    @property
    def value(self):
        return self.mean if self.std is None else (self.mean, self.std)


DC_README = Source("DC/DSA code README; std: Nguyen et al. 2021, Table 1",
                   "https://github.com/VICO-UoE/DatasetCondensation", ("zhao2021dc", "zhao2021dsa", "nguyen2021kip"))
KIP_T1 = Source("Nguyen et al. 2021, Table 1", "https://arxiv.org/abs/2107.13034", ("nguyen2021kip", "bohdal2020ld"))
KIP_T2 = Source("Nguyen et al. 2021, Table 2", "https://arxiv.org/abs/2107.13034", ("nguyen2021kip",))
FTD_T1 = Source("Du et al. 2023 (FTD), Table 1, quoting MTT", "https://arxiv.org/abs/2211.11004",
                ("du2023ftd", "cazenavette2022mtt"))
DIM_ABSTRACT = Source("Wang et al. 2023 (DiM), abstract", "https://arxiv.org/abs/2303.04707", ("wang2023dim",))
FAST_DATAFREE = Source("Fang et al. 2022 (Fast-Datafree), CIFAR-10 table", "https://arxiv.org/abs/2112.06253",
                       ("fang2022fast",))
SSDKD_ABSTRACT = Source("Liu et al. 2024 (SSD-KD), abstract", "https://arxiv.org/abs/2406.07876", ("liu2024ssdkd",))
GDD_TEXT = Source("Li et al. 2024 (GDD), text of the experiments section", "https://arxiv.org/abs/2404.17732",
                  ("li2024gdd",))
GDD_FIG3 = Source("Li et al. 2024 (GDD), Figure 3", "https://arxiv.org/abs/2404.17732", ("li2024gdd",))
GDD_TABLE2 = Source("Li et al. 2024 (GDD), Table 2 and its discussion (values not available to us)",
                    "https://arxiv.org/abs/2404.17732", ("li2024gdd",))
GDD_ABSTRACT = Source("Li et al. 2024 (GDD), abstract and introduction", "https://arxiv.org/abs/2404.17732",
                      ("li2024gdd",))
SSDKD_FIG2 = Source("Liu et al. 2024 (SSD-KD), Figure 2", "https://arxiv.org/abs/2406.07876", ("liu2024ssdkd",))
SSDKD_METHOD = Source("Liu et al. 2024 (SSD-KD), method and ablation (tables not available to us)",
                      "https://arxiv.org/abs/2406.07876", ("liu2024ssdkd",))


def _ipcs(method, dataset, values, source, model="convnet3", ipcs=(1, 10, 50)) -> list[Number]:
    """``values``: one per IPC, a mean or a (mean, std)."""
    return [Number(method, dataset, ipc, *(v if isinstance(v, tuple) else (v, None)), source, model)
            for ipc, v in zip(ipcs, values)]


ACCURACY: list[Number] = [
    *_ipcs("DC", "mnist", [(91.7, 0.5), (97.4, 0.2), (98.8, 0.1)], DC_README),
    *_ipcs("DC", "fashion_mnist", [(70.5, 0.6), (82.3, 0.4), (83.6, 0.4)], DC_README),
    *_ipcs("DSA", "mnist", [(88.7, 0.6), (97.8, 0.1), (99.2, 0.1)], DC_README),
    *_ipcs("DSA", "fashion_mnist", [(70.6, 0.6), (84.6, 0.3), (88.7, 0.2)], DC_README),
    *_ipcs("KIP → network", "mnist", [90.1, 97.5, 98.4], KIP_T2, "width-1024 network"),
    *_ipcs("KIP → network", "fashion_mnist", [73.8, 86.8, 87.8], KIP_T2, "width-1024 network"),
    *_ipcs("LD", "mnist", [(60.9, 3.2), (87.3, 0.7), (93.3, 0.3)], KIP_T1, "alexnet"),
    Number("whole training set", "cifar10", None, 84.8, 0.1, FTD_T1),
    *_ipcs("DC", "cifar10", [(28.3, 0.5), (44.9, 0.5), (53.9, 0.5)], FTD_T1),
    *_ipcs("DM", "cifar10", [(26.0, 0.8), (48.9, 0.6), (63.0, 0.4)], FTD_T1),
    *_ipcs("DSA", "cifar10", [(28.8, 0.7), (52.1, 0.5), (60.6, 0.5)], FTD_T1),
    *_ipcs("CAFE", "cifar10", [(30.3, 1.1), (46.3, 0.6), (55.5, 0.6)], FTD_T1),
    *_ipcs("MTT", "cifar10", [(46.2, 0.8), (65.4, 0.7), (71.6, 0.2)], FTD_T1),
    Number("DiM", "cifar10", 10, 72.6, None, DIM_ABSTRACT, note="its own protocol", tables=("table1", "table2")),
    Number("DiM", "cifar10", 10, 75.1, None, DIM_ABSTRACT, "resnet18", "its own protocol", tables=("table2",)),
]


@dataclass(frozen=True)
class DataFree:
    """One row of Fast-Datafree's CIFAR-10 table: student accuracy (%) and training hours."""
    pair: str
    method: str
    accuracy: float
    hours: float | None
    source: Source = FAST_DATAFREE


_R34, _W40 = "ResNet-34 → ResNet-18", "WRN-40-2 → WRN-16-2"
DATAFREE: list[DataFree] = [
    DataFree(_R34, "teacher", 95.70, None), DataFree(_R34, "DeepInversion", 93.26, 42.1),
    DataFree(_R34, "CMI", 94.84, 19.0), DataFree(_R34, "DAFL", 92.22, 2.73), DataFree(_R34, "ZSKT", 93.32, 1.67),
    DataFree(_R34, "DFQ", 94.61, 8.79), DataFree(_R34, "Fast-10", 94.05, 0.28),
    DataFree(_W40, "teacher", 94.87, None), DataFree(_W40, "DeepInversion", 89.72, None),
    DataFree(_W40, "CMI", 92.52, None), DataFree(_W40, "Fast-10", 92.45, 0.17),
]


@dataclass(frozen=True)
class Claim:
    """A claim of a paper in words, with its source."""
    key: str
    text: str
    source: Source
    value: Any = None       # the number the claim names, where it names one


CLAIMS: dict[str, Claim] = {c.key: c for c in [
    Claim("table1_ordering", "distillation improves the generator: in Table 1, gdd and dim above the plain "
          "cGAN (cgan) in most settings", GDD_TEXT),
    Claim("gdd_over_dim", "GDD is about +0.5 point above DiM in most settings of Table 1", GDD_TEXT),
    Claim("gdd_over_dim_ipc1", "GDD is about +1 point above DiM at IPC 1", GDD_TEXT),
    Claim("best_lambda_l", HTML("accuracy against λ<sub>l</sub> (λ<sub>g</sub> = 0.01) peaks at λ<sub>l</sub> = 0.001"),
          GDD_FIG3, 0.001),
    Claim("cross_arch", "the local term makes the distilled data generalise better to other architectures: "
          "gdd above dim on ResNet-18, AlexNet and VGG-11 (Table 2)", GDD_TABLE2),
    Claim("redeploy", "a generator re-deploys at a new IPC without re-optimisation: sampling costs a small "
          "fraction (here: under 1 %) of the distillation", GDD_ABSTRACT, 0.01),
    Claim("ssdkd_fewer_samples", "SSD-KD trains with about 10× fewer synthetic samples than the original "
          "training set, at competitive accuracy", SSDKD_ABSTRACT),
    Claim("ssdkd_faster", "SSD-KD is one or two orders of magnitude faster overall than mainstream "
          "data-free KD", SSDKD_ABSTRACT),
    Claim("phi_flattens", HTML("the modulation φ flattens the class distribution of the synthetic samples "
                               "(higher entropy of the teacher-predicted classes)"), SSDKD_FIG2),
    Claim("priority_helps", "priority sampling of the replay buffer improves the student", SSDKD_METHOD),
]}

def accuracy(dataset: str | None = None, ipc: int | None = None, model: str | None = None,
             shown_in: str | None = None) -> list[Number]:
    """The published accuracies of ``dataset`` / ``ipc`` / ``model`` / our table (None: any)."""
    return [n for n in ACCURACY if (dataset is None or n.dataset == dataset) and (ipc is None or n.ipc == ipc)
            and (model is None or n.model == model) and (shown_in is None or shown_in in n.tables)]
