#!/usr/bin/env bash
# Images/s an image-folder load reaches (ImageFolderSource): the first COUNT MNIST training digits
# written as gray PNGs under a scratch folder (<digit>/NNNNN.png), loaded REPEATS times cold (an
# emptied cache: list, read every header, decode every image in parallel, write the cache) and
# REPEATS times from the cache. Run it on a quiet machine; the load average is recorded.
#
# Writes into OUT (default bench/results/<date>-image-folder-load):
#   machine.txt   CPU model, cores, OS, git commit, .NET, load before and after
#   command.txt   the command that ran
#   load.log      one line per load: images, seconds, images/s
# Usage: bench/reference/image-folder-load.sh [OUT]
# Environment: COUNT=20000 REPEATS=3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=bench/reference/machine.sh
source bench/reference/machine.sh
out="${1:-bench/results/$(date +%Y-%m-%d)-image-folder-load}"
count="${COUNT:-20000}"
repeats="${REPEATS:-3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }

dotnet build -c Release bench/GpuMlp.Bench >/dev/null
command=(dotnet bench/GpuMlp.Bench/bin/Release/net10.0/GpuMlp.Bench.dll --image-folder-load "$scratch/mnist-png" "$count" "$repeats")
{
  machine_lines
  echo "load before: $(load)"
} > "$out/machine.txt"
echo "COUNT=$count REPEATS=$repeats ${command[*]}" > "$out/command.txt"
"${command[@]}" | tee "$out/load.log"
echo "load after: $(load)" >> "$out/machine.txt"
