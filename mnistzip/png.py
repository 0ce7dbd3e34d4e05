"""PNG, the part a digit needs: 8-bit grey images written, small 8-bit PNGs read, without Pillow.

mnistzip writes every PNG itself (a digit, a grid, a folder of digits), and
reads digit-sized PNGs of 8 bits per sample without importing Pillow, whose
import is the largest part of a one-digit command after NumPy's. Every other
image, and any PNG outside the subset below, is read by Pillow (``images``).

The subset (PNG specification, 3rd edition):

* the 8-byte signature, then chunks: 4-byte big-endian length, 4-byte type,
  data, CRC-32 of type and data;
* ``IHDR``: width, height (at most ``MAX_BYTES`` of samples in all), bit
  depth 8, colour type 0 (grey), 2 (RGB), 4 (grey and alpha) or 6 (RGBA),
  compression 0, filter method 0, interlace 0;
* ``IDAT`` chunks, consecutive, whose data joined is one zlib stream of
  ``height`` scanlines, each a filter byte (0 None, 1 Sub, 2 Up, 3 Average,
  4 Paeth) and ``width`` x channels filtered bytes (a filter's "left" is the
  same sample of the pixel before);
* ``IEND``, then nothing but trailing bytes (ignored, as readers do);
* ancillary chunks that do not change the pixels' meaning as mnistzip reads
  them (``PASSED``: text chunks too, but those whose keyword names EXIF or
  XMP data, ``ORIENTED``, where Pillow finds an orientation); any other, such
  as ``tRNS`` (transparency, which ``images`` reads as ink), ``eXIf`` or
  ``iTXt`` (an orientation), is left to Pillow.

:func:`read` returns ``None`` for anything else, including a damaged file:
the caller then asks Pillow, whose message names the problem. Decoding is
bounded by the header (at most ``MAX_BYTES`` are inflated), never by what the
stream claims, and small enough that Python's loop over an Average or Paeth
row costs less than importing Pillow.

The writer filters each row with whichever of None, Sub, Up and Paeth gives the
smallest sum of absolute (signed) bytes, the heuristic of libpng and Pillow, and
compresses with zlib at its default level: a 28 x 28 MNIST digit takes about 260 bytes.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_BYTES = 1 << 16  # samples read here (a 128 x 128 RGBA image); photos and scans are Pillow's, in C
DEPTH = 8
GREY = 0
CHANNELS = {GREY: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel: grey, RGB, grey + alpha, RGBA
ROWS = 256  # rows filtered at a time: a 7168-pixel-wide grid then needs ~20 MB of work arrays
NONE, SUB, UP, AVERAGE, PAETH = range(5)
# Ancillary chunks read past: colour management, physical size, time, text other than XMP, background
PASSED = {b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"tIME", b"tEXt", b"zTXt", b"bKGD", b"hIST"}
ORIENTED = (b"raw profile type exif", b"raw profile type app1", b"xml:com.adobe.xmp")  # text keywords, lower case


def write(image: np.ndarray) -> bytes:
    """A 2-D uint8 image as the bytes of a grey PNG file."""
    image = np.ascontiguousarray(image, np.uint8)
    height, width = image.shape
    header = struct.pack(">IIBBBBB", width, height, DEPTH, GREY, 0, 0, 0)
    deflater = zlib.compressobj()  # zlib's default level, 6, as Pillow's
    stream = [deflater.compress(_filtered(image[max(0, y - 1) : y + ROWS], y > 0)) for y in range(0, height, ROWS)]
    stream.append(deflater.flush())
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(stream)) + _chunk(b"IEND", b"")


def read(data: bytes) -> np.ndarray | None:
    """The samples of a PNG in the subset above, uint8 (height, width, channels), or ``None`` (Pillow is to read it).

    Channels: 1 grey, 2 grey and alpha, 3 RGB, 4 RGBA.
    """
    if not data.startswith(SIGNATURE):
        return None
    chunks, pos, idat, state = [], len(SIGNATURE), [], "header"
    while state != "end":
        if pos + 12 > len(data):
            return None
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            return None
        body = data[pos + 8 : end - 4]
        pos = end
        if state == "header":
            if kind != b"IHDR" or length != 13:
                return None
            width, height, depth, colour, compression, method, interlace = struct.unpack(">IIBBBBB", body)
            channels = CHANNELS.get(colour, 0) if depth == DEPTH else 0
            if not (channels and 0 < width and 0 < height and width * height * channels <= MAX_BYTES) \
                    or compression or method or interlace:
                return None
            state = "before"
        elif kind == b"IDAT" and state != "after":
            idat.append(body)
            state = "inside"
        elif kind == b"IEND" and state in ("inside", "after"):
            state = "end"
        elif kind in PASSED and not (kind in (b"tEXt", b"zTXt") and body.split(b"\0", 1)[0].lower() in ORIENTED):
            state = "after" if state == "inside" else state
        else:
            return None
    return _inflated(b"".join(idat), width, height, channels)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _inflated(stream: bytes, width: int, height: int, channels: int) -> np.ndarray | None:
    """The scanlines of one zlib stream, unfiltered; ``None`` if the stream is damaged, short or too long."""
    stride = width * channels
    size = height * (stride + 1)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(stream, size + 1)
    except zlib.error:
        return None
    if len(raw) != size or not inflater.eof or inflater.unconsumed_tail:
        return None
    lines = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    if lines[:, 0].max() > PAETH:
        return None
    out = np.zeros((height + 1, stride), np.uint8)  # row 0: the zero row above the first
    for y, (kind, row) in enumerate(zip(lines[:, 0].tolist(), lines[:, 1:])):
        out[y + 1] = _unfiltered(kind, row, out[y], channels)
    return out[1:].reshape(height, width, channels)


def _unfiltered(kind: int, row: np.ndarray, above: np.ndarray, bpp: int) -> np.ndarray:
    """One scanline back from its filter (arithmetic modulo 256, as uint8 wraps); ``bpp``: bytes per pixel."""
    if kind == NONE:
        return row
    if kind == SUB:
        return np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint8).ravel()
    if kind == UP:
        return row + above
    out = [0] * (len(row) + bpp)  # bpp zeros to the left of the first pixel
    corners = [0] * bpp + above.tolist()
    for i, (x, b) in enumerate(zip(row.tolist(), above.tolist())):
        a = out[i]
        predicted = (a + b) // 2 if kind == AVERAGE else _paeth(a, b, corners[i])
        out[i + bpp] = (x + predicted) & 255
    return np.array(out[bpp:], np.uint8)


def _paeth(a: int, b: int, c: int) -> int:
    """The neighbour (left ``a``, above ``b``, above-left ``c``) nearest to a + b - c, ties in that order."""
    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered(rows: np.ndarray, after_first: bool) -> bytes:
    """Each row with its filter byte, the filter chosen by the smallest sum of absolute signed bytes;
    when ``after_first``, ``rows[0]`` is the row above the first one to filter."""
    padded = rows.astype(np.int16) if after_first else np.pad(rows.astype(np.int16), ((1, 0), (0, 0)))
    x = padded[1:]
    a = np.pad(x, ((0, 0), (1, 0)))[:, :-1]  # left
    b = padded[:-1]  # above
    c = np.pad(b, ((0, 0), (1, 0)))[:, :-1]  # above-left
    pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = np.stack([x, x - a, x - b, x - paeth]).astype(np.uint8)  # None, Sub, Up, Paeth: modulo 256
    cost = np.minimum(candidates, 256 - candidates.astype(np.int16)).sum(axis=2)
    choice = np.argmin(cost, axis=0)  # of equal costs, the first: the simpler filter
    kinds = np.array([NONE, SUB, UP, PAETH], np.uint8)[choice]
    rows = candidates[choice, np.arange(len(x))]
    return np.concatenate([kinds[:, None], rows], axis=1).tobytes()
