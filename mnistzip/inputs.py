"""What the inputs of a command give: digits from image files, folders of them, standard input and MNIST references,
in the order given, each with where it came from.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import mnist
from .errors import InputError
from .fileio import STDIO, read_stdin, stdin_binary
from .images import IMAGE_SUFFIXES, STDIN_NAME, load_image

STDIN_STEM = "stdin"  # its entry in Digits.names
MAX_STDIN_BYTES = 64 * 2**20  # one image from a pipe; more is surely not one image


@dataclass(frozen=True)
class Digits:
    """Digits read from the inputs, with a name and a source for each.

    ``names``: the file's stem, ``mnist-test-7`` for a reference, ``stdin``.
    ``sources``: where each digit came from, to show a user: the input as
    given, joined with the path inside it for a folder (``scans/a/1.png``),
    the single digit's reference (``mnist:test:7``), or ``-`` for standard input.
    """

    images: np.ndarray  # (N, 28, 28) uint8
    names: list[str]
    sources: list[str]
    notes: list[str] = field(default_factory=list)  # things a user should know (e.g. frames skipped)


def check_inputs(inputs: list[str]) -> None:
    """Refuse, before any work, an input that is neither an MNIST reference, ``-`` nor an existing path.

    ``-`` (standard input) holds one image, so it may be given once, and not
    from a terminal: mnistzip would wait for a paste that never comes.
    """
    if inputs.count(STDIO) > 1:
        raise InputError(f"{STDIO} (standard input) is given {inputs.count(STDIO)} times; it holds one image")
    for item in inputs:
        if item == STDIO:
            stdin_binary("an image")
        elif mnist.parse_reference(item) is None:
            try:
                os.stat(item)
            except FileNotFoundError:
                raise InputError(f"{item}: no such file, directory or MNIST reference (e.g. mnist:test:7)") from None
            except OSError as e:  # a name too long, a loop of links, ...
                raise InputError(f"{item}: cannot read ({e.strerror or e})") from None


def folder_images(folder: str | os.PathLike) -> list[tuple[str, ...]]:
    """The image files in a folder and its subfolders, as relative path parts, in the order their digits are read.

    A file counts when its suffix is in ``IMAGE_SUFFIXES`` (any case) and it is
    a regular file or a symbolic link to one. The order is that of the tuples
    of path parts, each part compared by Unicode code point (so case-sensitive,
    and ``10.png`` before ``2.png``): ``a/1.png``, ``a/b/2.png``, ``a/c.png``,
    ``a.png``, ``b.png``. A subfolder's files thus stay together, at the place
    of the subfolder's name among its siblings.

    Names beginning with ``.`` (files and folders, at any depth) are skipped:
    they are hidden, and hold tool data, not digits (``.git``, macOS's
    ``._scan.png`` resource forks). Symbolic links to folders are followed,
    but a folder is read once, at its first place in this order (folders are
    known by device and inode), so a link loop (``a/up -> ..``) neither hangs
    nor repeats a file.
    """
    root = os.fspath(folder)
    found: list[tuple[str, ...]] = []
    seen: set[tuple[int, int]] = set()
    # depth-first through names in order; a stack, not recursion, so any depth of folders is fine
    stack = [((), iter(_visit(root, seen) or []))]  # the root is not seen yet: never None
    while stack:
        parts, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError as e:
            raise InputError(f"{entry.path}: cannot read ({e.strerror or e})") from None
        if is_dir:
            inner = _visit(entry.path, seen)
            if inner is not None:
                stack.append((parts + (entry.name,), iter(inner)))
        elif is_file and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
            found.append(parts + (entry.name,))
    return found


def _visit(directory: str, seen: set[tuple[int, int]]) -> list[os.DirEntry] | None:
    """A folder's entries not hidden, sorted by name; None when the folder was read already."""
    try:
        st = os.stat(directory)
        if (st.st_dev, st.st_ino) in seen:
            return None
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(directory) as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as e:
        raise InputError(f"{directory}: cannot read directory ({e.strerror or e})") from None


def _planned_count(plan) -> int:
    """Digits an input gives: a reference's range, a folder's files, or one image."""
    if isinstance(plan, tuple):
        return plan[1].stop - plan[1].start
    return 1 if plan is None else len(plan)


def collect_digits(
    inputs: list[str], data_dir: str | os.PathLike | None = None, invert: bool | None = None,
    limit: int | None = None,
) -> Digits:
    """Gather digits from image files, folders of images, MNIST references and ``-`` (standard input), in order.

    A folder gives its image files at any depth, in the order of
    :func:`folder_images`. Each input must give at least one digit. More than
    ``limit`` digits are refused from the references and file lists alone,
    before any image or MNIST split is read.
    """
    check_inputs(inputs)
    planned = []  # (input, reference or folder files or None)
    for item in inputs:
        ref = mnist.parse_reference(item)
        if ref is not None:
            planned.append((item, ref))
        elif item != STDIO and os.path.isdir(item):
            files = folder_images(item)
            if not files:
                raise InputError(f"{Path(item)}: directory holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
            planned.append((item, files))
        else:
            planned.append((item, None))
    total = sum(_planned_count(plan) for _, plan in planned)
    if limit is not None and total > limit:
        raise InputError(f"{total} digits: one .mz file holds at most {limit}")
    images: list[np.ndarray] = []
    names: list[str] = []
    sources: list[str] = []
    notes: list[str] = []
    for item, plan in planned:
        if isinstance(plan, tuple):
            split, sl = plan
            images.append(mnist.images(split, data_dir, rows=sl))
            names.extend(f"mnist-{split}-{i}" for i in range(sl.start, sl.stop))
            sources.extend(f"mnist:{split}:{i}" for i in range(sl.start, sl.stop))
        elif item == STDIO:
            blob = read_stdin(MAX_STDIN_BYTES, "an image")
            images.append(load_image(io.BytesIO(blob), invert, notes, name=STDIN_NAME)[None])
            names.append(STDIN_STEM)
            sources.append(STDIO)
        elif plan is not None:
            for parts in plan:
                path = os.path.join(item, *parts)
                images.append(load_image(path, invert, notes)[None])
                names.append(Path(parts[-1]).stem)
                sources.append(path)
        else:
            images.append(load_image(item, invert, notes)[None])
            names.append(Path(item).stem)
            sources.append(item)
    if not images:
        raise InputError("no input digits given")
    return Digits(np.concatenate(images).astype(np.uint8), names, sources, notes)
