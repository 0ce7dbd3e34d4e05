"""What a benchmark runs on: this machine's forced OpenBLAS settings left out, and the BLAS kernel that ran.

This machine's environment forces ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, which slow a current NumPy.
A benchmark measures what a user's machine would run, so the scripts here drop both (:func:`user_environment`
for a child process, :func:`unset_forced` for their own, before NumPy loads) and print the kernel OpenBLAS
chose (:func:`blas`). Tests and CI keep the machine's settings: only benchmarks drop them.

Run with any interpreter to ask which BLAS its NumPy loads:

    .venv313/bin/python benchmarks/machine.py
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
from pathlib import Path

FORCED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # this machine's settings, not a user's


def user_environment() -> dict:
    """This process's environment without the forced settings, for a child process."""
    return {k: v for k, v in os.environ.items() if k not in FORCED}


def unset_forced() -> None:
    """Drop the forced settings from this process: call it before NumPy loads, or it comes too late."""
    for name in FORCED:
        os.environ.pop(name, None)


def blas() -> str:
    """The BLAS library this process's NumPy loaded, the kernel it chose and its threads, as OpenBLAS reports them."""
    import numpy as np

    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                corename = getattr(lib, f"{prefix}get_corename{suffix}", None)
                if corename:
                    corename.restype = ctypes.c_char_p
                    threads = getattr(lib, f"{prefix}get_num_threads{suffix}")()
                    return f"{Path(path).name} {corename().decode()}, {threads} thread(s)"
    return f"not OpenBLAS: {np.show_config(mode='dicts')['Build Dependencies']['blas']['name']}"


def blas_of(python: str, env: dict | None = None) -> str:
    """:func:`blas` as another interpreter's NumPy reports it, in ``env`` (default: the user's environment)."""
    proc = subprocess.run([python, __file__], env=env or user_environment(), capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if proc.returncode == 0 and lines else "unknown"


def main() -> None:
    argparse.ArgumentParser(description="Print the BLAS this interpreter's NumPy loads (forced settings dropped).",
                            ).parse_args()
    unset_forced()
    print(blas())


if __name__ == "__main__":
    sys.exit(main())
