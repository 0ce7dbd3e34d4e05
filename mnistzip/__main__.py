"""The ``mnistzip`` command (and ``python -m mnistzip``)."""

import os
import sys

from .errors import ExitStatus, error_line


BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"  # NumPy's wheels link OpenBLAS


def main() -> None:
    """Run the command line. Loading it (Typer, Rich, then Typer building its commands) takes a few
    tenths of a second before the CLI's own handler is in place: a Ctrl-C then ends like one at any
    other time, with one line and exit status 130, not a traceback."""
    # One BLAS thread per process, set before NumPy loads: the runtime then runs its batches on every core
    # itself (runtime.workers), which copies and activations parallelise too (the whole test split ~1.4x faster).
    os.environ.setdefault(BLAS_THREADS_ENV, "1")
    try:
        from .cli import run

        run()
    except KeyboardInterrupt:
        print(error_line("interrupted"), file=sys.stderr)
        sys.exit(ExitStatus.INTERRUPTED)


if __name__ == "__main__":
    main()
