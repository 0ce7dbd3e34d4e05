"""Safe output: the rules every file mnistzip writes follows.

1. Nothing is clobbered without ``--force``, and ``--force`` replaces the one
   output *file* named, nothing else.
2. A folder is never deleted or replaced: a folder output must not exist yet
   (gzip and zstd never remove folders either). The one exception is a model
   directory that mnistzip wrote itself, which ``train --force`` may replace:
   the caller passes a ``replaceable`` test that proves it (every file in it is
   one mnistzip wrote).
3. An output that is the same file as an input is refused, ``--force`` or not
   (:func:`os.path.samefile`, so hard and symbolic links count).
4. The destination is checked before any work: its folder exists and is writable.
5. Outputs are written atomically: into a temporary sibling, renamed into
   place when complete. A temporary left behind by a killed run is removed by
   the next run for the same destination, when its name proves it is
   mnistzip's (this host, a process that no longer runs) and it holds only
   what mnistzip writes there.

``-`` (:data:`STDIO`) names standard input or output; writing binary data to
a terminal is refused, as zstd does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import InputError, OutputError

STDIO = "-"  # standard input as an input, standard output as an output
TEMP_TAG = "mnistzip"  # in every temporary's name: .NAME.mnistzip-HOST-PID-RANDOM.tmp
TEMP_SUFFIX = ".tmp"


def is_stdio(path: str | os.PathLike | None) -> bool:
    """Whether ``path`` is ``-``: standard input or output."""
    return path is not None and str(path) == STDIO


def stdin_binary(what: str):
    """Standard input for binary data (checked before any work): refused when it is a terminal or closed."""
    stdin = sys.stdin
    try:
        closed = stdin is None or getattr(stdin, "closed", False)
        if not closed and stdin.isatty():
            raise InputError(f"standard input is a terminal; pipe {what} into mnistzip")
    except ValueError:  # isatty() on a closed file
        closed = True
    stream = getattr(stdin, "buffer", None)
    if closed or stream is None:
        raise InputError(f"standard input is closed or not binary; pipe {what} into mnistzip")
    return stream


def read_stdin(limit: int, what: str) -> bytes:
    """All of standard input, at most ``limit`` bytes; ``what`` says what it should hold ("an image"), for errors.

    A terminal is refused (mnistzip would wait for typing), and so is a closed or empty input.
    """
    stream = stdin_binary(what)
    chunks: list[bytes] = []
    left = limit + 1  # one byte more tells "too much" from "exactly the limit"
    try:
        while left > 0:
            chunk = stream.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise InputError(f"standard input: cannot read ({e.strerror or e})") from None
    data = b"".join(chunks)
    if len(data) > limit:
        raise InputError(f"standard input holds over {limit:,} bytes; {what} is never that large")
    if not data:
        raise InputError(f"standard input is empty; pipe {what} into mnistzip")
    return data


def stdout_binary():
    """Standard output for binary data, refused when it is closed or a terminal."""
    try:
        os.fstat(1)
    except OSError:
        raise OutputError("standard output is closed") from None
    if sys.stdout is None:
        raise OutputError("standard output is closed")
    if sys.stdout.isatty():
        raise OutputError("refusing to write binary data to a terminal; redirect it (> FILE or | COMMAND) or give -o FILE")
    return sys.stdout.buffer


def silence_stdout() -> None:
    """Point standard output at /dev/null once its reader has gone (``| head``): Python would otherwise complain
    again, with a traceback, when it flushes standard output at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # AttributeError: standard output was never open (None)
        pass


def _is_one_of(path: Path, inputs: Iterable) -> bool:
    """Whether ``path`` is the same file as one of ``inputs`` (links included); one stat each, none when
    ``path`` does not exist (then it is no input), so a million inputs cost nothing in the common case."""
    try:
        target = os.stat(path)
    except OSError:
        return False
    for source in inputs:
        if is_stdio(source):
            continue
        try:
            found = os.stat(source)
        except OSError:
            continue
        if (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def check_writable(
    path: str | os.PathLike,
    force: bool,
    inputs: Iterable[str | os.PathLike] = (),
    replaceable: Callable[[Path], bool] | None = None,
    directory: bool = False,
) -> Path:
    """Fail early (before any work) when ``path`` may not or cannot be written (rules 1 to 4 above).

    ``directory``: the output is a folder, so an existing file of that name is refused too.
    """
    path = Path(path)
    try:
        return _check_writable(path, force, inputs, replaceable, directory)
    except OSError as e:  # a name too long for the file system, a loop of links, ...
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None


SYSTEM_FOLDERS = ("/dev", "/proc", "/sys")  # devices and kernel files: never an output (-o - is standard output)


def _check_writable(path: Path, force: bool, inputs, replaceable, directory: bool) -> Path:
    folder = os.path.dirname(os.path.abspath(path))
    if any(folder == top or folder.startswith(top + "/") for top in SYSTEM_FOLDERS):
        raise OutputError(f"{path} is a system file; mnistzip writes none (-o - writes to standard output)")
    if _is_one_of(path, inputs):
        raise OutputError(f"{path} is also an input; mnistzip never writes over its input (choose another output)")
    if path.is_dir():
        if replaceable is None:
            raise OutputError(f"{path} is a folder; mnistzip never replaces a folder (remove it or choose another name)")
        if not force:
            raise OutputError(f"{path} already exists; pass --force to overwrite it")
        if not replaceable(path):
            raise OutputError(
                f"{path} holds files mnistzip did not write; mnistzip never replaces such a folder "
                "(remove it or choose another name)"
            )
    elif os.path.lexists(path):
        if path.exists() and not path.is_file():
            raise OutputError(f"{path} is not a regular file; refusing to replace it")
        if directory:
            raise OutputError(f"{path} already exists; a folder output needs a name that does not exist")
        if not force:
            raise OutputError(f"{path} already exists; pass --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write in directory {parent} (permission denied)")
    longest = len(os.fsencode(temp_prefix(path))) + len("XXXXXXXX" + TEMP_SUFFIX)
    if longest > os.pathconf(parent, "PC_NAME_MAX"):
        raise OutputError(f"{path}: name too long (mnistzip writes it first as .NAME.{TEMP_TAG}-HOST-PID-XXXXXXXX.tmp)")
    return path


def write_atomic(path: str | os.PathLike, data: bytes, force: bool = False, inputs: Iterable = ()) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, then rename."""
    with atomic_output(path, force, inputs=inputs) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike,
    force: bool = False,
    directory: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    replaceable: Callable[[Path], bool] | None = None,
):
    """Yield a temporary path (a file, or a folder with ``directory``) to fill; on success it becomes ``path``.

    Without ``force`` the final step refuses an existing destination, even one
    that appeared meanwhile (hard link for files, rename onto nothing for folders).
    """
    inputs = list(inputs)
    path = check_writable(path, force, inputs, replaceable, directory)
    parent = path.parent
    remove_leftovers(path, directory, inputs)
    prefix, suffix = temp_prefix(path), TEMP_SUFFIX
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=parent)
            os.close(fd)
            tmp = Path(name)
        os.chmod(tmp, _default_mode(directory))  # mkstemp's 0600 would make outputs private
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        yield tmp
        if not directory:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        _commit(tmp, path, force, directory, replaceable)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def replace_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary beside it, then rename it over whatever is there.

    For a batch job's workers (``mnistzip.pipeline``), whose outputs were
    checked once, before the job started: a retried worker writes the same
    bytes again, and thousands of files go into one folder without the
    leftover scan of :func:`atomic_output`, which would make that quadratic.
    """
    path = Path(path)
    try:
        fd, name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(name, _default_mode(False))
        os.replace(name, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None


def temp_prefix(path: Path) -> str:
    """The start of this process's temporaries for ``path``: it names the host and the process."""
    return f".{path.name}.{TEMP_TAG}-{platform.node()}-{os.getpid()}-"


def remove_leftovers(path: str | os.PathLike, directory: bool = False, inputs: Iterable = ()) -> list[Path]:
    """Remove the temporaries of ``path`` that killed mnistzip runs on this host left behind; return them.

    One is removed only when everything proves it is mnistzip's: its name is
    ``.NAME.mnistzip-HOST-PID-RANDOM.tmp`` for this destination and this host,
    process PID no longer runs, it is what this kind of output writes (a
    regular file, or with ``directory`` a folder holding only regular ``.png``
    files), and it is none of this run's ``inputs``.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(
        re.escape(f".{path.name}.{TEMP_TAG}-{platform.node()}-") + r"(\d+)-[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX)
    )
    removed = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if not m or _running(int(m.group(1))):
            continue
        if _is_one_of(Path(entry.path), inputs) or any(not is_stdio(i) and _inside(i, entry.path) for i in inputs):
            continue
        try:
            if not directory and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            elif directory and entry.is_dir(follow_symlinks=False) and _only_pngs(Path(entry.path)):
                shutil.rmtree(entry.path)
            else:
                continue
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _inside(path, folder) -> bool:
    """Whether ``path`` lies inside ``folder`` (both resolved)."""
    try:
        return Path(folder).resolve() in Path(path).resolve().parents
    except (OSError, RuntimeError):
        return False


def _running(pid: int) -> bool:
    """Whether process ``pid`` runs (or may: a process of another user counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _only_pngs(folder: Path) -> bool:
    """Whether ``folder`` holds nothing but regular .png files (no links, no subfolders)."""
    with os.scandir(folder) as it:
        return all(e.is_file(follow_symlinks=False) and e.name.endswith(".png") for e in it)


def _default_mode(directory: bool) -> int:
    """The permissions a plain ``open()``/``mkdir()`` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _commit(tmp: Path, path: Path, force: bool, directory: bool, replaceable) -> None:
    """Move the finished temporary into place, refusing to clobber unless forced."""
    if directory:
        if path.is_dir():
            # only a folder that the caller proved is mnistzip's own (check_writable refused any other)
            if not (force and replaceable is not None and replaceable(path)):
                raise OutputError(f"{path} is a folder; mnistzip never replaces a folder (remove it or choose another name)")
            old = Path(tempfile.mkdtemp(prefix=temp_prefix(path), suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
            return
        if os.path.lexists(path):
            _exists(path, force)
        os.rename(tmp, path)
        return
    if force:
        if path.is_dir():
            raise OutputError(f"{path} is a folder; mnistzip never replaces a folder (remove it or choose another name)")
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails if path appeared meanwhile
        tmp.unlink()
    except FileExistsError:
        _exists(path, force)


def _exists(path: Path, force: bool):
    """Raise the one error for a destination that exists (it appeared while the output was written)."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder; mnistzip never replaces a folder (remove it or choose another name)")
    if force:
        raise OutputError(f"{path} already exists; a folder output needs a name that does not exist")
    raise OutputError(f"{path} already exists; pass --force to overwrite it")


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(root: str | os.PathLike, exclude: tuple[str, ...] = ()) -> str:
    """SHA-256 over a directory's files (relative names and contents, sorted), skipping hidden files and ``exclude``."""
    root = Path(root)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        if rel in exclude or any(part.startswith(".") or part == "__pycache__" for part in f.relative_to(root).parts):
            continue
        h.update(rel.encode() + b"\0")
        h.update(bytes.fromhex(file_digest(f)))
    return h.hexdigest()
