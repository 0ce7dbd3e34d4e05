"""NumPy's BLAS threads, chosen before NumPy loads (BLAS reads its settings then, once).

The command line runs BLAS on one thread (:func:`one_thread`): a digit's
matrices are small, and on a busy machine OpenBLAS's threads waiting for each
other cost more than they share. On this 2-core machine one digit's decoder
took 16 ms with two threads and 0.9 ms with one, and the test split 10.5 s
against 3.0 s (docs/speed.md). Batch workers share the cores instead
(``pipeline``). A setting of the user's own always wins.
"""

from __future__ import annotations

import os

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # OpenBLAS, OpenMP builds, MKL
# OMP_NUM_THREADS is left alone by one_thread: TensorFlow's own threads (train) may read it
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread() -> None:
    """BLAS on one thread in this process and its children, unless the user set a count."""
    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
