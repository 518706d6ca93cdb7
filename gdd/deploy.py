"""Stage 3: deployment. Sample any images-per-class budget from a trained generator, with no
re-optimisation: x = G(z, y) for N noise vectors per class."""
from __future__ import annotations

import time
from pathlib import Path

import torch

from gdd import data
from gdd.distill import load_state
from gdd.files import BadFile, IncompatibleCheckpoint, check_output, is_png, load_pt
from gdd.gan import Generator, to_unit
from gdd.imageset import is_image_set, save_image_set, save_preview

REQUIRED_META = ("dataset", "channels", "num_classes", "width", "noise")


def _meta_problem(meta: dict) -> str | None:
    """What in a generator's meta does not describe a gdd generator (None: nothing)."""
    spec = data.DATASETS.get(meta["dataset"])
    if spec is None:
        return f"unknown dataset {meta['dataset']!r}"
    if (meta["channels"], meta["num_classes"]) != (spec.channels, spec.num_classes):
        return f"{meta['channels']} channels and {meta['num_classes']} classes do not match {spec.name}"
    if not all(isinstance(meta[k], int) and meta[k] > 0 for k in ("width", "noise")):
        return f"width and noise must be positive integers, found {meta['width']!r} and {meta['noise']!r}"
    return None


def load_generator(path: Path, device: str | torch.device = "cpu") -> tuple[Generator, dict]:
    """The generator of a finished run (``generator.pt``, or the run folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / "generator.pt"
    if not path.exists():
        raise FileNotFoundError(f"generator checkpoint {path} does not exist; "
                                f"finish `gdd train-gan` or `gdd distill` first")
    blob = load_pt(path, "generator")
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict) or \
            not isinstance(blob.get("meta"), dict) or any(k not in blob["meta"] for k in REQUIRED_META):
        raise IncompatibleCheckpoint(f"{path} is not a gdd generator checkpoint "
                                     f"(expected 'state_dict' and meta with {', '.join(REQUIRED_META)})")
    meta = blob["meta"]
    problem = _meta_problem(meta)
    if problem:
        raise IncompatibleCheckpoint(f"{path} is not a gdd generator checkpoint: {problem}")
    G = Generator(meta["channels"], meta["num_classes"], meta["width"], meta["noise"])
    load_state(G, blob["state_dict"], path)
    return G.to(device).eval(), meta


@torch.no_grad()
def sample(G: Generator, ipc: int, seed: int = 0, batch: int = 500,
           device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``ipc`` images of every class: (images N x C x 32 x 32 in [0, 1], labels N sorted by class),
    N = ipc * classes. Same seed, same images."""
    if ipc <= 0:
        raise ValueError(f"images per class must be positive, got ipc={ipc}")
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(G.num_classes).repeat_interleave(ipc)
    z = torch.randn(len(labels), G.noise, generator=g)
    G.eval()
    images = torch.cat([to_unit(G(z[i:i + batch].to(device), labels[i:i + batch].to(device))).clamp(0, 1).cpu()
                        for i in range(0, len(labels), batch)])
    return images, labels


def sample_to_file(generator: Path, ipc: int, seed: int, out: Path, device="cpu") -> dict:
    """Write the image set ``out`` (.pt) and a grid ``out`` with .png; return timing in seconds.
    Both outputs are checked first: ``out`` must end in .pt, and existing files are overwritten
    only if they are a gdd image set and a PNG."""
    out = Path(out)
    if out.suffix != ".pt":
        raise BadFile(f"{out}: the image set must be a .pt file (its preview grid is written beside it as .png)")
    check_output(out, "image set", is_image_set)
    check_output(out.with_suffix(".png"), "preview grid (PNG)", is_png)
    t0 = time.perf_counter()
    G, meta = load_generator(generator, device)
    t1 = time.perf_counter()
    images, labels = sample(G, ipc, seed, device=device)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    t2 = time.perf_counter()
    save_image_set(images, labels, {**meta, "ipc": ipc, "seed": seed, "generator": str(generator)}, out)
    save_preview(images, ipc, Path(out).with_suffix(".png"))
    return {"load_s": t1 - t0, "sample_s": t2 - t1, "images": len(images)}
