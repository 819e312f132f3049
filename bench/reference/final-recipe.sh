#!/usr/bin/env bash
# A final recipe's test accuracy over several seeds, and the ensemble of those runs. The recipe was
# chosen beforehand on validation data only (augmentation-val.sh for the MLP's distortions); here
# each seed trains once with the recipe's flags (the default --val-split 0.1 kept, so the run is
# the one validated) and reads the test set once at its end, then `gpumlp eval` scores the
# ensemble of the seeds' models (mean class probabilities) on the same test set.
#
# Writes $OUT/seed-<n>/ (each run folder without its checkpoint), $OUT/ensemble.txt (eval's output)
# and $OUT/summary.md (machine, load before and after, commands, per-seed test accuracy and wall
# time, mean and range, the ensemble's accuracy).
#
# Usage: bench/reference/final-recipe.sh OUT "FLAGS" [SEEDS...]   (default seeds 1 2 3)
# Environment: DEVICE=cpu, DATA=data/mnist, CLI (the command that runs gpumlp)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="$1"
flags="$2"
shift 2
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
device="${DEVICE:-cpu}"
data="${DATA:-data/mnist}"
read -r -a cli <<< "${CLI:-dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll}"
mkdir -p "$out"
summary="$out/summary.md"
{
  echo "# Final recipe over ${#seeds[@]} seeds: \`$flags\`"
  echo
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) logical CPUs, device $device"
  echo "commit: $(git rev-parse HEAD)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
} > "$summary"
models=()
for seed in "${seeds[@]}"; do
  run="$out/seed-$seed"
  rm -rf "$run"
  # shellcheck disable=SC2086 # the flags are words
  command=("${cli[@]}" train --device "$device" --data "$data" --seed "$seed" --out "$run" $flags)
  echo "\`${command[*]}\`" >> "$summary"
  start=$(date +%s.%N)
  "${command[@]}" > "$out/seed-$seed.log" 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc > "$run/wall-seconds.txt"
  rm -f "$run/checkpoint.bin"
  models+=(--model "$run")
done
echo >> "$summary"
ensemble=("${cli[@]}" eval --device "$device" --data "$data" "${models[@]}" --json)
echo "\`${ensemble[*]}\`" >> "$summary"
"${ensemble[@]}" > "$out/ensemble.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$summary"
python3 - "$out" "${seeds[@]}" >> "$summary" <<'PY'
import json, os, sys
out, seeds = sys.argv[1], sys.argv[2:]
print()
print("| seed | test accuracy % | macro F1 % | wall s |")
print("| --- | --- | --- | --- |")
accs = []
for seed in seeds:
    run = os.path.join(out, f"seed-{seed}")
    test = json.load(open(os.path.join(run, "metrics.json")))["test"]
    wall = float(open(os.path.join(run, "wall-seconds.txt")).read())
    accs.append(100 * test["accuracy"])
    print(f"| {seed} | {100 * test['accuracy']:.2f} | {100 * test['macro_f1']:.2f} | {wall:.0f} |")
mean = sum(accs) / len(accs)
ens = 100 * json.load(open(os.path.join(out, "ensemble.json")))["test"]["accuracy"]
print()
print(f"mean {mean:.3f} %, range {min(accs):.2f}–{max(accs):.2f} %; ensemble of the {len(seeds)} runs (mean probabilities) {ens:.2f} % ({ens - mean:+.2f} points over the mean)")
PY
cat "$summary"
