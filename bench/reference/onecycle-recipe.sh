#!/usr/bin/env bash
# tuomaso/train_mnist_fast's final recipe (8_Final_00s76.ipynb: 99.04 % +- 0.07 on MNIST's test set
# after one epoch) as a gpumlp command line: its network (conv 5x5x24, pool, relu, conv 3x3x32,
# pool, relu, dense 256, relu, dense 10), one epoch over all 60,000 training images in batches of
# 256, Adam lr 0.01 betas 0.7,0.9, OneCycleLR with torch's defaults but cycle_momentum=False.
# Differences that remain: gpumlp shuffles every epoch (the notebook takes the batches in file order)
# and initialises with its own seed.
#
#   bench/reference/onecycle-recipe.sh OUT_DIR [DEVICE] [SEEDS...]
#
# Needs src/GpuMlp.Cli built in Release and data/mnist. Writes OUT_DIR/recipe.md (machine, load,
# command, test accuracy and wall time per seed) and each run's folder OUT_DIR/seed-N, less its
# checkpoint and model file (a few MiB that a results folder does not need).
set -euo pipefail
out=$1; device=${2:-auto}; shift $(( $# >= 2 ? 2 : $# )); seeds=("$@"); [ ${#seeds[@]} -eq 0 ] && seeds=(1)
mkdir -p "$out"; out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
arch="conv5x5x24,pool2,relu,conv3x3x32,pool2,relu,flatten,dense256,relu,dense10"
flags=(--arch "$arch" --augment-shift 0 --epochs 1 --batch-size 256 --lr 0.01 --betas 0.7,0.9 --lr-schedule onecycle --cycle-momentum off --val-split 0)
{
  echo "# tuomaso/train_mnist_fast's recipe in gpumlp"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; device $device"
  echo "- commit: $(git rev-parse --short HEAD)"
  echo "- command: \`gpumlp train --device $device ${flags[*]} --seed N --out DIR\`"
  echo "- load before: $(uptime | sed 's/.*load average: //')"
  echo
  echo "| seed | test accuracy | wall seconds | load (1 min) after |"
  echo "| --- | --- | --- | --- |"
} > "$out/recipe.md"
for seed in "${seeds[@]}"; do
  start=$(date +%s.%N)
  dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll train --device "$device" "${flags[@]}" --seed "$seed" --out "$out/seed-$seed" > "$out/seed-$seed.log" 2>&1
  end=$(date +%s.%N)
  accuracy=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); t=m.get('test', m); print('%.2f %%' % (100*t['accuracy']))" "$out/seed-$seed/metrics.json")
  rm -f "$out/seed-$seed/checkpoint.bin" "$out/seed-$seed/model.safetensors"
  echo "| $seed | $accuracy | $(python3 -c "print('%.1f' % ($end - $start))") | $(cut -d' ' -f1 /proc/loadavg) |" >> "$out/recipe.md"
done
cat "$out/recipe.md"
