#!/usr/bin/env bash
# Training recipes (by default the report's MLP, 784-512-256-10, Adam 1e-3, batch 128, dropout 0.2, with and without the device's
# distortions, scored on VALIDATION data only: the last 10 % of the training file (gpumlp train's
# default --val-split 0.1) with --no-test, so the test set is never evaluated here. One run per
# recipe, the same seed; the figures are each run's history.csv (best and final validation accuracy).
#
# Writes $OUT/<recipe>/ (config.json, history.csv, model, curves) and $OUT/summary.md (the commands,
# the machine, its load before and after, and the table).
#
# Usage: bench/reference/augmentation-val.sh [OUT]   (default runs/augmentation-val-<timestamp>)
# Environment: EPOCHS=15, SEED=1, DEVICE=cpu, DATA=data/mnist, CLI (the command that runs gpumlp),
#   RECIPES="name=flags;name=flags;..." (default: none, and affine + elastic as below).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:-runs/augmentation-val-$(date +%Y%m%d-%H%M%S)}"
epochs="${EPOCHS:-15}"
seed="${SEED:-1}"
device="${DEVICE:-cpu}"
data="${DATA:-data/mnist}"
default_recipes="none="
default_recipes+=";affine-elastic=--augment-rotate 10 --augment-scale 0.1 --augment-translate 0.1 --elastic-alpha 34 --elastic-sigma 4"
recipes="${RECIPES:-$default_recipes}"
read -r -a cli <<< "${CLI:-dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll}"

mkdir -p "$out"
summary="$out/summary.md"
{
  echo "# Training recipes scored on validation data only (the test set is never read)"
  echo
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) logical CPUs; load before: $(uptime)"
  echo
} > "$summary"
IFS=';' read -r -a entries <<< "$recipes"
for entry in "${entries[@]}"; do
  name="${entry%%=*}"
  flags="${entry#*=}"
  # shellcheck disable=SC2086 # the flags are words
  command=("${cli[@]}" train --device "$device" --data "$data" --epochs "$epochs" --seed "$seed" --no-test --out "$out/$name" $flags)
  echo "\`${command[*]}\`" >> "$summary"
  echo >> "$summary"
  rm -rf "${out:?}/$name"
  "${command[@]}" | tail -n 3
done
{
  echo "load after: $(uptime)"
  echo
  echo "| recipe | epochs | final val acc % | best val acc % (epoch) | final val loss |"
  echo "| --- | --- | --- | --- | --- |"
  for entry in "${entries[@]}"; do
    name="${entry%%=*}"
    python3 - "$out/$name/history.csv" "$name" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
acc = lambda r: float(r["val_accuracy"])
best = max(rows, key=acc)
last = rows[-1]
scale = 100 if acc(last) <= 1 else 1
print(f"| {sys.argv[2]} | {len(rows)} | {acc(last) * scale:.2f} | {acc(best) * scale:.2f} ({best['epoch']}) | {float(last['val_loss']):.4f} |")
PY
  done
} >> "$summary"
cat "$summary"
