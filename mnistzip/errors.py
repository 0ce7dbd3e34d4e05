"""One exception family for everything a user can get wrong, and the exit codes.

Library code raises a subclass of :class:`MnistzipError`; the CLI turns it into
a one-line message on stderr and the exit status named by ``exit_status``.
"""

from __future__ import annotations

import contextlib
import errno
import signal
from enum import IntEnum


def one_line(text: str) -> str:
    """``text`` with what would break or hide a line (newlines, control characters) escaped, as repr() does."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def error_line(message: str) -> str:
    """How every error reaches a user: one line on stderr (a file name holding a newline stays on it)."""
    return f"mnistzip: error: {one_line(message)}"


class ExitStatus(IntEnum):
    """Process exit codes of the ``mnistzip`` command."""

    SUCCESS = 0
    ERROR = 1  # anything unexpected (a bug): message, and a traceback with --debug
    USAGE = 2  # bad command line (Typer/Click's own code)
    BAD_INPUT = 3  # an input image, reference or data directory we cannot use
    BAD_FILE = 4  # an .mz file that is corrupt, truncated or of another version
    MODEL = 5  # a model that is missing, altered or not the one a file needs
    OUTPUT = 6  # an output we may not or could not write
    DATA = 7  # MNIST cannot be found or read
    INTERRUPTED = 130  # Ctrl-C
    CLOSED_PIPE = 141  # standard output's reader went away (`| head`): as a process killed by SIGPIPE, no message


class MnistzipError(Exception):
    """Base of every error mnistzip reports to a user."""

    exit_status: ExitStatus = ExitStatus.ERROR


class UsageError(MnistzipError):
    """Options that contradict each other, or a value no shipped model can satisfy (as a bad command line)."""

    exit_status = ExitStatus.USAGE


class InputError(MnistzipError):
    """An input (image file, MNIST reference, option value) that cannot be used."""

    exit_status = ExitStatus.BAD_INPUT


class DataError(MnistzipError):
    """MNIST is missing, unreachable or malformed."""

    exit_status = ExitStatus.DATA


class BadMzFile(MnistzipError):
    """An .mz file that cannot be decoded (the analogue of gzip.BadGzipFile)."""

    exit_status = ExitStatus.BAD_FILE


class NotAnMzFile(BadMzFile):
    """The file does not start with the .mz magic bytes."""


class UnsupportedVersion(BadMzFile):
    """The file is an .mz file of a format version this reader does not know."""


class TruncatedFile(BadMzFile):
    """The file ends before a field it must hold."""


class ChecksumMismatch(BadMzFile):
    """The stored CRC does not match the file's contents."""


class ModelError(MnistzipError):
    """A model that cannot be found, loaded or trusted."""

    exit_status = ExitStatus.MODEL


class UnknownModel(ModelError):
    """A file needs a model that is not installed (or not the one given)."""


class RetiredModel(UnknownModel):
    """A file was made by a model retired before 1.0 (``models/retired.json``)."""


class MissingExtra(MnistzipError):
    """A command needs an optional part of mnistzip that is not installed (see :func:`require`)."""

    exit_status = ExitStatus.USAGE


# What each extra brings, and for which Python: pyproject.toml's [project.optional-dependencies].
EXTRAS = {
    "train": "TensorFlow 2.14 and TensorFlow Compression, which exist for Python 3.11 only",
    "eval": "matplotlib",
    "beam": "Apache Beam",
}


def require(module: str, extra: str, needed_by: str) -> None:
    """Refuse with one line naming the extra to install when ``module`` cannot be imported (not importing it)."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtra(f"{needed_by} needs {EXTRAS[extra]}: {install_hint(extra)}")


def install_hint(extra: str) -> str:
    """The pip command that adds ``extra`` to mnistzip as it was installed: from a folder (a clone) by that
    folder's path, editable if it was; else from the package index."""
    import json
    from importlib.metadata import distributions
    from urllib.parse import unquote, urlparse

    origin = {}
    for found in distributions(name="mnistzip"):  # a clone's build leaves mnistzip.egg-info beside the sources too
        try:
            origin = json.loads(found.read_text("direct_url.json") or "null") or origin
        except (ValueError, OSError):
            continue
    url = urlparse(origin.get("url", ""))
    if url.scheme == "file" and "dir_info" in origin:
        editable = "-e " if origin["dir_info"].get("editable") else ""
        return f"pip install {editable}'{unquote(url.path)}[{extra}]'"
    return f"pip install 'mnistzip[{extra}]'"


class OutputError(MnistzipError):
    """An output that exists (without --force) or cannot be written."""

    exit_status = ExitStatus.OUTPUT


class Interrupted(MnistzipError):
    """The user pressed Ctrl-C; what was finished is kept."""

    exit_status = ExitStatus.INTERRUPTED


STREAM_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EBADF}  # a write to a full or closed stream


def ending(e: BaseException) -> tuple[ExitStatus, str | None]:
    """How a front door (the command line, the Beam pipeline) ends on ``e``: its exit status, and the one line it
    says on standard error (None: nothing, as for a reader of standard output that went away, ``| head``).

    Anything that is not a ``MnistzipError``, an interruption or a failed
    standard output is a bug: it says so (``--debug`` shows the traceback).
    """
    if isinstance(e, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED, "interrupted"
    if isinstance(e, BrokenPipeError):
        return ExitStatus.CLOSED_PIPE, None
    if isinstance(e, MnistzipError):
        return e.exit_status, str(e)
    if isinstance(e, OSError) and e.filename is None and e.errno in STREAM_ERRORS:
        return ExitStatus.OUTPUT, f"standard output: cannot write ({e.strerror or e})"
    return ExitStatus.ERROR, f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)"


class _Interruptions:
    """``with interruptions():`` a front door's work, SIGINT (where Python's own handler is) and SIGTERM (where it
    would kill the process) raising KeyboardInterrupt, so that temporaries are removed either way; the handlers are
    put back after. ``interruptions.received`` says whether one came: TensorFlow's extension modules may turn the
    KeyboardInterrupt raised inside them into another exception, which is then still an interruption."""

    received = False

    @contextlib.contextmanager
    def __call__(self):
        def handler(signum, frame):
            self.received = True
            signal.default_int_handler(signum, frame)

        self.received = False
        watched = {s: h for s, h in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL))
                   if signal.getsignal(s) is h}
        for signum in watched:
            signal.signal(signum, handler)
        try:
            yield
        finally:
            for signum, previous in watched.items():
                signal.signal(signum, previous)


interruptions = _Interruptions()
