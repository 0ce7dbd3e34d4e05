"""The ``.mz`` file format, version 1, in code: its constants, the reader and the writer (no TensorFlow here).

docs/format.md is the specification (every field, its bounds, the errors and
their messages); this module follows it field by field: the reader checks each
in order and says what it expected and what it found.
"""

from __future__ import annotations

import binascii
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import BadMzFile, ChecksumMismatch, NotAnMzFile, TruncatedFile, UnsupportedVersion
from .fileio import is_stdio, read_stdin, stdout_binary, write_atomic

MAGIC = b"\x89Z"
VERSION = 1
MODEL_ID_BYTES = 2
CRC_BYTES = 2
CRC_INIT = 0xFFFF
MAX_DIGITS = 1 << 20  # bounds what a decoder allocates: 1 MiB digits is 784 MiB of pixels
MAX_COUNT_BYTES = 3  # LEB128 bytes enough for MAX_DIGITS
MAX_FILE_BYTES = 64 << 20  # an honest file is far smaller (≈ 16 bytes per digit at most)
SUFFIX = ".mz"
SIDE = 28  # every digit is SIDE x SIDE uint8 pixels, as MNIST's
CLASSES = 10  # a digit's class is 0 to 9: what a class-coding model sends first (docs/format.md, "Payload")


@dataclass(frozen=True)
class MzFile:
    """The decoded contents of an ``.mz`` file."""

    model_id: str  # 4 hex digits
    count: int
    payload: bytes
    version: int = VERSION

    @property
    def header_bytes(self) -> int:
        """Bytes before the payload."""
        return len(MAGIC) + 1 + MODEL_ID_BYTES + len(leb128(self.count))

    @property
    def overhead_bytes(self) -> int:
        """Bytes spent on anything but the range-coded payload."""
        return self.header_bytes + CRC_BYTES

    @property
    def size(self) -> int:
        """Total file size in bytes."""
        return self.overhead_bytes + len(self.payload)


def dumps(mz: MzFile) -> bytes:
    """Serialise an :class:`MzFile` to bytes."""
    check_count(mz.count, ValueError)
    model = bytes.fromhex(mz.model_id)
    if len(model) != MODEL_ID_BYTES:
        raise ValueError(f"model id must be {MODEL_ID_BYTES * 2} hex digits, not {mz.model_id!r}")
    body = MAGIC + bytes([VERSION]) + model + leb128(mz.count) + mz.payload
    return body + crc(body).to_bytes(CRC_BYTES, "big")


def loads(data: bytes) -> MzFile:
    """Parse ``.mz`` bytes, raising a specific :class:`BadMzFile` for each way they can be wrong."""
    reader = _Reader(data)
    magic = reader.take(len(MAGIC), "magic bytes")
    if magic != MAGIC:
        raise NotAnMzFile(f"not an .mz file: expected magic bytes {MAGIC.hex(' ')}, found {magic.hex(' ')}")
    version = reader.take(1, "format version")[0]
    if version != VERSION:
        raise UnsupportedVersion(f"unsupported .mz format version {version}: this mnistzip reads version {VERSION}")
    model_id = reader.take(MODEL_ID_BYTES, "model id").hex()
    count = reader.leb128("digit count")
    if len(data) - reader.pos < CRC_BYTES:
        raise TruncatedFile(
            f"truncated .mz file: expected a {CRC_BYTES}-byte checksum after the header, "
            f"found {len(data) - reader.pos} bytes"
        )
    stored = int.from_bytes(data[-CRC_BYTES:], "big")
    computed = crc(data[:-CRC_BYTES])
    if stored != computed:
        raise ChecksumMismatch(
            f"checksum mismatch: stored {stored:04x}, computed {computed:04x} (the file is corrupt or truncated)"
        )
    check_count(count, BadMzFile)
    return MzFile(model_id=model_id, count=count, payload=bytes(data[reader.pos : -CRC_BYTES]), version=version)


def read(path: str | os.PathLike) -> MzFile:
    """Read and parse an ``.mz`` file (``-``: standard input), with one-line errors for unreadable paths."""
    if is_stdio(path):
        data = read_stdin(MAX_FILE_BYTES, "an .mz file")
        try:
            return loads(data)
        except BadMzFile as e:
            raise type(e)(f"standard input: {e}") from None
    path = Path(path)
    try:
        info = path.stat()
        if path.is_dir():
            raise BadMzFile(f"{path}: is a directory, expected an .mz file")
        if not stat.S_ISREG(info.st_mode):  # a FIFO would block forever, a device never end
            raise BadMzFile(f"{path}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise BadMzFile(f"{path}: {info.st_size} bytes is larger than any .mz file ({MAX_FILE_BYTES} bytes at most)")
        with open(path, "rb") as f:
            return read_stream(f, str(path))
    except FileNotFoundError:
        raise BadMzFile(f"{path}: no such file") from None
    except PermissionError:
        raise BadMzFile(f"{path}: permission denied") from None
    except OSError as e:
        raise BadMzFile(f"{path}: cannot read ({e.strerror or e})") from None


def read_stream(f: BinaryIO, name: str | None = None) -> MzFile:
    """Parse the ``.mz`` file an open stream holds (any file system's), reading at most one byte more than the
    largest file (a file that grew meanwhile, or a device, stops there); errors name it ``name``, if given."""
    data = f.read(MAX_FILE_BYTES + 1)
    try:
        if len(data) > MAX_FILE_BYTES:
            raise BadMzFile(f"larger than any .mz file ({MAX_FILE_BYTES} bytes at most)")
        return loads(data)
    except BadMzFile as e:
        raise type(e)(f"{name}: {e}" if name else str(e)) from None


def write(path: str | os.PathLike, mz: MzFile, force: bool = False, inputs=()) -> int:
    """Write an ``.mz`` file atomically (``-``: to standard output); returns its size in bytes."""
    blob = dumps(mz)
    if is_stdio(path):
        out = stdout_binary()
        out.write(blob)
        out.flush()
    else:
        write_atomic(path, blob, force=force, inputs=inputs)
    return len(blob)


def check_count(count: int, error: type[Exception] = BadMzFile, what: str = "digit count") -> None:
    """Refuse a count of digits outside 1 to ``MAX_DIGITS`` (the one check of that bound) with ``error``."""
    if not 1 <= count <= MAX_DIGITS:
        raise error(f"bad {what}: expected 1 to {MAX_DIGITS}, found {count}")


def layout(mz: MzFile) -> list[tuple[str, int, int]]:
    """Byte accounting: (field, offset, size) for each part of the file."""
    fields = [
        ("magic", len(MAGIC)),
        ("version", 1),
        ("model id", MODEL_ID_BYTES),
        ("digit count", len(leb128(mz.count))),
        ("payload", len(mz.payload)),
        ("crc-16", CRC_BYTES),
    ]
    out, offset = [], 0
    for name, size in fields:
        out.append((name, offset, size))
        offset += size
    return out


def crc(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: catches every 1- and 2-bit error and every burst up to 16 bits."""
    return binascii.crc_hqx(data, CRC_INIT)


def leb128(n: int) -> bytes:
    """Unsigned LEB128: 7 bits a byte, low first, high bit set on all but the last."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class _Reader:
    """Walks the header, naming the field it was reading when the data runs out."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, size: int, what: str) -> bytes:
        """The next ``size`` bytes, or TruncatedFile naming ``what`` (numpy's _read_bytes idea)."""
        chunk = self.data[self.pos : self.pos + size]
        if len(chunk) != size:
            if self.pos == 0 and not self.data:
                raise TruncatedFile("empty file: expected an .mz file")
            if what == "magic bytes" and not MAGIC.startswith(chunk):
                raise NotAnMzFile(f"not an .mz file: expected magic bytes {MAGIC.hex(' ')}, found {chunk.hex(' ')}")
            raise TruncatedFile(f"truncated .mz file: expected {size} bytes of {what}, found {len(chunk)}")
        self.pos += size
        return chunk

    def leb128(self, what: str) -> int:
        """An unsigned LEB128 integer of at most MAX_COUNT_BYTES bytes, minimally encoded."""
        value = 0
        for i in range(MAX_COUNT_BYTES):
            byte = self.take(1, what)[0]
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise BadMzFile(f"bad {what}: not minimally encoded")
                return value
        raise BadMzFile(f"bad {what}: expected at most {MAX_COUNT_BYTES} bytes of LEB128, found more")
