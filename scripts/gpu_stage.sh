#!/usr/bin/env bash
# One resumable stage of `make reproduce PROFILE=gpu`, run on a lent GPU machine through the
# device tool (see book/reproduce.md). The machine has PyTorch but not gdd's other needs:
# carry `.whl` (wheels: tqdm) and `data` (MNIST/FashionMNIST raw .gz files, ~42 MB), e.g.
#   run(command="bash scripts/gpu_stage.sh table1 mnist", carry=[".whl", "data/MNIST/raw", "data/FashionMNIST/raw"])
# Each call stops itself before the 10-minute limit; the next call with the same arguments on
# the still-warm machine resumes from the last checkpoint. Results (JSON + small PNGs) are
# packed into $OUT/results.tar.gz to be unpacked over results/ here. A rehearsal on a CPU:
#   GDD_STAGE_PROFILE=smoke GDD_STAGE_DEVICE=cpu OUT=/tmp/out bash scripts/gpu_stage.sh table1 mnist
set -euo pipefail
stage=${1:?stage: table1 | table2 | figure3 | figures | datafree | redeploy | bench (gdd/grids.py STAGES)}
dataset=${2:-}
budget=${GPU_STAGE_SECONDS:-540}
profile=${GDD_STAGE_PROFILE:-gpu}
device=${GDD_STAGE_DEVICE:-cuda}
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export GDD_DATA=$PWD/data GDD_RESULTS=$PWD/results GDD_RUNS=${GDD_RUNS:-/tmp/gdd-runs} PYTHONUNBUFFERED=1
nvidia-smi -L || true
find / -maxdepth 5 \( -path /proc -o -path /sys -o -path "$PWD" \) -prune -o -iname 'cifar-10*' -print 2>/dev/null \
  | head -5 | grep . || echo "no CIFAR-10 copy on this machine"
start=$(date +%s)
args=(--profile "$profile" --stage "$stage" --device "$device")
[ -n "$dataset" ] && args+=(--dataset "$dataset")
timeout "$budget" python3 -m gdd reproduce "${args[@]}" || echo "stage stopped at its time budget: call again to resume"
echo "wall time: $(( $(date +%s) - start )) s"
mkdir -p "${OUT:-/tmp/out}"
tar czf "${OUT:-/tmp/out}/results.tar.gz" results
