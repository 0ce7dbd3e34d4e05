"""Sharded archives: what a batch job reads, in which order, and what it writes (no Beam here).

A batch job (``mnistzip.pipeline``, on Apache Beam) turns millions of inputs
into *shards*: complete ``.mz`` files of at most ``shard_size`` digits each,
``PREFIX-00000-of-00004.mz`` to ``PREFIX-00003-of-00004.mz``, beside three
index files:

- ``PREFIX.manifest.jsonl``: one line per coded digit, in shard order,
  ``{"shard": NAME, "index": I, "source": SOURCE, "bits": B}``: the digit
  read from SOURCE is digit I of shard NAME, which spends about B bits on it;
- ``PREFIX.errors.jsonl``: one line per input that could not be read (the
  *dead letters*), ``{"source": SOURCE, "error": LINE}``, sorted by source;
- ``PREFIX.summary.json``: the model, the counts of digits, shards, bytes
  and dead letters, and the names of the shards written.

This module holds what those files mean, so that a runner only moves data.
Two choices make a rerun write the same bytes whatever the runner does:

- **One order.** Every input digit becomes an :class:`Entry`, and entries sort
  by the input's position on the command line, then the path as a tuple of
  parts, then the row inside the file. The same file matched twice (by the
  same path once normalised: ``./a.png`` is ``a.png``) counts once, at its
  first place. Digit k of that order goes to shard ``k // shard_size``; the
  number of shards is fixed by the count of entries, before any image is read.
- **Reading in the shard.** A shard's digits are read by the worker that codes
  the shard, so that reading order is coding order. A digit that cannot be read
  leaves the shard one digit shorter and goes to the dead letters; a shard left
  with no digit is not written (an ``.mz`` file holds at least one).

Sources are named as ``compress`` names them, and ``.npy`` rows as
``PATH:ROW``: ``scans/a/1.png``, ``digits.npy:7``, ``mnist:test:7``.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from . import container, images, inputs, mnist, search
from .container import SIDE
from .errors import InputError, MnistzipError, OutputError, UsageError, one_line

DEFAULT_SHARD_SIZE = 16_384  # about 20 KB of .mz at 10 bits a digit; 62 shards for a million digits
MANIFEST_SUFFIX = ".manifest.jsonl"
ERRORS_SUFFIX = ".errors.jsonl"
SUMMARY_SUFFIX = ".summary.json"
NPY = ".npy"
DIGIT_BYTES = SIDE * SIDE
MAX_IMAGE_BYTES = inputs.MAX_STDIN_BYTES  # an image file read whole (from a remote file system) is one image
# Rows of one .npy a job takes: 13 GB of digits. A sparse file can claim billions at no cost, and a job keeps a
# record per digit while it ranks them.
MAX_NPY_DIGITS = 1 << 24


class Entry(NamedTuple):
    """One input digit, before it is read. A job moves one per digit, so it holds no more than it must; its place
    in the order of the shards is :meth:`order`."""

    position: int  # which input (the command line's order) found it
    kind: str  # "image", "npy" or "mnist"
    location: str  # the file's path, or the MNIST split
    index: int  # the row of an .npy or of an MNIST split; 0 for an image

    def order(self) -> tuple:
        """Its place: the input's position, then the path as parts (as ``inputs.folder_images`` orders a folder),
        then the row."""
        parts = ("mnist", self.location) if self.kind == "mnist" else path_parts(self.location)
        return self.position, parts, self.index

    @property
    def identity(self) -> tuple[str, str, int]:
        """What makes two entries the same digit (one file matched by two inputs, perhaps spelt differently)."""
        location = os.path.normpath(self.location) if is_local(self.location) else self.location
        return self.kind, location, self.index

    @property
    def source(self) -> str:
        """The digit's name in the manifest and in messages."""
        if self.kind == "mnist":
            return f"mnist:{self.location}:{self.index}"
        if self.kind == "npy":
            return f"{self.location}:{self.index}"
        return self.location


class Ranked(NamedTuple):
    """An entry with its place: shard ``shard`` of ``shards``, ``rank`` in the order of every entry."""

    shard: int
    shards: int
    rank: int
    entry: Entry


class DeadLetter(NamedTuple):
    """An input that could not be used, with its one-line error."""

    source: str
    error: str

    def line(self) -> str:
        return json.dumps({"source": self.source, "error": self.error}, ensure_ascii=False)


class Coded(NamedTuple):
    """One shard as written: its number, file name (without the folder), digit count, bytes and manifest lines."""

    shard: int
    name: str
    digits: int
    size: int
    manifest: tuple[str, ...]


# --------------------------------------------------------------------------- names


def shard_name(prefix: str, shard: int, shards: int) -> str:
    """``PREFIX-00002-of-00016.mz``: Beam's convention for sharded output (at least five digits each)."""
    return f"{prefix}-{shard:05d}-of-{shards:05d}{container.SUFFIX}"


def index_files(prefix: str) -> dict[str, str]:
    """The three files a compression job writes beside its shards."""
    return {"manifest": prefix + MANIFEST_SUFFIX, "errors": prefix + ERRORS_SUFFIX, "summary": prefix + SUMMARY_SUFFIX}


def shard_pattern(prefix: str) -> str:
    """A glob for every shard a job with this prefix may have written, whatever their number."""
    return f"{prefix}-[0-9][0-9][0-9][0-9][0-9]*-of-[0-9][0-9][0-9][0-9][0-9]*{container.SUFFIX}"


def is_local(path: str) -> bool:
    """A path on this machine's file system, rather than a URL (gs://, s3://, hdfs://) Beam's file systems read."""
    return "://" not in path


def path_parts(path: str) -> tuple[str, ...]:
    """A path (or URL) as the parts its order is judged by, as ``inputs.folder_images`` orders a folder."""
    return tuple(part for part in path.split("/") if part)


# --------------------------------------------------------------------------- inputs


def mnist_entries(position: int, text: str) -> Iterator[Entry]:
    """Every digit an MNIST reference (``mnist:train``, ``mnist:test:0-99``) names."""
    split, sl = mnist.parse_reference(text)
    for i in range(sl.start, sl.stop):
        yield Entry(position, "mnist", split, i)


def file_entries(position: int, path: str, open_file: Callable[[str], BinaryIO]) -> Iterator[Entry | DeadLetter]:
    """The digits one matched file holds: an image gives one, an ``.npy`` array one per row.

    Files of other suffixes are dead letters: a glob such as ``scans/*``
    may match a stray ``notes.txt``, which must not stop the job.
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix in images.IMAGE_SUFFIXES:  # read later by images.load_image, which refuses what is not a regular file
        yield Entry(position, "image", path, 0)
    elif suffix == NPY:
        try:
            if is_local(path) and not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open below
                raise InputError(f"{path}: not a regular file")
            with open_file(path) as f:
                count, _ = npy_header(f, path)
        except MnistzipError as e:
            yield DeadLetter(path, one_line(str(e)))
            return
        except OSError as e:
            yield DeadLetter(path, one_line(f"{path}: cannot read ({e.strerror or e})"))
            return
        if count == 0:
            yield DeadLetter(path, f"{one_line(path)}: array holds no digits")
        elif count > MAX_NPY_DIGITS:
            yield DeadLetter(path, f"{one_line(path)}: array holds {count:,} digits; a job reads at most "
                                   f"{MAX_NPY_DIGITS:,} from one .npy (split it)")
            return
        for i in range(count):
            yield Entry(position, "npy", path, i)
    else:
        suffixes = ", ".join(sorted(images.IMAGE_SUFFIXES | {NPY}))
        yield DeadLetter(path, one_line(f"{path}: not an image or .npy file (expected {suffixes})"))


def npy_header(f: BinaryIO, name: str) -> tuple[int, int]:
    """Check an ``.npy`` file's header: (digits it holds, offset of the first). It must hold uint8 digits,
    ``(N, 28, 28)`` or one ``(28, 28)``, in C order, and be as long as its header says (nothing more)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, OSError, SyntaxError, EOFError) as e:
        raise InputError(f"{name}: not an .npy array ({e})") from None
    if shape == (SIDE, SIDE):
        shape = (1, SIDE, SIDE)
    if dtype != np.uint8 or fortran or len(shape) != 3 or shape[1:] != (SIDE, SIDE):
        order = "Fortran order " if fortran else ""
        raise InputError(f"{name}: expected uint8 digits of shape (N, {SIDE}, {SIDE}), found {order}{dtype} {shape}")
    offset = f.tell()
    f.seek(0, io.SEEK_END)
    size = f.tell()
    if size != offset + shape[0] * DIGIT_BYTES:
        raise InputError(f"{name}: expected {offset + shape[0] * DIGIT_BYTES} bytes for {shape[0]} digits, "
                         f"found {size}")
    return shape[0], offset


def rank(entries: Iterable[Entry], shard_size: int) -> Iterator[Ranked]:
    """Every entry once, in order, with its shard: the one place the order of a job is decided."""
    first: dict[tuple, Entry] = {}
    for entry in entries:
        seen = first.get(entry.identity)
        if seen is None or entry.position < seen.position:
            first[entry.identity] = entry
    ordered = sorted(first.values(), key=Entry.order)
    shards = math.ceil(len(ordered) / shard_size)
    for k, entry in enumerate(ordered):
        yield Ranked(k // shard_size, shards, k, entry)


def check_shard_size(size: int) -> int:
    """A shard is one .mz file: 1 to ``container.MAX_DIGITS`` digits."""
    if not 1 <= size <= container.MAX_DIGITS:
        raise UsageError(f"--shard-size must be 1 to {container.MAX_DIGITS}, not {size}")
    return size


class Reader:
    """Reads a shard's digits in order; keeps the ``.npy`` file last read open (its rows come together)."""

    def __init__(self, open_file: Callable[[str], BinaryIO], data_dir: str | None = None,
                 invert: bool | None = None):
        self.open_file = open_file
        self.data_dir = data_dir
        self.invert = invert
        self._npy: tuple[str, BinaryIO, int] | None = None
        self._splits: dict[str, np.ndarray] = {}

    def read(self, entry: Entry) -> np.ndarray:
        """One digit, uint8 (28, 28); a :class:`MnistzipError` (an ``InputError``) when it cannot be read."""
        try:
            if entry.kind == "mnist":
                if entry.location not in self._splits:
                    self._splits[entry.location] = mnist.images(entry.location, self.data_dir)
                return self._splits[entry.location][entry.index]
            if entry.kind == "npy":
                return self._npy_row(entry.location, entry.index)
            if is_local(entry.location):
                return images.load_image(entry.location, self.invert)
            with self.open_file(entry.location) as f:
                blob = f.read(MAX_IMAGE_BYTES + 1)
            if len(blob) > MAX_IMAGE_BYTES:
                raise InputError(f"{entry.location}: over {MAX_IMAGE_BYTES:,} bytes; one image is smaller")
            return images.load_image(io.BytesIO(blob), self.invert, name=entry.location)
        except OSError as e:
            raise InputError(f"{entry.source}: cannot read ({e.strerror or e})") from None

    def _npy_row(self, path: str, row: int) -> np.ndarray:
        if self._npy is None or self._npy[0] != path:
            self.close()
            f = self.open_file(path)
            try:
                count, offset = npy_header(f, path)  # checked again: the file may have changed since it was listed
            except BaseException:
                f.close()
                raise
            if row >= count:
                f.close()
                raise InputError(f"{path}: row {row} is gone (the array now holds {count})")
            self._npy = (path, f, offset)
        _, f, offset = self._npy
        f.seek(offset + row * DIGIT_BYTES)
        blob = f.read(DIGIT_BYTES)
        if len(blob) != DIGIT_BYTES:
            raise InputError(f"{path}: row {row} is gone (the file is shorter)")
        return np.frombuffer(blob, np.uint8).reshape(SIDE, SIDE)

    def close(self) -> None:
        if self._npy is not None:
            self._npy[1].close()
            self._npy = None


def read_shard(ranked: Iterable[Ranked], reader: Reader) -> tuple[np.ndarray, list[str], list[DeadLetter]]:
    """A shard's digits in rank order: (images (N, 28, 28), their sources, the dead letters)."""
    images, sources, dead = [], [], []
    try:
        for item in sorted(ranked, key=lambda r: r.rank):
            try:
                images.append(reader.read(item.entry))
                sources.append(item.entry.source)
            except MnistzipError as e:
                dead.append(DeadLetter(item.entry.source, one_line(str(e))))
    finally:
        reader.close()
    stacked = np.stack(images).astype(np.uint8, copy=False) if images else np.zeros((0, SIDE, SIDE), np.uint8)
    return stacked, sources, dead


def code_shard(codec, shard: int, name: str, images: np.ndarray, sources: list[str],
               fast: bool = False) -> tuple[bytes, Coded]:
    """Shard number ``shard``'s .mz bytes and what the manifest says of it (``name``: its file name), each digit
    coded as ``mnistzip compress`` codes it (``search.encode``; ``fast``: rounded)."""
    payload, bits = search.encode(codec, images, fast)
    blob = container.dumps(container.MzFile(model_id=codec.id, count=len(images), payload=payload))
    lines = tuple(
        json.dumps({"shard": name, "index": i, "source": source, "bits": round(float(b), 3)}, ensure_ascii=False)
        for i, (source, b) in enumerate(zip(sources, bits))
    )
    return blob, Coded(shard, name, len(images), len(blob), lines)


def summary(model_id: str, model_name: str, shards: Iterable[Coded], dead: int, shard_size: int) -> dict:
    """What ``PREFIX.summary.json`` holds (``shards``: those written)."""
    shards = list(shards)
    digits = sum(s.digits for s in shards)
    size = sum(s.size for s in shards)
    return {
        "model": model_id,
        "name": model_name,
        "digits": digits,
        "shards": len(shards),
        "shard_size": shard_size,
        "bytes": size,
        "bits_per_digit": round(8 * size / digits, 3) if digits else None,
        "dead_letters": dead,
        "shard_files": [s.name for s in shards],
    }


def index_contents(model_id: str, model_name: str, coded: Iterable[Coded], dead: Iterable[DeadLetter],
                   shard_size: int) -> dict[str, bytes]:
    """The manifest, the dead letters and the summary, as the bytes of their files (keys of :func:`index_files`).
    Shards come in their order and dead letters in source order (each once), whatever order a runner gave them in."""
    coded = sorted(coded)
    dead = sorted(set(dead))
    lines = [line for shard in coded for line in shard.manifest]
    return {
        "manifest": "".join(line + "\n" for line in lines).encode(),
        "errors": dead_letters_file(dead),
        "summary": json_file(summary(model_id, model_name, coded, len(dead), shard_size)),
    }


def dead_letters_file(dead: Iterable[DeadLetter]) -> bytes:
    """The bytes of an errors file: each dead letter once, sorted by source."""
    return "".join(d.line() + "\n" for d in sorted(set(dead))).encode()


def json_file(content: dict) -> bytes:
    """The bytes of a summary file."""
    return (json.dumps(content, indent=2) + "\n").encode()


# --------------------------------------------------------------------------- outputs


def existing_outputs(prefix: str, glob: Callable[[str], list[str]]) -> list[str]:
    """Files a compression job with this prefix would write that are already there (``glob``: pattern → paths)."""
    found = list(glob(shard_pattern(prefix)))
    for path in index_files(prefix).values():
        found.extend(glob(path))
    return sorted(set(found))


def check_prefix(prefix: str, force: bool, glob: Callable[[str], list[str]]) -> list[str]:
    """Refuse, before any work, a prefix whose outputs exist (without ``force``), or whose folder does not;
    returns those that exist (with ``force``)."""
    if not prefix or prefix.endswith("/"):
        raise OutputError(f"--output must be a prefix such as out/digits, not {prefix!r}")
    if is_local(prefix):
        folder = Path(prefix).parent
        if not folder.is_dir():
            raise OutputError(f"{folder}: no such folder for --output {prefix}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"{folder}: permission denied")
    found = existing_outputs(prefix, glob)
    if found and not force:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise OutputError(f"{found[0]} exists{more}; pass --force to replace what this job writes")
    return found


def stale_shards(found: Iterable[str], summary: dict) -> list[str]:
    """The shards found before a job (``found``: paths) that it did not write again: an earlier job's, which its
    manifest does not name (a job never deletes what it did not write)."""
    written = set(summary["shard_files"])
    return sorted(path for path in found if path.endswith(container.SUFFIX) and
                  path.rstrip("/").rsplit("/", 1)[-1] not in written)
