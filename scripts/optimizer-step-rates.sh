#!/usr/bin/env bash
# Training-step rate of the report's MLP on the CPU SIMD path, once per optimiser (torch.optim
# defaults for each, via `gpumlp bench --optimizer`), with the machine's load before each run.
# Prints one line per optimiser: name, median train samples/s, steps/s (= samples/s / batch), load.
#
# Usage: scripts/optimizer-step-rates.sh [extra bench flags, e.g. --steps 400 --repeats 5]
# Env:   OPTIMIZERS (default "adam adamw sgd rmsprop"), BATCH (default 128), OUT (JSON folder,
#        default a temporary one, kept and printed).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-$(mktemp -d)}"
batch="${BATCH:-128}"
mkdir -p "$out"
"$root/gpumlp" --version >/dev/null 2>&1 || true # build once up front
for optimizer in ${OPTIMIZERS:-adam adamw sgd rmsprop}; do
  load="$(cut -d' ' -f1-3 /proc/loadavg)"
  "$root/gpumlp" bench --device cpu --optimizer "$optimizer" --batch-size "$batch" --json "$out/$optimizer.json" "$@" >"$out/$optimizer.log" 2>&1 \
    || { cat "$out/$optimizer.log" >&2; exit 1; }
  python3 - "$out/$optimizer.json" "$optimizer" "$batch" "$load" <<'PY'
import json, sys
path, name, batch, load = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
r = json.load(open(path))["results"][0]
rate = r["train_samples_per_second"]
runs = ", ".join(f"{x:.0f}" for x in r["train_samples_per_second_runs"])
print(f"{name:8s} {rate:10.0f} samples/s {rate / batch:8.1f} steps/s  (runs {runs}; {r['cpu_simd']}, {r['cpu_workers']} workers; load before {load})")
PY
done
echo "JSON and logs: $out"
