"""Facts about the machine for the benchmark records: the CPU model, and the BLAS library this
process has loaded, as it reports itself: for OpenBLAS the core type it
runs (OPENBLAS_CORETYPE=Haswell makes an AVX-512 CPU run AVX2 kernels), its build configuration and
thread count, read through ctypes from the library. Shared by torch_config.py and sgemm.py."""
import ctypes
import os
import platform


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def is_blas(path: str) -> bool:
    """OpenBLAS itself, or the libblas.so.3 that Debian's alternatives point at OpenBLAS (or at the
    reference BLAS, which reports no core type)."""
    name = os.path.basename(path).lower()
    return "openblas" in path.lower() or name.startswith(("libblas.so", "libcblas.so"))


def loaded_blas() -> dict:
    """Call after the BLAS has been used once (the library is loaded lazily)."""
    paths = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if path.startswith("/") and is_blas(path):
                    paths.add(path)
    except OSError:
        pass
    result: dict = {"libraries": sorted(paths)}
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("openblas_get_corename", "openblas_get_config"):
            function = getattr(library, name, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                result[name.removeprefix("openblas_get_")] = function().decode(errors="replace").strip()
        threads = getattr(library, "openblas_get_num_threads", None)
        if threads is not None:
            result["num_threads"] = threads()
        if "corename" in result:
            break
    return result
