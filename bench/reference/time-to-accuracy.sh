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
# (tta_table.py: the machine, loads before and after, a row per run, per seed the ratios to
# PyTorch's fastest configuration, and their median).
# A run stopped part-way thus still leaves every finished run's files.
#
# Runs from its own folder's siblings (machine.sh, pytorch_recipe.py and the pytorch_mlp.py and
# pytorch_cnn.py it imports, tta_table.py, recipes/fast.flags), so a copy of these files elsewhere
# (the GPU bundle's reference/ folder) works as well as bench/reference.
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
"$python" "$ref/tta_table.py" "$out" > "$out/summary.md"
cat "$out/summary.md"
