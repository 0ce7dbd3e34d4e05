"""NumPy's BLAS threads, chosen before NumPy loads (BLAS reads its settings then, once), and the cores they leave.

The command line runs BLAS on one thread (:func:`one_thread`): a digit's
matrices are small, and on a busy machine OpenBLAS's threads waiting for each
other cost more than they share. On this 2-core machine one digit's decoder
took 16 ms with two threads and 0.9 ms with one, and the test split 10.5 s
against 3.0 s (docs/speed.md). Batch workers share the cores instead
(``pipeline``). A setting of the user's own always wins.

The cores BLAS leaves free run batches of digits side by side
(:func:`map_batches`): NumPy releases the interpreter's lock in its products
and loops, so threads share the work. The batches are the ones a single
thread would run, so the results are the same bits.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")  # OpenBLAS, OpenMP builds, MKL
# What one_thread sets, each unless one of the variables its library reads first or falls back to is set.
# OMP_NUM_THREADS itself is left alone: TensorFlow's own threads (train) may read it.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"),
              "MKL_NUM_THREADS": ("MKL_NUM_THREADS", "OMP_NUM_THREADS")}


def one_thread() -> None:
    """BLAS on one thread in this process and its children, unless the user set a count its library reads."""
    for name, users in ONE_THREAD.items():
        if not any(user in os.environ for user in users):
            os.environ[name] = "1"


def threads() -> int:
    """How many threads BLAS runs each product on: the first count set, else one per core."""
    for name in VARIABLES:
        if os.environ.get(name, "").isdigit() and int(os.environ[name]) > 0:
            return int(os.environ[name])
    return cores()


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_batches(work: Callable, batches: Iterable) -> list:
    """``[work(b) for b in batches]``, on as many threads as BLAS leaves cores (one per core when it runs on one
    thread; none when it takes them all, or when ``BATCH_THREADS`` says one): the same results in the same order.
    Called from one of those threads, it runs the batches there (a thread waiting for its own pool would wait
    forever)."""
    global _pool
    batches = list(batches)
    if len(batches) <= 1 or workers() <= 1 or threading.current_thread().name.startswith(_POOL_NAME):
        return [work(b) for b in batches]
    with _lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(workers(), thread_name_prefix=_POOL_NAME)
    return list(_pool.map(work, batches))


def workers() -> int:
    """The threads :func:`map_batches` runs batches on: the cores BLAS leaves, or ``BATCH_THREADS``'s count."""
    chosen = os.environ.get(BATCH_THREADS, "")
    return int(chosen) if chosen.isdigit() and int(chosen) > 0 else max(1, cores() // threads())


# Set by a batch job that runs one process per core (``pipeline``): each then runs its batches on one thread
BATCH_THREADS = "MNISTZIP_BATCH_THREADS"
_POOL_NAME = "mnistzip-batches"
_pool = None  # made when first needed, kept for the process: loops that run many small batches pay once
_lock = threading.Lock()


def _forget_pool() -> None:
    """A forked child has none of its parent's threads: it makes a pool of its own when it needs one."""
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool)
