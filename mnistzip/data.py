"""Digits in: MNIST (IDX files or TFDS), MNIST references and image files.

Everything here returns ``uint8`` arrays of shape ``(N, 28, 28)``, white ink on
black as in MNIST. No TensorFlow is imported unless TFDS is asked for.
"""

from __future__ import annotations

import functools
import gzip
import os
import re
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataError, InputError

DATA_DIR_ENV = "MNISTZIP_DATA_DIR"
SIDE = 28  # MNIST digits are 28 x 28
BOX = 20  # MNIST fitted each digit's bounding box into 20 x 20
MIN_SIDE = 8  # smaller images hold no recognisable digit
IDX_IMAGES_MAGIC = 2051  # big-endian uint32: 0x00000803 (uint8, 3 dimensions)
SPLIT_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
REFERENCE = re.compile(r"^mnist:(train|test)(?::(\d+)(?:-(\d+))?)?$")


@dataclass(frozen=True)
class Digits:
    """Digits read from the inputs, with a name for each (file or reference)."""

    images: np.ndarray  # (N, 28, 28) uint8
    names: list[str]
    notes: list[str] = field(default_factory=list)  # things a user should know (e.g. frames skipped)


# --------------------------------------------------------------------------- MNIST


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The IDX directory to use: the argument, else $MNISTZIP_DATA_DIR, else None (TFDS)."""
    chosen = data_dir if data_dir else os.environ.get(DATA_DIR_ENV)
    return Path(chosen) if chosen else None


def load_mnist(split: str, data_dir: str | os.PathLike | None = None) -> np.ndarray:
    """All images of an MNIST split, from IDX files when a directory is known, else TFDS."""
    if split not in SPLIT_FILES:
        raise InputError(f"unknown MNIST split {split!r}: expected 'train' or 'test'")
    directory = resolve_data_dir(data_dir)
    if directory is None:
        return _load_tfds(split)
    return _load_idx_split(str(directory.resolve()), split)


@functools.lru_cache(maxsize=4)
def _load_idx_split(directory: str, split: str) -> np.ndarray:
    """Read one split from a directory holding the original IDX files (gzipped or not)."""
    root = Path(directory)
    if not root.is_dir():
        raise DataError(f"MNIST data directory {root} does not exist or is not a directory")
    stem = SPLIT_FILES[split]
    candidates = [root / f"{stem}.gz", root / stem, root / stem.replace("-idx", ".idx")]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DataError(f"no {stem}[.gz] in MNIST data directory {root}")
    images = read_idx_images(path)
    if len(images) != SPLIT_SIZES[split]:
        raise DataError(
            f"{path.name}: expected {SPLIT_SIZES[split]} images for the {split} split, found {len(images)}"
        )
    return images


def read_idx_images(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX3 uint8 image file (optionally gzipped), checking magic and size."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(raw) < 16:
        raise DataError(f"{path.name}: expected a 16-byte IDX header, found {len(raw)} bytes")
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != IDX_IMAGES_MAGIC:
        raise DataError(f"{path.name}: expected IDX image magic {IDX_IMAGES_MAGIC}, found {magic}")
    if (rows, cols) != (SIDE, SIDE):
        raise DataError(f"{path.name}: expected {SIDE}x{SIDE} images, found {rows}x{cols}")
    expected = 16 + count * rows * cols
    if len(raw) != expected:
        raise DataError(f"{path.name}: expected {expected} bytes for {count} images, found {len(raw)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)


def _load_tfds(split: str) -> np.ndarray:
    """MNIST through tensorflow-datasets, which downloads it on first use."""
    hint = f"point --data-dir or ${DATA_DIR_ENV} at a directory of the IDX files"
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder("mnist")
        if not builder.is_prepared():
            _check_reachable(getattr(builder, "URL", ""), hint)
            tfds.disable_progress_bar()
        data = tfds.load("mnist", split=split, batch_size=-1, as_supervised=True)
        images = tfds.as_numpy(data)[0]
    except DataError:
        raise
    except Exception as e:  # TFDS raises many kinds when offline
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"could not get MNIST through tensorflow-datasets ({first_line[:120]}); {hint}") from None
    return np.asarray(images, dtype=np.uint8).reshape(-1, SIDE, SIDE)


def _check_reachable(url: str, hint: str, timeout: float = 3.0) -> None:
    """Fail in seconds, not minutes of retries, when TFDS's download host cannot be reached."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(url).hostname
    if not host:
        return
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as e:
        raise DataError(f"MNIST is not downloaded and {host} cannot be reached ({e.strerror or e}); {hint}") from None


def parse_reference(text: str) -> tuple[str, slice] | None:
    """``mnist:test:7`` → ('test', slice(7, 8)); ``mnist:train:0-99``; ``mnist:test``. None if not one."""
    m = REFERENCE.fullmatch(text)
    if not m:
        if text.startswith("mnist:"):
            raise InputError(
                f"bad MNIST reference {text!r}: expected mnist:SPLIT, mnist:SPLIT:I or mnist:SPLIT:I-J"
            )
        return None
    split, first, last = m.group(1), m.group(2), m.group(3)
    size = SPLIT_SIZES[split]
    if first is None:
        return split, slice(0, size)
    start, stop = int(first), int(last if last is not None else first)
    if stop < start:
        raise InputError(f"bad MNIST reference {text!r}: range {start}-{stop} is backwards")
    if stop >= size:
        raise InputError(f"MNIST index {stop} out of range: the {split} split has {size} digits (0-{size - 1})")
    return split, slice(start, stop + 1)


# --------------------------------------------------------------------------- images


def load_image(path: str | os.PathLike, invert: bool | None = None, notes: list[str] | None = None) -> np.ndarray:
    """Read one image file as an MNIST-style 28x28 uint8 digit.

    ``invert=None`` decides from the background (dark ink on light paper is
    inverted); True/False force it. Alpha, when it varies, is taken as the ink.
    An animated image gives its first frame (and a line in ``notes``).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.seek(0)  # animated images: the first frame is used
                frames = getattr(img, "n_frames", 1)
                if frames > 1 and notes is not None:
                    notes.append(f"{path}: {frames} frames; the first is used")
                ink, from_alpha = _to_gray(img)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError(f"{path}: image too large (decompression bomb limit)") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected an image file") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: cannot decode image ({e})") from None
    h, w = ink.shape
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{path}: image is {w}x{h}; expected at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if not from_alpha:
        if invert is None:
            invert = _background_is_light(ink)
        if invert:
            ink = 255.0 - ink
    if ink.shape != (SIDE, SIDE):
        ink = normalize_digit(ink, name=str(path))
    return np.clip(np.rint(ink), 0, 255).astype(np.uint8)


def _to_gray(img) -> tuple[np.ndarray, bool]:
    """Gray levels 0..255 as float, and whether they come from a varying alpha channel."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        return arr * (255.0 / 65535.0 if arr.max() > 255 or img.mode.startswith("I;16") else 1.0), False
    if img.mode == "F":
        return np.asarray(img, dtype=np.float64).clip(0, 255), False
    has_alpha = img.mode in ("LA", "RGBA", "PA", "La", "RGBa") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float64)[..., 3]
        if alpha.min() != alpha.max():
            return alpha, True
        img = rgba.convert("RGB")
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return np.asarray(img.convert("L"), dtype=np.float64), False


def _background_is_light(gray: np.ndarray) -> bool:
    """True when the border (the paper) is mostly light, i.e. the digit is dark on light."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) > 127.5


def normalize_digit(ink: np.ndarray, name: str = "image") -> np.ndarray:
    """Make a digit MNIST-like: fit its bounding box in 20x20 (aspect kept), centre of mass at the centre of 28x28."""
    from PIL import Image

    mask = ink > 0.1 * ink.max() if ink.max() > 0 else np.zeros_like(ink, dtype=bool)
    if not mask.any():
        raise InputError(f"{name}: no digit found (the image is blank)")
    rows, cols = np.nonzero(mask)
    crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.LANCZOS))
    small = small.clip(0, 255)
    total = small.sum()
    cy, cx = (np.indices(small.shape) * small).reshape(2, -1).sum(axis=1) / total
    top = int(np.clip(round(SIDE / 2 - cy - 0.5), 0, SIDE - small.shape[0]))
    left = int(np.clip(round(SIDE / 2 - cx - 0.5), 0, SIDE - small.shape[1]))
    out = np.zeros((SIDE, SIDE), dtype=np.float64)
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out


# --------------------------------------------------------------------------- inputs


def check_inputs(inputs: list[str]) -> None:
    """Refuse, before any work, an input that is neither an MNIST reference nor an existing path."""
    for item in inputs:
        if parse_reference(item) is None and not Path(item).exists():
            raise InputError(f"{item}: no such file, directory or MNIST reference (e.g. mnist:test:7)")


def collect_digits(
    inputs: list[str], data_dir: str | os.PathLike | None = None, invert: bool | None = None
) -> Digits:
    """Gather digits from image files, directories of images and MNIST references, in order."""
    check_inputs(inputs)
    images: list[np.ndarray] = []
    names: list[str] = []
    notes: list[str] = []
    for item in inputs:
        ref = parse_reference(item)
        if ref is not None:
            split, sl = ref
            block = load_mnist(split, data_dir)[sl]
            images.append(block)
            names.extend(f"mnist-{split}-{i}" for i in range(sl.start, sl.stop))
            continue
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not files:
                raise InputError(f"{path}: directory holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        else:
            files = [path]
        for f in files:
            images.append(load_image(f, invert, notes)[None])
            names.append(f.stem)
    if not images:
        raise InputError("no input digits given")
    return Digits(np.concatenate(images).astype(np.uint8), names, notes)
