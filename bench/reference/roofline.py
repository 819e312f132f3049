#!/usr/bin/env python3
"""The MLP step's GEMM roofline on this CPU beside gpumlp's training rate, from one cpu-fair.sh folder.

Roofline: the report's MLP step at batch 128 (its eight GEMMs: three forward, three weight gradients,
two input gradients, as sgemm.py lists them) run at OpenBLAS's sgemm rate measured for the same
shapes on the same machine, and nothing else: batch / (sum of the eight GEMMs' median seconds).
gpumlp's rates: `gpumlp bench` (warm training steps, median of repeats: bench-mlp.json) and the
side-by-side epochs (median over pairs: side-by-side-mlp.json). The fraction is gpumlp's rate over
the roofline's (issue 22 asks for at least 0.75). Also: the CNN preset's step FLOPs at batch 128
over gpumlp's CNN rates, as GFLOP/s.

Usage: python3 bench/reference/roofline.py bench/results/<date>-cpu-fair [--markdown]
"""
import json
import os
import sys

MLP_SHAPES = ["Fwd1_784x512", "Fwd2_512x256", "Fwd3_256x10", "DW1_784x512", "DW2_512x256", "DW3_256x10",
              "DX2_256to512", "DX3_10to256"]
BATCH = 128
# The CNN preset per sample: conv1 (1->32, 5x5, 28x28) forward 2*784*32*25 and its weight gradient
# the same; conv2 (32->64, 5x5, 14x14) forward, weight and input gradients 2*196*64*800 each; dense
# 3136->512 forward, weight and input gradients 2*3136*512 each; dense 512->10 likewise.
CNN_FLOPS_PER_SAMPLE = (2 * 2 * 784 * 32 * 25) + (3 * 2 * 196 * 64 * 800) + (3 * 2 * 3136 * 512) + (3 * 2 * 512 * 10)


def read(folder: str, name: str) -> dict:
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def bench_rate(data: dict) -> float | None:
    results = data.get("results") or []
    return results[0].get("train_samples_per_second") if results else None


def side_by_side(data: dict, key: str) -> float | None:
    block = data.get(key) or {}
    return block.get("median")


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = sys.argv[1]
    sgemm = read(folder, "sgemm.json").get("shapes", {})
    missing = [s for s in MLP_SHAPES if f"{s}/b{BATCH}" not in sgemm]
    if missing:
        print(f"{folder}/sgemm.json lacks {', '.join(missing)} at batch {BATCH}", file=sys.stderr)
        return 1
    seconds = sum(sgemm[f"{s}/b{BATCH}"]["median_seconds"] for s in MLP_SHAPES)
    flops = sum(2 * sgemm[f"{s}/b{BATCH}"]["m"] * sgemm[f"{s}/b{BATCH}"]["n"] * sgemm[f"{s}/b{BATCH}"]["k"] for s in MLP_SHAPES)
    roofline = BATCH / seconds
    rows = [("MLP step roofline (8 GEMMs at OpenBLAS's median rates, batch 128)", f"{roofline:,.0f} samples/s",
             f"{seconds * 1e3:.3f} ms per step, {flops / seconds / 1e9:.0f} GFLOP/s over {flops / 1e6:.1f} MFLOP")]
    for label, rate in (("gpumlp bench, MLP (warm steps, median of repeats)", bench_rate(read(folder, "bench-mlp.json"))),
                        ("gpumlp side by side, MLP (epochs, median of pairs)",
                         side_by_side(read(folder, "side-by-side-mlp.json"), "gpumlp_samples_per_second"))):
        if rate:
            rows.append((label, f"{rate:,.0f} samples/s", f"{rate / roofline:.2f} of the roofline"))
    for label, rate in (("gpumlp bench, CNN preset", bench_rate(read(folder, "bench-cnn.json"))),
                        ("gpumlp side by side, CNN preset", side_by_side(read(folder, "side-by-side-cnn.json"), "gpumlp_samples_per_second")),
                        ("PyTorch side by side, CNN preset", side_by_side(read(folder, "side-by-side-cnn.json"), "pytorch_samples_per_second"))):
        if rate:
            rows.append((label, f"{rate:,.0f} samples/s", f"{rate * CNN_FLOPS_PER_SAMPLE / 1e9:.0f} GFLOP/s"))
    print("| what | rate | |")
    print("| --- | ---: | --- |")
    for label, rate, note in rows:
        print(f"| {label} | {rate} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
