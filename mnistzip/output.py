"""Digits out: one PNG, a grid PNG, a folder of PNGs, or a NumPy array, written atomically and in batches.

Digits arrive as an iterable of ``(k, 28, 28)`` uint8 batches, so an archive
of a million digits never sits in memory at once: an ``.npy`` is streamed to
disk after its header, a folder is filled batch by batch. A grid PNG is one
picture and must be held whole, so it is refused above :data:`MAX_GRID_DIGITS`
(before anything is decoded). ``-`` writes to standard output, in the format
``fmt`` names (``png`` or ``npy``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from . import png
from .bounds import MAX_SCALE
from .container import SIDE
from .errors import OutputError, UsageError
from .fileio import atomic_output, check_writable, is_stdio, stdout_binary

NPY = ".npy"
PNG = ".png"
STREAM_FORMATS = ("png", "npy")  # what standard output can carry (a folder cannot)
MAX_GRID_DIGITS = 1 << 16  # a 256 x 256 grid: 7168 x 7168 pixels, 49 MiB in memory


def kind_of(path: str | os.PathLike, fmt: str | None = None, scale: int = 1) -> str:
    """'npy', 'png' or 'dir', from the output path's suffix (no suffix: a folder of PNGs), or ``fmt`` for ``-``;
    a usage error for an output type or option that does not fit (checked before any work)."""
    if is_stdio(path):
        fmt = fmt or "png"
        if fmt not in STREAM_FORMATS:
            raise UsageError(f"--format must be {' or '.join(STREAM_FORMATS)}, not {fmt!r}")
        kind = fmt
    elif fmt is not None:
        raise UsageError(f"--format is for -o - (standard output); the suffix of {path} says its format")
    else:
        suffix = Path(path).suffix.lower()
        kind = {NPY: "npy", PNG: "png", "": "dir"}.get(suffix)
        if kind is None:
            raise UsageError(f"{path}: unknown output type {suffix!r}; expected .png, .npy or a folder name")
    if not 1 <= scale <= MAX_SCALE:
        raise UsageError(f"--scale must be 1 to {MAX_SCALE}, not {scale}")
    if scale != 1 and kind == "npy":
        raise UsageError("--scale is for PNG images; an .npy array holds the 28 x 28 digits themselves")
    return kind


def check_output(
    path: str | os.PathLike, force: bool, count: int | None = None, fmt: str | None = None, inputs: Iterable = (),
    scale: int = 1,
) -> str:
    """Validate an output before any work is done; returns its kind. ``count``: digits it will hold."""
    kind = _kind_for(path, fmt, count, scale)
    if is_stdio(path):
        stdout_binary()
    else:
        check_writable(path, force, inputs, directory=kind == "dir")
    return kind


def _kind_for(path, fmt: str | None, count: int | None, scale: int = 1) -> str:
    """The output's kind (see :func:`kind_of`), refusing a grid PNG of more than MAX_GRID_DIGITS digits."""
    kind = kind_of(path, fmt, scale)
    if kind == "png" and count is not None and count > MAX_GRID_DIGITS:
        raise OutputError(
            f"{path}: {count:,} digits are too many for one grid PNG (at most {MAX_GRID_DIGITS:,}); "
            "write a folder or an .npy file"
        )
    return kind


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Tile (N, 28, 28) digits into one image, ``columns`` wide (square-ish by default)."""
    n, h, w = images.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    canvas = np.zeros((rows * h, cols * w), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return canvas


def save_digits(
    images: np.ndarray | Iterable[np.ndarray],
    path: str | os.PathLike,
    force: bool = False,
    names: list[str] | None = None,
    count: int | None = None,
    fmt: str | None = None,
    inputs: Iterable = (),
    scale: int = 1,
) -> str:
    """Write digits to ``path`` by its kind; returns the kind written.

    ``images`` is one (N, 28, 28) array or an iterable of batches whose sizes
    add up to ``count`` (required then). A PNG draws each pixel as a
    ``scale`` x ``scale`` square.
    """
    if isinstance(images, np.ndarray):
        count, batches = len(images), [images]
    else:
        batches = images
        if count is None:
            raise ValueError("count is required with an iterable of batches")
    kind = _kind_for(path, fmt, count, scale)  # writability: atomic_output checks it, as check_output did before
    if kind == "npy":
        writer = _write_npy
    elif kind == "png":
        writer = _write_png
    else:
        writer = _write_folder
    if is_stdio(path):
        writer(batches, count, stdout_binary(), names, scale)
        return kind
    with atomic_output(path, force, directory=kind == "dir", inputs=inputs) as tmp:
        if kind == "dir":
            writer(batches, count, tmp, names, scale)
        else:
            with open(tmp, "wb") as f:
                writer(batches, count, f, names, scale)
    return kind


def _checked(batches: Iterable[np.ndarray], count: int):
    """The batches, checked to be uint8 digits adding up to ``count``."""
    seen = 0
    for batch in batches:
        batch = np.asarray(batch)
        if batch.dtype != np.uint8 or batch.shape[1:] != (SIDE, SIDE):
            raise ValueError(f"expected uint8 digits of shape (k, {SIDE}, {SIDE}), found {batch.dtype} {batch.shape}")
        seen += len(batch)
        if seen > count:
            raise ValueError(f"more digits than the {count} announced")
        yield batch
    if seen != count:
        raise ValueError(f"{seen} digits written, {count} announced")


def _write_npy(batches, count: int, f, names, scale: int = 1) -> None:
    """An (N, 28, 28) uint8 .npy: the header for ``count`` digits, then each batch as it comes (a stream
    that does not decode is refused before, by ``Codec.decode_batches``: nothing is written)."""
    np.lib.format.write_array_header_1_0(f, dict(descr="|u1", fortran_order=False, shape=(count, SIDE, SIDE)))
    for batch in _checked(batches, count):
        f.write(np.ascontiguousarray(batch).tobytes())


def _write_png(batches, count: int, f, names, scale: int = 1) -> None:
    """One digit as a 28 x 28 PNG, several as a grid (bounded by MAX_GRID_DIGITS, checked before)."""
    images = np.concatenate(list(_checked(batches, count)))
    f.write(png_bytes(images[0] if count == 1 else grid(images), scale))


def _write_folder(batches, count: int, folder: Path, names, scale: int = 1) -> None:
    """One PNG per digit, ``digit-0007.png`` (see :func:`digit_stem`) or ``NAME.png``."""
    i = 0
    for batch in _checked(batches, count):
        for img in batch:
            stem = names[i] if names else digit_stem(i, count)
            (folder / f"{stem}{PNG}").write_bytes(png_bytes(img, scale))
            i += 1


def digit_stem(i: int, count: int) -> str:
    """The name of digit ``i`` of ``count`` in a folder: ``digit-0007``, zero-padded so that names sort as digits."""
    return f"digit-{i:0{len(str(count - 1))}d}"


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """One uint8 image as the bytes of a PNG file, each pixel a ``scale`` x ``scale`` square."""
    if scale != 1:
        image = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    return png.write(image)
