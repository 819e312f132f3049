#!/usr/bin/env bash
# Test accuracy of the same MNIST images read from every layout --data accepts: MNIST's IDX folder,
# a Kaggle CSV folder, EMNIST-style transposed IDX (--idx-transposed) and a PNG image folder
# (written by write_formats.py, same images). Each trains the report's MLP with the same options and
# seed; the image folder lists its images by class folder, so its epochs shuffle another order and
# its accuracy may differ slightly (the bound is ±0.5 points), the others read MNIST's order.
#
# Writes into OUT (default bench/results/<date>-format-accuracy):
#   machine.txt   CPU model, cores, OS, git commit, .NET, load before and after
#   command.txt   the commands that ran
#   summary.md    one row per layout: test accuracy, macro F1, difference from IDX
#   <layout>/     each run's metrics.json and history.csv
# Usage: bench/reference/format-accuracy.sh [OUT]
# Environment: EPOCHS=5 SEED=1 MNIST=data/mnist PYTHON=/usr/bin/python3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=bench/reference/machine.sh
source bench/reference/machine.sh
out="${1:-bench/results/$(date +%Y-%m-%d)-format-accuracy}"
epochs="${EPOCHS:-5}"
seed="${SEED:-1}"
mnist="${MNIST:-data/mnist}"
python="${PYTHON:-/usr/bin/python3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }

dotnet build -c Release src/GpuMlp.Cli >/dev/null
gpumlp=(dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll)
{
  machine_lines
  echo "load before: $(load)"
} > "$out/machine.txt"
"$python" bench/reference/write_formats.py "$mnist" "$scratch/data"
export GPUMLP_CACHE_DIR="$scratch/cache"
: > "$out/command.txt"
declare -A data=([idx]="$mnist" [csv]="$scratch/data/csv" [emnist-transposed]="$scratch/data/emnist" [png-folder]="$scratch/data/png")
declare -A extra=([idx]="" [csv]="" [emnist-transposed]="--idx-transposed" [png-folder]="")
for layout in idx csv emnist-transposed png-folder; do
  cmd=("${gpumlp[@]}" train --device cpu --data "${data[$layout]}" ${extra[$layout]} --epochs "$epochs" --seed "$seed" --out "$scratch/run-$layout")
  echo "${cmd[*]}" | sed "s|$scratch|\$SCRATCH|g" >> "$out/command.txt"
  "${cmd[@]}" > "$scratch/$layout.log" 2>&1 || { cat "$scratch/$layout.log"; exit 1; }
  mkdir -p "$out/$layout"
  cp "$scratch/run-$layout/metrics.json" "$scratch/run-$layout/history.csv" "$out/$layout/"
done
echo "load after: $(load)" >> "$out/machine.txt"
"$python" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = []
for layout in ["idx", "csv", "emnist-transposed", "png-folder"]:
    with open(os.path.join(out, layout, "metrics.json")) as f:
        test = json.load(f)["test"]
    rows.append((layout, test["accuracy"], test["macro_f1"]))
base = rows[0][1]
lines = ["| layout | test accuracy | macro F1 | vs IDX (points) |", "|---|---|---|---|"]
for layout, accuracy, f1 in rows:
    lines.append(f"| {layout} | {100 * accuracy:.2f} % | {100 * f1:.2f} % | {100 * (accuracy - base):+.2f} |")
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
