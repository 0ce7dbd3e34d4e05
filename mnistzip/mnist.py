"""MNIST as mnistzip reads it: the original IDX files, and references to their digits (``mnist:test:7``).

Where a split comes from, the first that applies:

1. a folder of the IDX files (gzipped or not) named by ``--data-dir`` or
   ``$MNISTZIP_DATA_DIR``, for either split;
2. the test split shipped inside mnistzip (``datasets/mnist/``, CC BY-SA 3.0:
   see its ``NOTICE.md``), so that the first command of a fresh install works
   offline. Each file is checked against the ``SHA256SUMS`` beside it whenever
   it is read: a damaged or altered file is refused, never decoded into wrong
   digits;
3. the training split through tensorflow-datasets (``mnistzip[train]``), which
   downloads it once.

A reference reads only the digits it names: ``mnist:test:7`` inflates the
first eight digits of the file, not all ten thousand. Whole splits are kept
once read (read-only arrays), since training and ``eval`` read them again.
No TensorFlow is imported unless TFDS is asked for.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .container import CLASSES, SIDE
from .errors import DataError, InputError

DATA_DIR_ENV = "MNISTZIP_DATA_DIR"
SHIPPED = Path(__file__).resolve().parent / "datasets" / "mnist"  # the test split, as published
DIGESTS_FILE = "SHA256SUMS"
IMAGE_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
LABEL_FILES = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
IMAGES_MAGIC = 2051  # big-endian uint32: 0x00000803 (uint8, 3 dimensions)
LABELS_MAGIC = 2049  # 0x00000801 (uint8, 1 dimension)
DIGIT_BYTES = SIDE * SIDE
REFERENCE = re.compile(r"^mnist:(train|test)(?::([0-9]{1,9})(?:-([0-9]{1,9}))?)?$")  # ASCII digits, no giant numbers


# --------------------------------------------------------------------------- references


def parse_reference(text: str) -> tuple[str, slice] | None:
    """``mnist:test:7`` → ('test', slice(7, 8)); ``mnist:train:0-99``; ``mnist:test``. None if not one."""
    m = REFERENCE.fullmatch(text)
    if not m:
        if text.startswith("mnist:"):
            raise InputError(f"bad MNIST reference {text!r}: expected mnist:SPLIT, mnist:SPLIT:I or mnist:SPLIT:I-J")
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


# --------------------------------------------------------------------------- splits


def images(split: str, data_dir: str | os.PathLike | None = None, rows: slice | None = None) -> np.ndarray:
    """The images (N, 28, 28) uint8 of an MNIST split, or of its ``rows`` only (read-only when whole)."""
    return _split(split, data_dir, rows, labels=False)


def labels(split: str, data_dir: str | os.PathLike | None = None, rows: slice | None = None) -> np.ndarray:
    """The labels (0..9, uint8) of an MNIST split, in the order of :func:`images`, or of its ``rows`` only."""
    return _split(split, data_dir, rows, labels=True)


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The folder of IDX files to read: the argument, else $MNISTZIP_DATA_DIR, else None."""
    chosen = data_dir if data_dir else os.environ.get(DATA_DIR_ENV)
    return Path(chosen) if chosen else None


def files(split: str, data_dir: str | os.PathLike | None = None, with_labels: bool = False) -> list[Path]:
    """The files reading ``split`` reads (its images, and with ``with_labels`` its labels): inputs, which no
    output may overwrite. None for TFDS, whose files are its own."""
    directory = resolve_data_dir(data_dir)
    kinds = [IMAGE_FILES, LABEL_FILES] if with_labels else [IMAGE_FILES]
    if directory is not None:
        found = [_idx_path(directory, split, kind) for kind in kinds]
        return [p for p in found if p is not None]
    if split == "test":
        return [SHIPPED / f"{kind[split]}.gz" for kind in kinds]
    return []


def referenced_files(inputs: list[str], data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The files that the references among ``inputs`` read (see :func:`files`)."""
    splits = sorted({ref[0] for ref in map(parse_reference, inputs) if ref is not None})
    return [path for split in splits for path in files(split, data_dir)]


def _split(split: str, data_dir, rows: slice | None, labels: bool) -> np.ndarray:
    if split not in IMAGE_FILES:
        raise InputError(f"unknown MNIST split {split!r}: expected 'train' or 'test'")
    directory = resolve_data_dir(data_dir)
    if rows is not None and rows == slice(0, SPLIT_SIZES[split]):
        rows = None  # the whole split: read it once and keep it
    if directory is None and split == "train":
        content = _tfds(split, labels)
        return content if rows is None else content[rows]
    if rows is None:
        return _whole(str(directory.resolve()) if directory is not None else None, split, labels)
    return _read(directory, split, labels, rows)


@functools.lru_cache(maxsize=8)
def _whole(directory: str | None, split: str, labels: bool) -> np.ndarray:
    """A whole split from a folder (None: the shipped test split), read once."""
    content = _read(None if directory is None else Path(directory), split, labels, None)
    content.flags.writeable = False  # a cached array: a caller must not change what the next one gets
    return content


def _read(directory: Path | None, split: str, labels: bool, rows: slice | None) -> np.ndarray:
    """Rows of a split's images or labels from a folder of IDX files, or from the shipped test split."""
    kind = LABEL_FILES if labels else IMAGE_FILES
    if directory is None:
        path = SHIPPED / f"{kind[split]}.gz"
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(_shipped_bytes(path)), mode="rb") as f:
                content, count = _read_idx(f, path.name, labels, rows)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"cannot read {path}: {e}") from None
    else:
        if not directory.is_dir():
            raise DataError(f"MNIST data directory {directory} does not exist or is not a directory")
        path = _idx_path(directory, split, kind)
        if path is None:
            raise DataError(f"no {kind[split]}[.gz] in MNIST data directory {directory}")
        content, count = _read_idx_file(path, labels, rows)
    if count != SPLIT_SIZES[split]:
        what = "labels" if labels else "images"
        raise DataError(f"{path.name}: expected {SPLIT_SIZES[split]} {what} for the {split} split, found {count}")
    return content


def _idx_path(root: Path, split: str, kind: dict) -> Path | None:
    """The IDX file of ``split`` in ``root`` (gzipped or not, with '-idx' or '.idx' as published), if any."""
    stem = kind[split]
    candidates = [root / f"{stem}.gz", root / stem, root / stem.replace("-idx", ".idx")]
    return next((p for p in candidates if p.is_file()), None)


@functools.lru_cache(maxsize=4)
def _shipped_bytes(path: Path) -> bytes:
    """A shipped file's bytes, once their SHA-256 is the one ``SHA256SUMS`` gives."""
    reinstall = "reinstall mnistzip, or point --data-dir at a folder of the MNIST IDX files"
    try:
        sums = dict(reversed(line.split(maxsplit=1)) for line in (path.parent / DIGESTS_FILE).read_text().splitlines()
                    if line.strip())
        blob = path.read_bytes()
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the shipped MNIST test split ({getattr(e, 'strerror', None) or e}); "
                        f"{reinstall}") from None
    if hashlib.sha256(blob).hexdigest() != sums.get(path.name):
        raise DataError(f"{path}: damaged or altered (its SHA-256 is not the one {DIGESTS_FILE} gives); {reinstall}")
    return blob


# --------------------------------------------------------------------------- IDX files


def read_idx_images(path: str | os.PathLike, rows: slice | None = None) -> np.ndarray:
    """Parse an IDX3 uint8 image file (optionally gzipped), checking magic and size; ``rows`` reads those only."""
    return _read_idx_file(Path(path), False, rows)[0]


def read_idx_labels(path: str | os.PathLike, rows: slice | None = None) -> np.ndarray:
    """Parse an IDX1 uint8 label file (optionally gzipped), checking magic, size and that every label is a digit."""
    return _read_idx_file(Path(path), True, rows)[0]


def _read_idx_file(path: Path, labels: bool, rows: slice | None) -> tuple[np.ndarray, int]:
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            return _read_idx(f, path.name, labels, rows)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read {path}: {e}") from None


def _read_idx(f: BinaryIO, name: str, labels: bool, rows: slice | None) -> tuple[np.ndarray, int]:
    """(the content, the count its header gives) of an open IDX stream: the header first, so that a gzip bomb is
    refused before it is inflated, then only as many bytes as ``rows`` need (all of them, and one more to tell a
    longer file, when ``rows`` is None). A stream that cannot be read raises what it raised (the caller names it)."""
    header, magic, item, what = (8, LABELS_MAGIC, 1, "labels") if labels else (16, IMAGES_MAGIC, DIGIT_BYTES, "images")
    raw = f.read(header)
    if len(raw) < header:
        raise DataError(f"{name}: expected a {header}-byte IDX header, found {len(raw)} bytes")
    found_magic, count = struct.unpack(">II", raw[:8])
    if found_magic != magic:
        raise DataError(f"{name}: expected IDX {'label' if labels else 'image'} magic {magic}, found {found_magic}")
    if not labels and struct.unpack(">II", raw[8:]) != (SIDE, SIDE):
        raise DataError(f"{name}: expected {SIDE}x{SIDE} images, found {'x'.join(map(str, struct.unpack('>II', raw[8:])))}")
    if count > max(SPLIT_SIZES.values()):
        raise DataError(f"{name}: {count} {what} is more than any MNIST split holds")
    start, stop = (0, count) if rows is None else (rows.start, rows.stop)
    if stop > count:
        raise DataError(f"{name}: holds {count} {what}, not the {stop} the reference needs")
    if start:
        _skip(f, start * item)
    body = f.read((stop - start) * item + (rows is None))
    expected = (stop - start) * item
    if len(body) != expected:
        total = header + start * item + len(body)
        found = f"more than {header + count * item}" if len(body) > expected else str(total)
        raise DataError(f"{name}: expected {header + count * item} bytes for {count} {what}, found {found}")
    content = np.frombuffer(body, dtype=np.uint8)
    if labels:
        if content.size and content.max() >= CLASSES:
            raise DataError(f"{name}: expected labels 0 to {CLASSES - 1}, found {content.max()}")
        return content, count
    return content.reshape(-1, SIDE, SIDE), count


def _skip(f: BinaryIO, n: int) -> None:
    """Read past ``n`` bytes of a stream (a gzip stream is inflated to get there: it cannot seek)."""
    while n > 0:
        chunk = f.read(min(n, 1 << 20))
        if not chunk:
            return
        n -= len(chunk)


# --------------------------------------------------------------------------- TFDS


def _tfds(split: str, labels: bool = False) -> np.ndarray:
    """A split through tensorflow-datasets, which downloads it on first use: its images, or its labels."""
    hint = (f"point --data-dir or ${DATA_DIR_ENV} at a folder of the MNIST IDX files "
            f"(mnistzip ships the test split only)")
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(f"the MNIST {split} split is not shipped with mnistzip: {hint}, or install mnistzip[train] "
                        "to download it through tensorflow-datasets") from None
    try:
        builder = tfds.builder("mnist")
        if not builder.is_prepared():
            _check_reachable(getattr(builder, "URL", ""), hint)
            tfds.disable_progress_bar()
        data = tfds.load("mnist", split=split, batch_size=-1, as_supervised=True)
        found, classes = tfds.as_numpy(data)
    except DataError:
        raise
    except Exception as e:  # TFDS raises many kinds when offline
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"could not get MNIST through tensorflow-datasets ({first_line[:120]}); {hint}") from None
    if labels:
        return np.asarray(classes, dtype=np.uint8)
    return np.asarray(found, dtype=np.uint8).reshape(-1, SIDE, SIDE)


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
