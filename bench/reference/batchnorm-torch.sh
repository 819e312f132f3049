#!/usr/bin/env bash
# A bn stack trained briefly by gpumlp, then loaded into PyTorch (torch_load_state_dict.py:
# nn.Sequential of the stack, load_state_dict(strict=True), eval mode) and evaluated on the MNIST
# test set beside `gpumlp eval` of the same model; also its ONNX export. Shows that the bn layer's
# five tensors per layer carry torch's names, shapes and semantics.
#
# Writes into OUT (default bench/results/<date>-batchnorm-torch):
#   machine.txt     CPU model, cores, OS, git commit, dotnet and torch versions, load before and after
#   train.log       gpumlp train's output (the run folder itself goes to a scratch folder)
#   torch.json      torch_load_state_dict.py's output: the modules, torch's eval, gpumlp's eval
#   model-tensors.txt   the model file's tensor names, dtypes and shapes
#   export.log      gpumlp export --format onnx
# Usage: bench/reference/batchnorm-torch.sh [OUT]
# Environment: ARCH (the stack), EPOCHS=2, LIMIT=6000 (training images), DEVICE=cpu
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
# shellcheck source=bench/reference/machine.sh
source bench/reference/machine.sh
out="${1:-bench/results/$(date +%Y-%m-%d)-batchnorm-torch}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
arch="${ARCH:-conv5x5x16p2,bn,relu,pool2,conv5x5x32p2,bn,relu,pool2,flatten,dense128,bn,relu,dense10}"
gpumlp=(dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll)
python=/usr/bin/python3
load() { cut -d' ' -f1-3 /proc/loadavg; }

{
  machine_lines
  echo "torch: $($python -c 'import torch; print(torch.__version__)')"
  echo "uptime before: $(uptime)"
} > "$out/machine.txt"

train=("${gpumlp[@]}" train --device "${DEVICE:-cpu}" --arch "$arch" --epochs "${EPOCHS:-2}" --limit-train "${LIMIT:-6000}" --seed 1 --out "$scratch/run")
echo "\$ ${train[*]}" > "$out/train.log"
"${train[@]}" >> "$out/train.log" 2>&1

check=($python bench/reference/torch_load_state_dict.py --model "$scratch/run" --data data/mnist)
"${check[@]}" > "$out/torch.json"

$python - "$scratch/run/model.safetensors" > "$out/model-tensors.txt" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
header.pop("__metadata__", None)
for name, entry in header.items():
    print(f"{name:28} {entry['dtype']} {entry['shape']}")
PY

export=("${gpumlp[@]}" export --model "$scratch/run" --format onnx --out "$scratch/model.onnx")
echo "\$ ${export[*]}" > "$out/export.log"
"${export[@]}" >> "$out/export.log" 2>&1

echo "uptime after: $(uptime)" >> "$out/machine.txt"
echo "wrote $out" >&2
