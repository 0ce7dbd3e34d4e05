"""Digits out: one PNG, a grid PNG, a folder of PNGs, or a NumPy array, always written atomically."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np

from .errors import OutputError
from .fileio import atomic_output, check_writable

NPY = ".npy"
PNG = ".png"


def kind_of(path: str | os.PathLike) -> str:
    """'npy', 'png' or 'dir', from the output path's suffix (no suffix: a folder of PNGs)."""
    suffix = Path(path).suffix.lower()
    if suffix == NPY:
        return "npy"
    if suffix == PNG:
        return "png"
    if suffix == "":
        return "dir"
    raise OutputError(f"{path}: unknown output type {suffix!r}; expected .png, .npy or a folder name")


def check_output(path: str | os.PathLike, force: bool) -> Path:
    """Validate an output path before any work is done."""
    kind_of(path)
    return check_writable(path, force)


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


def save_digits(images: np.ndarray, path: str | os.PathLike, force: bool = False, names: list[str] | None = None) -> str:
    """Write digits to ``path`` by its kind; returns the kind written."""
    from PIL import Image

    kind = kind_of(path)
    if kind == "npy":
        buf = io.BytesIO()
        np.save(buf, images)
        with atomic_output(path, force) as tmp:
            tmp.write_bytes(buf.getvalue())
    elif kind == "png":
        picture = images[0] if len(images) == 1 else grid(images)
        with atomic_output(path, force) as tmp:
            Image.fromarray(picture, mode="L").save(tmp, format="PNG")
    else:
        width = len(str(len(images) - 1))
        with atomic_output(path, force, directory=True) as tmp:
            for i, img in enumerate(images):
                stem = names[i] if names else f"digit-{i:0{width}d}"
                Image.fromarray(img, mode="L").save(tmp / f"{stem}{PNG}", format="PNG")
    return kind
