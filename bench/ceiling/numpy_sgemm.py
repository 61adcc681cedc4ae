"""CPU ceiling for matmul: float32 GEMM through numpy's BLAS (OpenBLAS where installed).

Usage: python3 numpy_sgemm.py 256 1024 32x256x256x256   ->  one JSON object on stdout:
  {"python": ..., "numpy": ..., "blas": ..., "threads": ..., "results": {"1024": {"ms": .., "gflops": ..}, ...}}
An argument N is an N×N·N×N product; BxMxKxN is a batch of B [M×K]·[K×N] products (one np.matmul).
Each product: a warm-up, then repeats until ~1 s or 10 repeats; the median.
"""
import json
import os
import statistics
import sys
import time

import numpy as np


def blas_name():
    try:
        cfg = np.show_config(mode="dicts")  # numpy >= 1.25
        b = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:
        pass
    # Debian's numpy links libblas.so.3, which the alternatives system points at OpenBLAS or reference BLAS.
    try:
        with open("/proc/self/maps") as f:
            libs = {os.path.basename(l.split()[-1]) for l in f if "blas" in l.lower() and "/" in l}
        return ", ".join(sorted(libs)) or "?"
    except Exception:
        return "?"


def dims(arg):
    parts = [int(p) for p in arg.lower().split("x")]
    if len(parts) == 1:
        return 1, parts[0], parts[0], parts[0]
    if len(parts) == 4:
        return tuple(parts)
    raise SystemExit(f"bad product {arg!r}: N or BxMxKxN")


def main():
    args = sys.argv[1:] or ["1024", "2048"]
    rng = np.random.default_rng(0)
    out = {}
    for arg in args:
        b, m, k, n = dims(arg)
        shape_a, shape_b = ((m, k), (k, n)) if b == 1 else ((b, m, k), (b, k, n))
        a = rng.standard_normal(shape_a, dtype=np.float32)
        w = rng.standard_normal(shape_b, dtype=np.float32)
        c = a @ w  # warm-up
        times = []
        t_end = time.perf_counter() + 1.0
        while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 10):
            t0 = time.perf_counter()
            c = a @ w
            times.append(time.perf_counter() - t0)
        ms = statistics.median(times) * 1e3
        out[arg] = {"ms": ms, "gflops": 2 * b * m * k * n / (ms / 1e3) / 1e9}
    del c
    print(json.dumps({
        "python": sys.executable, "numpy": np.__version__, "blas": blas_name(),
        "threads": os.cpu_count(), "results": out,
    }))


if __name__ == "__main__":
    main()
