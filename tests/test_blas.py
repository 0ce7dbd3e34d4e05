"""The command line's BLAS threads: one, unless the user chose."""

import os
import subprocess
import sys

from mnistzip import blas


def test_the_command_runs_blas_on_one_thread_unless_the_user_chose(monkeypatch):
    for name in blas.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    blas.one_thread()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert os.environ["MKL_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in os.environ  # TensorFlow's, when training


def test_the_setting_is_made_before_numpy_loads(tmp_path):
    """BLAS reads its thread count once, when NumPy loads: the entry point must set it first."""
    code = ("import sys, os; sys.argv = ['mnistzip', 'models']; import mnistzip.__main__ as m; "
            "assert 'numpy' not in sys.modules; m.one_thread(); print(os.environ['OPENBLAS_NUM_THREADS'])")
    env = {k: v for k, v in os.environ.items() if k not in blas.VARIABLES}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert r.stdout == "1\n"


def test_batches_run_side_by_side_give_what_one_thread_gives(monkeypatch):
    """With BLAS on one thread, batches share the cores; the results come back whole and in order."""
    import numpy as np

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setattr(blas, "cores", lambda: 2)
    seen = []
    results = blas.map_batches(lambda b: seen.append(b) or np.arange(b, b + 3), range(0, 30, 3))
    np.testing.assert_array_equal(np.concatenate(results), np.arange(30))
    assert sorted(seen) == list(range(0, 30, 3))


def test_no_threads_beside_blas_when_it_takes_every_core(monkeypatch):
    import threading

    for name in blas.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert blas.threads() == blas.cores()
    assert blas.map_batches(lambda b: threading.current_thread() is threading.main_thread(), range(4)) == [True] * 4


def test_a_forked_child_makes_its_own_pool(monkeypatch):
    """A pool made before a fork has no threads in the child: work sent to it would wait forever."""
    import time

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setattr(blas, "cores", lambda: 2)
    blas.map_batches(time.sleep, [0.05] * 4)  # the parent's pool, with its threads
    pid = os.fork()
    if pid == 0:  # the child: a pool of its own, or this waits forever and the alarm ends it
        import signal

        signal.alarm(10)
        os._exit(0 if blas.map_batches(abs, [-3, -4]) == [3, 4] else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_batches_use_the_cores_blas_leaves_or_what_a_batch_job_gives(monkeypatch):
    monkeypatch.setattr(blas, "cores", lambda: 8)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv(blas.BATCH_THREADS, raising=False)
    assert blas.workers() == 2
    monkeypatch.setenv(blas.BATCH_THREADS, "1")
    assert blas.workers() == 1


def test_a_user_s_omp_count_wins_too(monkeypatch):
    """OpenBLAS and MKL fall back to OMP_NUM_THREADS: a user who set only that keeps it."""
    for name in blas.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    blas.one_thread()
    assert "OPENBLAS_NUM_THREADS" not in os.environ and "MKL_NUM_THREADS" not in os.environ
