#!/usr/bin/env bash
# Stage (git add -f) the finished generator runs of a profile under runs/<profile>/, so that a
# recomputation continued on another machine reuses them instead of training them again:
# of a stage-1 GAN what stage 2 starts from, of a stage-2 run what sampling needs; never a
# checkpoint. Only folders with a summary.json (finished runs) are staged.
#   scripts/keep_generators.sh [PROFILE]       (default: cpu)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-cpu}
shopt -s nullglob
for run in runs/"$profile"/*/gan-* runs/"$profile"/*/distill-*; do
  [ -f "$run/summary.json" ] || continue
  files=("$run/summary.json" "$run/config.json" "$run/generator.pt")
  case "$(basename "$run")" in
    gan-*) files+=("$run/critic.pt" "$run/optimizers.pt") ;;
    distill-*) files+=("$run/losses.csv") ;;
  esac
  git add -f -- "${files[@]}"
  echo "kept $run"
done
