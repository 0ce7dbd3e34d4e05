"""What a benchmark runs on: this machine's forced OpenBLAS settings left out, and the BLAS kernel that ran.

This machine's environment forces ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, which slow a current NumPy.
A benchmark measures what a user's machine would run, so the scripts here drop both (:func:`user_environment`
for a child process, :func:`unset_forced` for their own, before NumPy loads) and print the kernel OpenBLAS
chose (:func:`blas`). Tests and CI keep the machine's settings: only benchmarks drop them.
:func:`describe` is the one line a benchmark's page gives for where its figures were measured.

Run with any interpreter to ask which BLAS its NumPy loads:

    .venv313/bin/python benchmarks/machine.py
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import subprocess
from pathlib import Path

FORCED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # this machine's settings, not a user's


def user_environment() -> dict:
    """This process's environment without the forced settings, for a child process."""
    return {k: v for k, v in os.environ.items() if k not in FORCED}


def unset_forced() -> None:
    """Drop the forced settings from this process: call it before NumPy loads, or it comes too late."""
    for name in FORCED:
        os.environ.pop(name, None)


def count(text: str) -> int:
    """argparse's type for ``--limit`` and other counts of digits: a whole number, at least 1 (0 would leave a
    benchmark nothing to divide by, and a negative one would slice from the end)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def cpu() -> str:
    """The processor's model name."""
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "unknown")
    except OSError:
        return platform.processor() or "unknown"


def blas() -> str:
    """The BLAS library this process's NumPy loaded, the kernel it chose and its threads, as OpenBLAS reports them."""
    import numpy as np  # loads the BLAS, if nothing has yet

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


def describe() -> str:
    """Where this process measures: processor, cores, Python, NumPy and the BLAS that ran."""
    import numpy as np

    return (f"{cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
            f"BLAS {blas()}")


def blas_of(python: str) -> str:
    """:func:`blas` as another interpreter's NumPy reports it, in the user's environment."""
    proc = subprocess.run([python, __file__], env=user_environment(), capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if proc.returncode == 0 and lines else "unknown"


def main() -> None:
    argparse.ArgumentParser(description="Print the BLAS this interpreter's NumPy loads (forced settings dropped).",
                            ).parse_args()
    unset_forced()
    print(blas())


if __name__ == "__main__":
    main()
