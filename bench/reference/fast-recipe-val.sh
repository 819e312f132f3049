#!/usr/bin/env bash
# The fast recipe's candidates, scored on VALIDATION data only (--no-test: the test set is never
# read): tuomaso/train_mnist_fast's network and OneCycle settings for 1 and 2 epochs (t1, t2), and
# the same network with BatchNorm after each convolution for 1 epoch (tb1); seeds 1 and 2 each,
# trained on the first 54,000 images of the training file, scored on the last 6,000.
# The rule, fixed before the runs: among the candidates whose validation accuracy has a mean of at
# least 99.0 % over the seeds and no seed below 98.9 %, the one with the least training time.
#
# Writes $OUT/<candidate>-seed<S>/ (config.json, history.csv, model, curves), $OUT/<...>.log and
# $OUT/run.log (the load before each run and each run's last history row).
# Usage: bench/reference/fast-recipe-val.sh OUT      Environment: CLI (the command that runs gpumlp), DEVICE=cpu
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:?usage: fast-recipe-val.sh OUT}"
device="${DEVICE:-cpu}"
read -r -a cli <<< "${CLI:-dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll}"
mkdir -p "$out"
plain="conv5x5x24,pool2,relu,conv3x3x32,pool2,relu,flatten,dense256,relu,dense10"
with_bn="conv5x5x24,bn,relu,pool2,conv3x3x32,bn,relu,pool2,flatten,dense256,relu,dense10"
recipe=(--augment-shift 0 --batch-size 256 --lr 0.01 --betas 0.7,0.9 --lr-schedule onecycle --cycle-momentum off)
for seed in 1 2; do
  for candidate in "t1|$plain|1" "t2|$plain|2" "tb1|$with_bn|1"; do
    IFS='|' read -r name arch epochs <<< "$candidate"
    echo "$name seed $seed: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/run.log"
    rm -rf "${out:?}/$name-seed$seed"
    "${cli[@]}" train --device "$device" --seed "$seed" --no-test --arch "$arch" --epochs "$epochs" "${recipe[@]}" \
      --out "$out/$name-seed$seed" > "$out/$name-seed$seed.log" 2>&1
    tail -n 1 "$out/$name-seed$seed/history.csv" | tee -a "$out/run.log"
  done
done
