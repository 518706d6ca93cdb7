"""List (or delete) a profile's stored records that no grid of the book reads any more: records
of configurations the code no longer builds (a changed default, a changed budget), and the sample
images only those records pointed to. Nothing is computed: every grid of ``gdd.grids.STAGES`` is
walked in render-only mode and the record paths it asks for are kept.

  python scripts/prune_records.py --profile cpu            # list
  python scripts/prune_records.py --profile cpu --delete   # delete them (git keeps the history)

Run it when a recomputation is complete: a grid whose first records are missing may not ask for
the later ones (the data-free methods are only asked for once the weight sweep is stored).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gdd.results as results  # noqa: E402
from gdd import notebook  # noqa: E402
from gdd.grids import STAGES  # noqa: E402


def read_paths(profile: str, device: str = "cpu") -> set[Path]:
    """The record paths every grid of ``profile`` asks for (stored or not)."""
    asked: set[Path] = set()
    original = results.result_path

    def recording(name, config, profile_name):
        path = original(name, config, profile_name)
        asked.add(path.resolve())
        return path

    results.result_path = recording
    try:
        p = notebook.setup(profile, device, None, quiet=True, compute=False)
        for stage in STAGES:
            notebook.stored_grid(stage, p, device)
    finally:
        results.result_path = original
    return asked


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--delete", action="store_true", help="delete the records and images no grid reads")
    args = ap.parse_args(argv)
    asked = read_paths(args.profile)
    folder = results.results_root().resolve() / args.profile
    stored = sorted(folder.glob("*.json"))
    orphans = [f for f in stored if f.resolve() not in asked]
    kept = [f for f in stored if f.resolve() in asked]
    images = {Path(results.local(v)).resolve() for f in kept
              for v in json.loads(f.read_text())["result"].values() if isinstance(v, str) and v.endswith(".png")}
    loose = [f for f in sorted((folder / "images").glob("*.png")) if f.resolve() not in images]
    for f in orphans + loose:
        print(f.relative_to(folder.parent))
        if args.delete:
            f.unlink()
    print(f"{len(orphans)} of {len(stored)} records and {len(loose)} images are read by no grid of profile "
          f"{args.profile}" + ("; deleted" if args.delete else " (--delete removes them)"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
