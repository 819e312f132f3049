#!/usr/bin/env bash
# Before/after throughput of two builds of gpumlp on this machine's CPU accelerator, measured
# alternately (A, B, A, B, ...) so that drifting load hits both sides alike. Each try is one
# `gpumlp bench --device cpu` (median of its repeats); the ratio B/A is reported per pair.
#
#   bench/reference/ab-bench.sh A_REPO B_REPO OUT_DIR [PAIRS] [-- extra bench args]
#
# A_REPO and B_REPO are checkouts with src/GpuMlp.Cli built in Release (dotnet build
# src/GpuMlp.Cli -c Release) and data/mnist present. Writes OUT_DIR/ab-bench.md and the raw JSON.
set -euo pipefail
a_repo=$(cd "$1" && pwd); b_repo=$(cd "$2" && pwd); out=$3; pairs=${4:-3}
shift 3; [ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
extra=("$@")
mkdir -p "$out"; out=$(cd "$out" && pwd)
run() { # side repo index
  (cd "$2" && dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll bench --device cpu --json "$out/$1-$3.json" "${extra[@]}" >/dev/null)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); r=d['results'][0] if isinstance(d,dict) and 'results' in d else d[0]; print(r.get('train_samples_per_second') or r.get('TrainSamplesPerSecond') or r)" "$out/$1-$3.json"
}
{
  echo "# gpumlp before/after on the CPU accelerator"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores"
  echo "- A: $(git -C "$a_repo" rev-parse --short HEAD) ($a_repo); B: $(git -C "$b_repo" rev-parse --short HEAD) ($b_repo)"
  echo "- command: \`gpumlp bench --device cpu ${extra[*]}\`, alternately A then B, $pairs pairs"
  echo "- load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| pair | A train samples/s | B train samples/s | B/A | load (1 min) |"
  echo "| --- | --- | --- | --- | --- |"
} > "$out/ab-bench.md"
for i in $(seq 1 "$pairs"); do
  a=$(run a "$a_repo" "$i"); b=$(run b "$b_repo" "$i")
  ratio=$(python3 -c "print(f'{float(\"$b\")/float(\"$a\"):.3f}')")
  echo "| $i | $a | $b | $ratio | $(cut -d' ' -f1 /proc/loadavg) |" >> "$out/ab-bench.md"
done
echo >> "$out/ab-bench.md"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/ab-bench.md"
cat "$out/ab-bench.md"
