#!/usr/bin/env python3
"""Prints, as one JSON object, how this PyTorch will run on the CPU: its version, the BLAS and oneDNN
it was built with, the ATen CPU capability it dispatches to, its thread count, and the OpenBLAS
library actually loaded with the core type it chose (read through ctypes from the library itself:
OPENBLAS_CORETYPE=Haswell makes an AVX-512 CPU run AVX2 kernels). side-by-side.sh runs it in the
same environment as each PyTorch configuration it measures and records the result."""
import json
import os
import platform
import re

import torch

from blas_info import loaded_blas


def openblas() -> dict:
    # A matmul makes torch load its BLAS if it has not yet.
    torch.ones(64, 64) @ torch.ones(64, 64)
    return loaded_blas()


def main() -> None:
    shown = torch.__config__.show()
    capability = re.search(r"CPU capability usage: (\S+)", shown)
    blas = re.search(r"BLAS_INFO=([^,\s]+)", shown)
    onednn = re.search(r"(?:MKL-DNN|oneDNN) v(\S+)", shown)
    print(json.dumps({
        "torch_version": torch.__version__,
        "blas_info": blas.group(1) if blas else None,
        "onednn_version": onednn.group(1) if onednn else None,
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "cpu_capability": capability.group(1) if capability else None,
        "aten_cpu_capability_env": os.environ.get("ATEN_CPU_CAPABILITY"),
        "torch_threads": torch.get_num_threads(),
        "openblas": openblas(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")},
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "python": platform.python_version(),
    }))


if __name__ == "__main__":
    main()
