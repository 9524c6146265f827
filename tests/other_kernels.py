"""Run the NumPy-engine, StreamSet and model tests again under other CPU kernels (`make
test-kernels`, a step of CI).

The same arithmetic rounds differently in the last bits on another CPU: a batched matrix product
and a per-row one agree to 1e-15 on an AVX2 machine and differ on an AVX-512 one (OpenBLAS picks
its kernels, NumPy its SIMD loops, torch and numba their instruction sets, by the CPU). A test that
compares two computation paths byte for byte passes where it was written and fails on a user's
machine. Here each configuration forces other kernels on this machine (only older instruction
sets, so it runs on any x86-64 CPU), and the tests must pass under every one.

Usage: ``python tests/other_kernels.py [pytest args...]`` (default: the tests below, not slow).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

#: The tests whose numbers depend on the kernels: NumPy engine and compiled kernels, the inference
#: core (model spec), streams and StreamSet (vectorised tick), the models' torch/NumPy paths.
TESTS = ["tests/nn", "tests/inference", "tests/serve", "tests/models", "-m", "not slow"]


def _numpy_dispatch() -> list[str]:
    """NumPy's dispatch targets above its baseline (their names change between NumPy versions)."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]
    return list(getattr(umath, "__cpu_dispatch__", []))


def configurations() -> list[dict[str, str]]:
    """Environment settings for a machine of AVX2 (Haswell) and one of AVX only (Sandy Bridge):
    OpenBLAS core type, NumPy's SIMD dispatch, torch's kernels and numba's target CPU."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return []  # the kernel names below are x86's; elsewhere the plain run is the check
    dispatch = _numpy_dispatch()
    above_avx2 = [d for d in dispatch if "512" in d or d.endswith("V4")]
    above_sse = [d for d in dispatch if d not in ("SSE", "SSE2", "SSE3", "SSSE3", "SSE41", "SSE42")]
    return [
        {
            "OPENBLAS_CORETYPE": "Haswell",
            "NPY_DISABLE_CPU_FEATURES": " ".join(above_avx2),
            "ATEN_CPU_CAPABILITY": "avx2",
            "NUMBA_CPU_NAME": "haswell",
        },
        {
            "OPENBLAS_CORETYPE": "Sandybridge",
            "NPY_DISABLE_CPU_FEATURES": " ".join(above_sse),
            "ATEN_CPU_CAPABILITY": "default",
            "NUMBA_CPU_NAME": "sandybridge",
        },
    ]


def main(argv: list[str]) -> int:
    args = argv or TESTS
    failed = []
    for settings in configurations():
        shown = " ".join(f"{k}={v!r}" for k, v in settings.items())
        print(f"== {shown}", flush=True)
        env = os.environ | settings
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], env=env
        )
        if code != 0:
            failed.append(shown)
    for shown in failed:
        print(f"FAILED under {shown}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
