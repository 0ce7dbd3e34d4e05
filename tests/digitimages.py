"""Digit images for the tests of images and inputs: synthetic digits and image files made to order."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

NOT_AN_IMAGE = "not a PNG, JPEG, WebP, BMP, GIF or TIFF image"
SEVERAL_FRAMES = "several frames; the first is used"
NO_INK = "no ink found; coded as a blank digit"
MINIMAL_EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
)


def idx_bytes(images: np.ndarray, magic: int = 2051, count: int | None = None) -> bytes:
    """An IDX3 file holding ``images`` (N, rows, cols); ``count`` overrides the header count."""
    n, rows, cols = images.shape
    header = struct.pack(">IIII", magic, n if count is None else count, rows, cols)
    return header + images.astype(np.uint8).tobytes()


def fake_images(n: int, rows: int = 28, cols: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def ring(h: int = 28, w: int = 28, cy: float | None = None, cx: float | None = None, r_out=9.0, r_in=5.0):
    """A synthetic digit "0": a thick white ring (255) on black (0), uint8."""
    cy = (h - 1) / 2 if cy is None else cy
    cx = (w - 1) / 2 if cx is None else cx
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - cy, xx - cx)
    return np.where((r >= r_in) & (r <= r_out), 255, 0).astype(np.uint8)


def seven(h: int, w: int, top: int, left: int, size: int, stroke: int) -> np.ndarray:
    """A lopsided synthetic "7" (top bar and right-hand stem) in a size x size box: its centre
    of mass is not the centre of its bounding box."""
    img = np.zeros((h, w), dtype=np.uint8)
    img[top : top + stroke, left : left + size] = 255
    img[top : top + size, left + size - stroke : left + size] = 255
    return img


def save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


def save_l(arr: np.ndarray, path: Path) -> Path:
    return save(Image.fromarray(arr), path)


def center_of_mass(a: np.ndarray) -> tuple[float, float]:
    w = a.astype(np.float64)
    yy, xx = np.indices(a.shape)
    return float((yy * w).sum() / w.sum()), float((xx * w).sum() / w.sum())


def bbox_size(a: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(a)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def assert_mnist_like(out: np.ndarray) -> None:
    """Output of a normalised (non-28x28) image: 28x28 uint8, ink box fits 20x20, centred mass."""
    assert out.shape == (28, 28) and out.dtype == np.uint8
    h, w = bbox_size(out)
    assert h <= 20 and w <= 20
    assert max(h, w) >= 19
    cy, cx = center_of_mass(out)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0, (cy, cx)


def png_with_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR claims width x height (CRC fixed), without allocating that image."""
    save_l(np.zeros((8, 8), dtype=np.uint8), path)
    raw = bytearray(path.read_bytes())
    assert raw[12:16] == b"IHDR"
    raw[16:24] = struct.pack(">II", width, height)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])) & 0xFFFFFFFF)
    return write(path, bytes(raw))
