"""The ``mnistzip`` command (and ``python -m mnistzip``)."""

import sys

from .blas import one_thread
from .errors import ExitStatus, error_line


def main() -> None:
    """Run the command line. Loading it (Typer, then Typer building its commands) takes a tenth of a second
    before the CLI's own handler is in place: a Ctrl-C then ends like one at any other time, with one line
    and exit status 130, not a traceback."""
    one_thread()  # before NumPy loads
    try:
        from .cli import run

        run()
    except KeyboardInterrupt:
        print(error_line("interrupted"), file=sys.stderr)
        sys.exit(ExitStatus.INTERRUPTED)


if __name__ == "__main__":
    main()
