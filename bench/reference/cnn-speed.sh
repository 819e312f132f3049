#!/usr/bin/env bash
# The CPU speed of the CNN step, before and after a change, in one sitting:
#   1. per part, the current build: every case of ConvBenchmarks (the two conv blocks and each of
#      their launches) and of StepPartsBenchmarks (a whole step and its network-level parts, CNN
#      preset and MLP), called in turn round after round (`GpuMlp.Bench --alternate`), min /
#      median / max per case;
#   2. ConvBenchmarks' Forward and Backward through BenchmarkDotNet, the BEFORE build and this one
#      alternately, ROUNDS_BDN times each (the BEFORE build's bench has no --alternate);
#   3. end to end: `gpumlp bench --device cpu --arch cnn`, BEFORE then this build, PAIRS pairs
#      (bench/reference/ab-bench.sh).
# Nothing else should run meanwhile; the load average is recorded before and after each part (the
# benchmarks' own worker threads count in it: 2-3 while one runs on 2 cores).
#
# Usage: bench/reference/cnn-speed.sh OUT [BEFORE_REV]     (BEFORE_REV defaults to 78aa3e4)
# Environment: ROUNDS=12 (--alternate rounds), ROUNDS_BDN=2, PAIRS=6, STEPS=60 (gpumlp bench steps).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
out=$1
before=${2:-78aa3e4}
rounds=${ROUNDS:-12}
rounds_bdn=${ROUNDS_BDN:-2}
pairs=${PAIRS:-6}
steps=${STEPS:-60}
mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d)
trap 'git worktree remove --force "$scratch/before" > /dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
# shellcheck source=bench/reference/machine.sh
. bench/reference/machine.sh
load() { cut -d' ' -f1-3 /proc/loadavg; }
{
  machine_lines
  echo "before: $(git rev-parse "$before")"
  echo "load at start: $(load)"
} > "$out/machine.txt"

echo "building this tree and $before"
dotnet build -c Release src/GpuMlp.Cli > /dev/null
dotnet build -c Release bench/GpuMlp.Bench > /dev/null
git worktree add --detach "$scratch/before" "$before" > /dev/null 2>&1
ln -s "$root/data" "$scratch/before/data"
(cd "$scratch/before" && dotnet build -c Release src/GpuMlp.Cli > /dev/null && dotnet build -c Release bench/GpuMlp.Bench > /dev/null)

bench_after=(dotnet "$root/bench/GpuMlp.Bench/bin/Release/net10.0/GpuMlp.Bench.dll")
bench_before=(dotnet "$scratch/before/bench/GpuMlp.Bench/bin/Release/net10.0/GpuMlp.Bench.dll")

echo "1. per part (--alternate, $rounds rounds)"
for case in ConvBenchmarks StepPartsBenchmarks:Arch=cnn StepPartsBenchmarks:Arch=mlp; do
  name=$(echo "$case" | tr ':=' '--' | tr 'A-Z' 'a-z')
  echo "$case: load before $(load)" >> "$out/loads.txt"
  "${bench_after[@]}" --alternate "$case" "$rounds" | sed -n '/rounds, cases called in turn/,$p' > "$out/parts-$name.md"
  echo "$case: load after $(load)" >> "$out/loads.txt"
done

echo "2. ConvBenchmarks Forward/Backward, BenchmarkDotNet, before and after alternately"
for round in $(seq 1 "$rounds_bdn"); do
  for side in before after; do
    echo "bdn $side $round: load before $(load)" >> "$out/loads.txt"
    if [ "$side" = before ]; then runner=("${bench_before[@]}"); else runner=("${bench_after[@]}"); fi
    (cd "$scratch" && "${runner[@]}" --quick --iterations 9 --device cpu \
      --filter '*ConvBenchmarks.Forward' '*ConvBenchmarks.Backward' > "$scratch/bdn.log" 2>&1)
    grep -E '^\| (Forward|Backward) ' "$scratch/bdn.log" > "$out/bdn-$side-$round.md" || true
    echo "bdn $side $round: load after $(load)" >> "$out/loads.txt"
  done
done

echo "3. end to end, gpumlp bench --arch cnn, $pairs pairs"
bench/reference/ab-bench.sh "$scratch/before" "$root" "$out/ab-cnn" "$pairs" -- --arch cnn --steps "$steps" --eval-images 500 > /dev/null
echo "load at end: $(load)" >> "$out/machine.txt"
echo "wrote $out"
