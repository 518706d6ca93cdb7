"""The model pool: each distillation episode draws one architecture at random, initialises it
fresh, and trains it on real batches while the generator is tuned (as in DiM)."""
from __future__ import annotations

import torch

from gdd.models import MIDDLE_LAYER, MODELS, WIDTH_MODELS, StagedNet, make_model


def check_pool(names) -> tuple[str, ...]:
    names = tuple(names)
    if not names:
        raise ValueError("the model pool is empty; give at least one model name")
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown pool model(s) {unknown}; valid names: {', '.join(MODELS)}")
    return names


def draw(names, generator: torch.Generator) -> str:
    """One pool member, uniformly at random."""
    return names[int(torch.randint(len(names), (1,), generator=generator))]


def build(name: str, channels: int, num_classes: int, width: int | None = None) -> tuple[StagedNet, str]:
    """A freshly initialised pool model and the stage its local loss reads."""
    overrides = {"width": width} if width and name in WIDTH_MODELS else {}
    return make_model(name, channels, num_classes, **overrides), MIDDLE_LAYER[name]
