#!/usr/bin/env bash
# The cpu profile's recomputation on this project's 2-core machines: one process per dataset,
# 1 thread each (results differ between thread counts; every record names its thread count).
# Resumable: rerun the same command after an interruption. Logs in logs/cpu-DATASET-STAGES.log.
#   scripts/cpu_background.sh DATASET STAGE [STAGE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
dataset=$1; shift
mkdir -p logs
args=(); for s in "$@"; do args+=(--stage "$s"); done
export GDD_DATA_MIRROR=${GDD_DATA_MIRROR:-$(cd .. && pwd)/shared/data}
exec nohup .venv/bin/gdd reproduce --profile cpu --dataset "$dataset" "${args[@]}" --threads 1 --device cpu \
  >>"logs/cpu-$dataset-$(IFS=-; echo "$*").log" 2>&1
