"""Speed figures on whatever device this runs on (a benchmark, not a test): prints them and
stores them as ``results/<profile>/bench-<device type>-<key>.json`` with provenance (device
name, commit, wall time). The measurements are in ``gdd/bench.py``; the book's appendix
(notebooks/90_benchmarks) shows every stored set.

  python benchmarks/bench.py --profile cpu            # "quick" scale, CPU
  python benchmarks/bench.py --profile gpu --device cuda  # "full" scale
"""
from __future__ import annotations

import argparse
import json

import torch

from gdd import bench


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu", help="its `bench` field sets the scale (tiny, quick, full)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--force", action="store_true", help="measure again even if stored")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = bench.figures(args.profile, args.device, args.force)
    print(f"{record['provenance']['device']} ({args.profile} profile, scale {record['config']['scale']}):")
    print(json.dumps(record["result"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
