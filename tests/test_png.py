"""mnistzip's own PNG: what it writes reads back in Pillow, and what it reads (or declines) is what Pillow would see."""

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from mnistzip import images, mnist, png

RNG = np.random.default_rng(0)
SHAPES = [(1, 1), (1, 9), (9, 1), (28, 28), (100, 37), (256, 256), (600, 300), (257, 257)]
MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


def small(shape, channels: int = 1) -> bool:
    return shape[0] * shape[1] * channels <= png.MAX_BYTES


def samples(shape, channels: int) -> np.ndarray:
    return RNG.integers(0, 256, (*shape, channels), dtype=np.uint8)


def pillow_png(a: np.ndarray, mode: str = "L", **options) -> bytes:
    buf = io.BytesIO()
    Image.frombytes(mode, a.shape[1::-1], a.tobytes()).save(buf, format="PNG", **options)
    return buf.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def header(w: int, h: int, depth: int = 8, colour: int = 0, interlace: int = 0) -> bytes:  # noqa: PLR0913
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace))


def handmade(a: np.ndarray, filters: list[int], before=(), between=(), split: int = 1, stream: bytes | None = None,
             colour: int = 0) -> bytes:
    """A PNG of samples ``a`` (height, width[, channels]) with each row's filter given, written independently of
    ``png.write``."""
    h, w = a.shape[:2]
    bpp = a.shape[2] if a.ndim == 3 else 1
    lines, above = [], [0] * (w * bpp)
    for y in range(h):
        row, kind, out = a[y].ravel().tolist(), filters[y % len(filters)], []
        for x in range(w * bpp):
            left, corner = (row[x - bpp], above[x - bpp]) if x >= bpp else (0, 0)
            predictor = [0, left, above[x], (left + above[x]) // 2, png._paeth(left, above[x], corner)][kind]
            out.append((row[x] - predictor) % 256)
        lines.append(bytes([kind, *out]))
        above = row
    data = zlib.compress(b"".join(lines)) if stream is None else stream
    parts = [data[i * len(data) // split : (i + 1) * len(data) // split] for i in range(split)]
    idat = b"".join(chunk(b"IDAT", p) for p in parts)
    return (png.SIGNATURE + header(w, h, colour=colour) + b"".join(before) + idat + b"".join(between)
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("shape", SHAPES)
def test_what_mnistzip_writes_pillow_reads_as_the_same_pixels(shape):
    a = RNG.integers(0, 256, shape, dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png.write(a)))), a)
    if small(shape):
        np.testing.assert_array_equal(png.read(png.write(a))[..., 0], a)
    else:  # a photo's size: Pillow reads it, in C
        assert png.read(png.write(a)) is None


def test_digits_round_trip_and_take_about_what_pillow_takes():
    digits = mnist.images("test", rows=slice(0, 100))
    ours = [png.write(d) for d in digits]
    for d, b in zip(digits, ours):
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(b))), d)
    assert sum(map(len, ours)) <= sum(len(pillow_png(d)) for d in digits)


@pytest.mark.parametrize("options", [{}, {"optimize": True}, {"compress_level": 0}])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (28, 28), (100, 37)])
def test_pngs_pillow_writes_read_as_pillow_reads_them(shape, mode, options):
    a = samples(shape, MODES[mode])
    data = pillow_png(a, mode, **options)
    np.testing.assert_array_equal(png.read(data), a)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))).reshape(a.shape), a)


@pytest.mark.parametrize("colour", png.CHANNELS)
@pytest.mark.parametrize("kind", range(5))
def test_every_filter_is_undone(kind, colour):
    a = samples((30, 41), png.CHANNELS[colour])
    np.testing.assert_array_equal(png.read(handmade(a, [kind], colour=colour)), a)
    np.testing.assert_array_equal(png.read(handmade(a, [kind, (kind + 1) % 5, (kind + 3) % 5], colour=colour)), a)


def test_several_idat_chunks_and_harmless_chunks_are_read():
    a = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
    text = chunk(b"tEXt", b"Comment\0drawn by hand")
    data = handmade(a, [4], before=[chunk(b"gAMA", struct.pack(">I", 45455)), text], between=[text], split=3)
    np.testing.assert_array_equal(png.read(data)[..., 0], a)


def with_byte(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes([value]) + data[at + 1 :]


A = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
GOOD = handmade(A, [1])
DECLINED = {
    "not a PNG": b"GIF89a" + GOOD[6:],
    "a palette": png.SIGNATURE + header(28, 28, colour=3) + GOOD[33:],
    "16-bit": png.SIGNATURE + header(28, 28, depth=16) + GOOD[33:],
    "interlaced": png.SIGNATURE + header(28, 28, interlace=1) + GOOD[33:],
    "over MAX_BYTES": png.SIGNATURE + header(png.MAX_BYTES // 28 + 1, 28) + GOOD[33:],
    "transparency": handmade(A, [1], before=[chunk(b"tRNS", b"\0\0")]),
    "an EXIF orientation": handmade(A, [1], before=[chunk(b"eXIf", b"MM\0*\0\0\0\x08\0\0")]),
    "XMP": handmade(A, [1], before=[chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x/>")]),
    "EXIF in text (ImageMagick's)": handmade(A, [1], before=[chunk(b"tEXt", b"Raw profile type exif\0\nexif\n 8\n")]),
    "XMP in compressed text": handmade(A, [1], before=[chunk(b"zTXt", b"XML:com.adobe.xmp\0\0" + zlib.compress(b"<x/>"))]),
    "a damaged CRC": with_byte(GOOD, 45, GOOD[45] ^ 1),  # a byte of IDAT data
    "cut short": GOOD[:-20],
    "no IEND": GOOD[:-12],
    "IDAT after other chunks": handmade(A, [1], between=[chunk(b"tEXt", b"a\0b"), chunk(b"IDAT", b"")]),
    "a filter byte of 5": handmade(A, [1], stream=zlib.compress(bytes([5] + [0] * 28) * 28)),
    "a stream one byte short": handmade(A, [1], stream=zlib.compress(bytes(29 * 28 - 1))),
    "a stream one byte long": handmade(A, [1], stream=zlib.compress(bytes(29 * 28 + 1))),
    "not zlib": handmade(A, [1], stream=b"\xff" * 40),
    "an unfinished stream": handmade(A, [1], stream=zlib.compressobj().compress(bytes(29 * 28)) + b"\x00"),
}


@pytest.mark.parametrize("case", DECLINED)
def test_anything_else_is_left_to_pillow(case):
    assert png.read(DECLINED[case]) is None


def test_a_small_png_is_read_without_importing_pillow(tmp_path):
    path = tmp_path / "digit.png"
    path.write_bytes(pillow_png(samples((28, 28), 4), "RGBA"))
    code = ("import sys; from mnistzip import images; d = images.load_image(sys.argv[1]); "
            "assert 'PIL' not in sys.modules; print(d.sum())")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout
    assert int(out) == images.load_image(path).sum()


def drawing(shape, mode: str, alpha: str) -> np.ndarray:
    """A dark stroke on tinted paper as ``mode``'s samples; alpha ``ink`` (the stroke opaque), ``flat`` or none."""
    h, w = shape
    stroke = np.zeros(shape, bool)
    stroke[h // 4 : 3 * h // 4, w // 3 : w // 3 + max(2, w // 8)] = True
    rgb = np.where(stroke[..., None], [20, 30, 90], [235, 225, 200]).astype(np.uint8)
    grey = np.where(stroke, 40, 230).astype(np.uint8)[..., None]
    colour = rgb if mode.startswith("RGB") else grey
    if alpha == "none":
        return colour
    a = np.where(stroke, 255, 0) if alpha == "ink" else np.full(shape, 200)
    return np.concatenate([colour, a.astype(np.uint8)[..., None]], axis=2)


@pytest.mark.parametrize("mode,alpha", [("L", "none"), ("RGB", "none"), ("LA", "ink"), ("LA", "flat"),
                                        ("RGBA", "ink"), ("RGBA", "flat")])
@pytest.mark.parametrize("shape", [(28, 28), (60, 45), (120, 128)])
def test_a_small_png_makes_the_digit_pillow_would_make(tmp_path, monkeypatch, shape, mode, alpha):
    path = tmp_path / "d.png"
    path.write_bytes(pillow_png(drawing(shape, mode, alpha), mode))
    ours = images.load_image(path)
    assert ours.max() > 100
    monkeypatch.setattr(png, "read", lambda data: None)
    np.testing.assert_array_equal(ours, images.load_image(path))


def test_colour_becomes_grey_as_in_pillow(tmp_path, monkeypatch):
    rgb = samples((28, 28), 3)
    path = tmp_path / "rgb.png"
    path.write_bytes(pillow_png(rgb, "RGB"))
    ours = images.load_image(path, invert=False)
    monkeypatch.setattr(png, "read", lambda data: None)
    np.testing.assert_array_equal(ours, images.load_image(path, invert=False))


def test_a_damaged_png_is_named_by_pillow(tmp_path):
    path = tmp_path / "d.png"
    path.write_bytes(DECLINED["a stream one byte short"])
    with pytest.raises(images.InputError, match=f"^{path}: cannot decode image"):
        images.load_image(path)
