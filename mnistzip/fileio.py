"""Safe output: never clobber without --force, never leave a half-written file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import OutputError


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Fail early (before any work): ``path`` exists without ``force``, is a device or pipe, or has no folder."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputError(f"{path} already exists; pass --force to overwrite it")
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise OutputError(f"{path} is not a regular file; refusing to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: directory {parent} does not exist")
    return path


def write_atomic(path: str | os.PathLike, data: bytes, force: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory, then rename."""
    with atomic_output(path, force) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False, directory: bool = False):
    """Yield a temporary path to fill; on success it replaces ``path`` in one rename.

    Without ``force`` the final step refuses an existing destination, even one
    that appeared meanwhile (hard link for files, rename onto nothing for folders).
    """
    path = check_writable(path, force)
    parent = path.parent
    try:
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
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
        _commit(tmp, path, force, directory)
    except OSError as e:
        raise OutputError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)


def _default_mode(directory: bool) -> int:
    """The permissions a plain ``open()``/``mkdir()`` would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _commit(tmp: Path, path: Path, force: bool, directory: bool) -> None:
    """Move the finished temporary into place, refusing to clobber unless forced."""
    if force:
        if directory and path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        return
    try:
        if directory:
            if path.exists():
                _exists(path)
            os.rename(tmp, path)
        else:
            os.link(tmp, path)  # fails if path appeared meanwhile
            tmp.unlink()
    except FileExistsError:
        _exists(path)


def _exists(path: Path):
    """Raise the one error for a destination that exists."""
    raise OutputError(f"{path} already exists; pass --force to overwrite it")


def tree_digest(root: str | os.PathLike, exclude: tuple[str, ...] = ()) -> str:
    """SHA-256 over a directory's files (relative names and contents, sorted), skipping hidden files and ``exclude``."""
    root = Path(root)
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        if rel in exclude or any(part.startswith(".") or part == "__pycache__" for part in f.relative_to(root).parts):
            continue
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()
