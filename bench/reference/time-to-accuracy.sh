#!/usr/bin/env bash
# Time to accuracy, side by side: one recipe trained by `gpumlp train` and by its PyTorch twin
# (bench/reference/pytorch_recipe.py: the same layer stack, optimiser, schedule, batch, augmentation
# and split), each stopping after the first epoch whose validation accuracy (the last 10 % of the
# training file) reaches TARGET; the test set is read once per run, at its end, for the record.
# Both sides check at the same points (the end of every epoch) and count the same things:
#   train seconds        from the first training step to the end of the check that reached the
#                        target (steps and every epoch's validation; gpumlp also writes its
#                        checkpoint after every epoch, which it does in any run)
#   since-start seconds  from the process's start to the same moment (runtime start-up, imports,
#                        reading the data, kernel compilation or torch.compile included)
# PyTorch runs at its best configuration: every thread count in TORCH_THREADS per seed, the faster
# counting (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment only, as
# side-by-side.sh does); on a GPU also torch.compile (TORCH_COMPILE=1). A run that misses the
# target in its epochs counts as not reached.
#
# Writes $OUT/recipe.txt (the recipe, target, seeds, device) and $OUT/machine.txt first, then per
# run as it finishes $OUT/gpumlp-seed-S/ (the run folder, less checkpoint and model) and
# $OUT/torch-seed-S-tT-VARIANT.json (rewritten after every epoch), and at the end $OUT/summary.md
# (the commands, loads before and after every run, a table per seed and the medians and ratios).
# A run stopped part-way thus still leaves every finished run's files.
#
# Runs from its own folder's siblings (machine.sh, pytorch_recipe.py, recipes/fast.flags), so a copy
# of the four files elsewhere (the GPU bundle's reference/ folder) works as well as bench/reference.
#
# Usage: bench/reference/time-to-accuracy.sh OUT
# Environment:
#   RECIPE            the recipe's flags, the same words for both sides (default: recipes/fast.flags)
#   RECIPE_EXTRA      more flags appended to the recipe on both sides (e.g. "--limit-train 2000")
#   TARGET=0.99       the validation accuracy to reach
#   SEEDS="1 2 3"     one gpumlp run and one PyTorch run per configuration per seed
#   DEVICE=cpu        cpu or cuda (both sides)
#   TORCH_THREADS     PyTorch intra-op threads to try on the CPU (default "1 <cores>")
#   TORCH_COMPILE=0   1: also torch.compile (torch 2; not on the CPU here)
#   CLI               the command that runs gpumlp (default: the Release build with dotnet)
#   PYTHON            a python3 with torch (default: python3 if it imports torch, else /usr/bin/python3)
#   DATA=data/mnist
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
# The scripts' folder as the commands name it: bench/reference in the repository.
ref="${here#"$root"/}"
out="${1:?usage: time-to-accuracy.sh OUT}"
recipe="${RECIPE:-$(grep -v '^#' "$ref/recipes/fast.flags" | tr '\n' ' ')}"
[ -z "${RECIPE_EXTRA:-}" ] || recipe="${recipe% } $RECIPE_EXTRA"
target="${TARGET:-0.99}"
read -r -a seeds <<< "${SEEDS:-1 2 3}"
device="${DEVICE:-cpu}"
data="${DATA:-data/mnist}"
read -r -a threads <<< "${TORCH_THREADS:-1 $(nproc)}"
[ "$device" = cpu ] || threads=(default)
compile="${TORCH_COMPILE:-0}"
read -r -a cli <<< "${CLI:-dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if python3 -c 'import torch' 2>/dev/null; then python=python3; else python=/usr/bin/python3; fi
fi
torch_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
# shellcheck source=bench/reference/machine.sh
source "$ref/machine.sh"
mkdir -p "$out"
{
  echo "recipe: ${recipe% }"
  echo "target: $target"
  echo "seeds: ${seeds[*]}"
  echo "device: $device"
  echo "torch.compile: $compile"
} > "$out/recipe.txt"
{
  machine_lines 2>/dev/null || true
  echo "torch: $("$python" -c 'import torch; print(torch.__version__)')"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
read -r -a flags <<< "$recipe"
log="$out/runs.log"
: > "$log"
for seed in "${seeds[@]}"; do
  run="$out/gpumlp-seed-$seed"
  rm -rf "$run"
  command=("${cli[@]}" train --device "$device" --data "$data" --seed "$seed" --target-accuracy "$target" --out "$run" "${flags[@]}")
  echo "load $(cut -d' ' -f1 /proc/loadavg): ${command[*]}" >> "$log"
  "${command[@]}" > "$out/gpumlp-seed-$seed.log" 2>&1 || { echo "gpumlp failed: see $out/gpumlp-seed-$seed.log" >&2; exit 1; }
  rm -f "$run/checkpoint.bin" "$run/model.safetensors"
  for t in "${threads[@]}"; do
    variants=(eager)
    [ "$compile" = 1 ] && variants+=(compile)
    for variant in "${variants[@]}"; do
      name="torch-seed-$seed-t$t-$variant"
      extra=()
      [ "$t" = default ] || extra+=(--threads "$t")
      [ "$variant" = compile ] && extra+=(--compile)
      command=("${torch_env[@]}" "$python" "$ref/pytorch_recipe.py" --device "$device" --data "$data" --seed "$seed"
        --target-accuracy "$target" --out "$out/$name.json" "${extra[@]}" "${flags[@]}")
      echo "load $(cut -d' ' -f1 /proc/loadavg): ${command[*]}" >> "$log"
      "${command[@]}" > /dev/null 2> "$out/$name.log" || echo "PyTorch $name failed: see $out/$name.log" >&2
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
"$python" - "$out" "$target" "$recipe" "${seeds[@]}" > "$out/summary.md" <<'PY'
import glob, json, os, statistics, sys
out, target, recipe, seeds = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4:]
def fmt(x, f="{:.1f}"):
    return "—" if x is None else f.format(x)
print(f"# Time to {target:.1%} validation accuracy, gpumlp and PyTorch side by side\n")
print(f"Recipe (both sides): `{recipe.strip()}`\n")
print(open(os.path.join(out, "machine.txt")).read().strip().replace("\n", "  \n"), "\n")
print("| seed | side | configuration | reached after epoch | train s | since start s | test accuracy |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
best = {}
for seed in seeds:
    m = json.load(open(os.path.join(out, f"gpumlp-seed-{seed}", "metrics.json")))
    t = m.get("target") or {}
    g = (t.get("train_seconds"), t.get("since_start_seconds"))
    print(f"| {seed} | gpumlp | {m['device']} | {fmt(t.get('reached_epoch'), '{}')} | {fmt(g[0], '{:.2f}')} | {fmt(g[1], '{:.2f}')} | {m['test']['accuracy']:.2%} |")
    torch_runs = []
    for path in sorted(glob.glob(os.path.join(out, f"torch-seed-{seed}-t*.json"))):
        r = json.load(open(path))
        if r.get("status") != "done":
            print(f"| {seed} | PyTorch | {os.path.basename(path)} | failed | | | |")
            continue
        tt = r.get("target") or {}
        conf = f"torch {r['torch_version']}, {r['torch_threads']} threads" + (", torch.compile" if r.get("compile") else ", eager")
        print(f"| {seed} | PyTorch | {conf} | {fmt(tt.get('reached_epoch'), '{}')} | {fmt(tt.get('train_seconds'), '{:.2f}')} | {fmt(tt.get('since_start_seconds'), '{:.2f}')} | {r['test_accuracy']:.2%} |")
        if tt.get("train_seconds") is not None:
            torch_runs.append((tt["train_seconds"], tt["since_start_seconds"], conf))
    fastest = min(torch_runs) if torch_runs else None
    best[seed] = (g, fastest)
print()
print("Per seed, PyTorch's fastest configuration; ratio = gpumlp / PyTorch (below 1: gpumlp reaches the target sooner).\n")
print("| seed | gpumlp train s | PyTorch train s | ratio (train) | gpumlp since start s | PyTorch since start s | ratio (since start) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
ratios_train, ratios_start = [], []
for seed, (g, f) in best.items():
    if g[0] is None or f is None:
        print(f"| {seed} | {fmt(g[0], '{:.2f}')} | {fmt(f[0] if f else None, '{:.2f}')} | not both reached | | | |")
        continue
    rt, rs = g[0] / f[0], g[1] / f[1]
    ratios_train.append(rt); ratios_start.append(rs)
    print(f"| {seed} | {g[0]:.2f} | {f[0]:.2f} ({f[2]}) | {rt:.2f} | {g[1]:.2f} | {f[1]:.2f} | {rs:.2f} |")
if ratios_train:
    print(f"\nMedian ratio over {len(ratios_train)} seeds: **{statistics.median(ratios_train):.2f}** (train), "
          f"**{statistics.median(ratios_start):.2f}** (since start); range {min(ratios_train):.2f}–{max(ratios_train):.2f} and {min(ratios_start):.2f}–{max(ratios_start):.2f}.")
print("\nCommands and the load before each run: `runs.log`.")
PY
cat "$out/summary.md"
