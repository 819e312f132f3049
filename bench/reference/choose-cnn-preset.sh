#!/usr/bin/env bash
# Chooses the CNN preset on VALIDATION data only: every candidate stack is trained with the same
# recipe (the preset's ±2-pixel shifts, Adam 1e-3, batch 128) on the first TRAIN images of the
# training file and scored on the next VALIDATION images of the training file (gpumlp train
# --limit-train TRAIN+VALIDATION --val-split VALIDATION/(TRAIN+VALIDATION)), with --no-test: the
# test set is never evaluated here. Each candidate runs once per seed in SEEDS; the winner is the
# stack with the highest mean final-epoch validation accuracy (ties: lower mean validation loss).
#
# Writes $OUT/<candidate>-seed<S>/ (config.json, history.csv, model, curves), $OUT/choice.json
# (every run's validation figures, per-candidate mean/min/max, the winner, the machine and its
# load) and prints a table. The chosen preset's test accuracy is measured once, afterwards, by a
# full `gpumlp train --arch cnn` run (see bench/results/).
#
# Usage: bench/reference/choose-cnn-preset.sh [OUT]   (default runs/choose-cnn-preset-<timestamp>)
# Environment: EPOCHS=3, SEEDS="1 2", TRAIN=6000, VALIDATION=4000, DEVICE=cpu, DATA=data/mnist,
#   CANDIDATES="name=stack;name=stack;..." (default: the four below).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="${1:-runs/choose-cnn-preset-$(date +%Y%m%d-%H%M%S)}"
epochs="${EPOCHS:-3}"
seeds="${SEEDS:-1 2}"
train="${TRAIN:-6000}"
validation="${VALIDATION:-4000}"
device="${DEVICE:-cpu}"
data="${DATA:-data/mnist}"
default_candidates="preset=conv5x5x32p2,relu,pool2,conv5x5x64p2,relu,pool2,flatten,dense512,relu,dropout0.5,dense10"
default_candidates+=";half=conv5x5x16p2,relu,pool2,conv5x5x32p2,relu,pool2,flatten,dense256,relu,dropout0.5,dense10"
default_candidates+=";k3=conv3x3x32p1,relu,pool2,conv3x3x64p1,relu,pool2,flatten,dense512,relu,dropout0.5,dense10"
default_candidates+=";keras=conv3x3x32,relu,conv3x3x64,relu,pool2,flatten,dense128,relu,dropout0.5,dense10"
candidates="${CANDIDATES:-$default_candidates}"
limit=$((train + validation))
split="$(python3 -c "print(repr($validation / $limit))")"

mkdir -p "$out"
./gpumlp --help >/dev/null
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "choose-cnn-preset: $train training + $validation validation images, $epochs epoch(s), seeds $seeds, device $device, load $(load)" >&2
IFS=';' read -r -a entries <<< "$candidates"
for entry in "${entries[@]}"; do
  name="${entry%%=*}"; stack="${entry#*=}"
  for seed in $seeds; do
    run="$out/$name-seed$seed"
    echo "  $name seed $seed: $stack" >&2
    load > "$run.load-before"
    ./gpumlp train --device "$device" --data "$data" --arch "$stack" --augment-shift 2 --seed "$seed" --epochs "$epochs" \
      --limit-train "$limit" --val-split "$split" --no-test --out "$run" > "$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
    load > "$run.load-after"
  done
done

python3 - "$out" "$candidates" "$seeds" "$train" "$validation" "$epochs" "$device" <<'PY'
import csv, json, os, platform, statistics, sys
out, candidates, seeds, train, validation, epochs, device = sys.argv[1:8]
seeds = seeds.split()
sys.path.insert(0, "bench/reference")
from blas_info import cpu_model
rows, summary = [], []
for entry in candidates.split(";"):
    name, stack = entry.split("=", 1)
    runs = []
    for seed in seeds:
        folder = os.path.join(out, f"{name}-seed{seed}")
        with open(os.path.join(folder, "history.csv")) as f:
            history = list(csv.DictReader(f))
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
        last = history[-1]
        load = open(folder + ".load-before").read().strip()
        runs.append({"seed": int(seed), "val_accuracy": float(last["val_accuracy"]), "val_loss": float(last["val_loss"]),
                     "best_val_accuracy": max(float(h["val_accuracy"]) for h in history),
                     "seconds_per_epoch": [float(h["seconds"]) for h in history], "load_before": load,
                     "train_images": config.get("train_images"), "validation_images": config.get("validation_images")})
    accuracies = [r["val_accuracy"] for r in runs]
    losses = [r["val_loss"] for r in runs]
    summary.append({"name": name, "stack": stack, "mean_val_accuracy": statistics.mean(accuracies),
                    "min_val_accuracy": min(accuracies), "max_val_accuracy": max(accuracies),
                    "mean_val_loss": statistics.mean(losses), "runs": runs})
winner = max(summary, key=lambda c: (c["mean_val_accuracy"], -c["mean_val_loss"]))
document = {"rule": "highest mean final-epoch validation accuracy (ties: lower mean validation loss); the test set is never evaluated",
            "train_images": int(train), "validation_images": int(validation), "epochs": int(epochs), "seeds": [int(s) for s in seeds],
            "device": device, "cpu": cpu_model(), "processor_count": os.cpu_count(), "machine": platform.platform(),
            "candidates": summary, "winner": winner["name"], "winner_stack": winner["stack"]}
with open(os.path.join(out, "choice.json"), "w") as f:
    json.dump(document, f, indent=2)
    f.write("\n")
print(f"| candidate | stack | validation accuracy, mean (min–max over {len(seeds)} seeds) | validation loss, mean |")
print("| --- | --- | ---: | ---: |")
for c in summary:
    mark = " **(chosen)**" if c is winner else ""
    print(f"| `{c['name']}`{mark} | `{c['stack']}` | {100 * c['mean_val_accuracy']:.2f} % ({100 * c['min_val_accuracy']:.2f}–{100 * c['max_val_accuracy']:.2f}) | {c['mean_val_loss']:.4f} |")
print(f"chosen: {winner['name']}; wrote {out}/choice.json")
PY
