#!/usr/bin/env python3
"""A real BLAS sgemm at the shapes gpumlp's CPU GEMM runs, as GFLOP/s per shape: the reference the
CPU SIMD kernel is compared with (bench/GpuMlp.Bench's CpuSimdGemmBenchmarks and GemmBenchmarks
measure gpumlp's side at the same shapes). numpy's float32 matmul calls the loaded BLAS's sgemm
(OpenBLAS here; the script records which library and core type ran).

Shapes (M x N x K, C[M, N] = A[M, K] B[K, N], each operand laid out as gpumlp's launch reads it):
the report's MLP step at batch B (three forward GEMMs, three weight gradients dW = X^T dZ, two input
gradients dX = dZ W^T), the CNN preset's conv2 forward and weight-gradient GEMMs and conv1's
long-K weight gradient at batch 128, and a square 2048^3 for the library's peak.

OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE when it loads; some machines set them for
older OpenBLAS builds, which makes an AVX-512 CPU run AVX2 kernels. This script re-runs itself
without them (its own process only) unless --inherit-openblas-env is given.

Usage: python3 bench/reference/sgemm.py [--batch 128 1024] [--repeats 30] [--json OUT]
"""
import argparse
import json
import os
import statistics
import sys
import time

STRIPPED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def shapes(batch: int) -> list[tuple[str, int, int, int, bool, bool]]:
    """(case, M, N, K, A transposed in memory, B transposed in memory): the MLP step's GEMMs under
    GemmCases' names (bench/GpuMlp.Bench/GemmCases.cs)."""
    return [
        (f"Fwd1_784x512/b{batch}", batch, 512, 784, False, False),
        (f"Fwd2_512x256/b{batch}", batch, 256, 512, False, False),
        (f"Fwd3_256x10/b{batch}", batch, 10, 256, False, False),
        (f"DW1_784x512/b{batch}", 784, 512, batch, True, False),
        (f"DW2_512x256/b{batch}", 512, 256, batch, True, False),
        (f"DW3_256x10/b{batch}", 256, 10, batch, True, False),
        (f"DX2_256to512/b{batch}", batch, 512, 256, False, True),
        (f"DX3_10to256/b{batch}", batch, 256, 10, False, True),
    ]


CNN = [
    # conv2 5x5 32->64 on 14x14 maps, batch 128: rows = 128 * 14 * 14, patch = 32 * 25.
    ("Conv2Forward/b128", 128 * 196, 64, 800, False, False),
    ("Conv2WeightGradient/b128", 64, 800, 128 * 196, True, False),
    # conv1 5x5 1->32 on 28x28 maps: the long-K weight gradient.
    ("Conv1WeightGradient/b128", 32, 25, 128 * 784, True, False),
    ("Square2048", 2048, 2048, 2048, False, False),
]


def measure(np, m: int, n: int, k: int, a_t: bool, b_t: bool, repeats: int) -> dict:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((k, m) if a_t else (m, k), dtype=np.float32)
    b = rng.standard_normal((n, k) if b_t else (k, n), dtype=np.float32)
    a_op = a.T if a_t else a
    b_op = b.T if b_t else b
    c = np.empty((m, n), dtype=np.float32)
    flops = 2.0 * m * n * k
    # Warm up, then enough calls per sample that one sample lasts about 20 ms.
    np.matmul(a_op, b_op, out=c)
    start = time.perf_counter()
    np.matmul(a_op, b_op, out=c)
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(0.02 / once))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            np.matmul(a_op, b_op, out=c)
        samples.append((time.perf_counter() - start) / calls)
    median = statistics.median(samples)
    return {"m": m, "n": n, "k": k, "a_transposed": a_t, "b_transposed": b_t, "median_seconds": median,
            "gflops": flops / median / 1e9, "best_gflops": flops / min(samples) / 1e9, "samples": repeats, "calls_per_sample": calls}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", default=None)
    parser.add_argument("--inherit-openblas-env", action="store_true")
    args = parser.parse_args()
    if not args.inherit_openblas_env and any(v in os.environ for v in STRIPPED):
        env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)

    import numpy as np
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from blas_info import cpu_model, loaded_blas

    cases = [case for batch in args.batch for case in shapes(batch)] + CNN
    results = {}
    for name, m, n, k, a_t, b_t in cases:
        results[name] = measure(np, m, n, k, a_t, b_t, args.repeats)
        r = results[name]
        print(f"{name:28} {m:6} x {n:5} x {k:6}  {r['gflops']:8.1f} GFLOP/s (median), {r['best_gflops']:8.1f} best", flush=True)
    cpu = cpu_model()
    document = {"what": "numpy float32 matmul (the loaded BLAS's sgemm) at gpumlp's GEMM shapes",
                "numpy_version": np.__version__, "blas": loaded_blas(),
                "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
                "cpu": cpu, "processor_count": os.cpu_count(), "load_average": open("/proc/loadavg").read().split()[:3],
                "command": " ".join(["python3", *sys.argv]), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "shapes": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
    print(f"BLAS: {document['blas'].get('config', document['blas']['libraries'])}; load {document['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
