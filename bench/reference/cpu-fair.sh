#!/usr/bin/env bash
# Every CPU figure the README publishes, measured in one sitting on one machine, each side at its
# best configuration (see side-by-side.sh for PyTorch's), with the machine's CPU model and load
# recorded before and after every step. Run it on a quiet machine (nothing else running; the
# load average is recorded so a reader can tell).
#
# Writes into OUT (default bench/results/<date>-cpu-fair):
#   machine.txt                 CPU model, cores, OS, git commit, load before and after
#   side-by-side-mlp.json       MLP_PAIRS pairs of PyTorch / gpumlp, MLP_EPOCHS epochs each (full data)
#   side-by-side-cnn.json       CNN_PAIRS pairs with the CNN preset, CNN_EPOCHS epoch(s) on CNN_LIMIT images, ±2-pixel shifts on both sides
#   bench-mlp.json, bench-cnn.json   gpumlp bench --device cpu (warm training steps and evaluation)
#   optimizers/*.json           scripts/optimizer-step-rates.sh: the step rate per optimiser
#   sgemm.json                  bench/reference/sgemm.py: OpenBLAS sgemm at gpumlp's GEMM shapes
#   gemm-rates.md               BenchmarkDotNet: gpumlp's CPU GEMM kernel at the same shapes, and the CNN's conv blocks (ConvBenchmarks)
#   steps.log                   what ran, when, at which load
# Usage: bench/reference/cpu-fair.sh [OUT]
# Environment: MLP_PAIRS=5 MLP_EPOCHS=2 CNN_PAIRS=3 CNN_EPOCHS=1 CNN_LIMIT=12000 SKIP="" (steps to skip:
#   mlp cnn bench optimizers sgemm gemm)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:-bench/results/$(date +%Y-%m-%d)-cpu-fair}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
scratch="$(mktemp -d)"
skip=" ${SKIP:-} "
load() { cut -d' ' -f1-3 /proc/loadavg; }
python=/usr/bin/python3
step() { echo "$(date -u +%H:%M:%S) $1: load $(load)" | tee -a "$out/steps.log" >&2; }
wanted() { [[ "$skip" != *" $1 "* ]]; }

{
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "cores: $(nproc)"
  echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^avx512(f|bw|vl|_bf16)$|^avx2$|^fma$' | sort | tr '\n' ' ')"
  echo "os: $(uname -sr)"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!bench/results' || echo ' (with uncommitted changes)')"
  echo "dotnet: $(dotnet --version)"
  echo "load before: $(load)"
  echo "OPENBLAS_* in the environment (removed for PyTorch and numpy only): $(env | grep '^OPENBLAS_' | tr '\n' ' ')"
} > "$out/machine.txt"
./gpumlp --help > /dev/null

if wanted mlp; then
  step "side-by-side MLP"
  REPEATS="${MLP_PAIRS:-5}" EPOCHS="${MLP_EPOCHS:-2}" bench/reference/side-by-side.sh "$scratch/mlp" | tee -a "$out/steps.log"
  cp "$scratch/mlp/side-by-side.json" "$out/side-by-side-mlp.json"
fi
if wanted cnn; then
  step "side-by-side CNN"
  ARCH=cnn REPEATS="${CNN_PAIRS:-3}" EPOCHS="${CNN_EPOCHS:-1}" LIMIT_TRAIN="${CNN_LIMIT:-12000}" bench/reference/side-by-side.sh "$scratch/cnn" | tee -a "$out/steps.log"
  cp "$scratch/cnn/side-by-side.json" "$out/side-by-side-cnn.json"
fi
if wanted bench; then
  step "gpumlp bench (MLP)"
  ./gpumlp bench --device cpu --json "$out/bench-mlp.json" > "$scratch/bench-mlp.log" 2>&1
  step "gpumlp bench (CNN)"
  ./gpumlp bench --device cpu --arch cnn --json "$out/bench-cnn.json" > "$scratch/bench-cnn.log" 2>&1
fi
if wanted optimizers; then
  step "optimizer step rates"
  mkdir -p "$out/optimizers"
  OUT="$out/optimizers" scripts/optimizer-step-rates.sh --repeats 5 | tee "$out/optimizers/rates.txt" | tee -a "$out/steps.log"
  rm -f "$out"/optimizers/*.log
fi
if wanted sgemm; then
  step "OpenBLAS sgemm"
  "$python" bench/reference/sgemm.py --json "$out/sgemm.json" | tee -a "$out/steps.log"
fi
if wanted gemm; then
  step "BenchmarkDotNet GEMMs"
  dotnet run -c Release --project bench/GpuMlp.Bench -- --quick --device cpu --artifacts "$scratch/bdn" \
    --filter '*GemmBenchmarks.Kernel*' '*CpuSimdGemmBenchmarks*' '*ConvBenchmarks*' > "$scratch/bdn.log" 2>&1 || { tail -30 "$scratch/bdn.log" >&2; exit 1; }
  cp "$scratch/bdn/results/gpumlp-rates.md" "$out/gemm-rates.md"
fi
echo "load after: $(load)" >> "$out/machine.txt"
step "done"
rm -rf "$scratch"
