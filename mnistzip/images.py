"""An image file as an MNIST digit: decoded with bounded memory, turned upright, evened out, fitted and centred.

Every function here returns ``uint8`` arrays of shape ``(28, 28)``, white ink
on black as in MNIST (see :func:`load_image` for what it takes).
"""

from __future__ import annotations

import os
import stat
import warnings
from typing import BinaryIO

import numpy as np

from . import png
from .container import SIDE
from .errors import InputError

BOX = 20  # MNIST fitted each digit's bounding box into 20 x 20
MIN_SIDE = 8  # smaller images hold no recognisable digit
# A 50 MP phone photo of a digit is the largest input we mean to serve. Checked from the header
# before decoding; below Pillow's own MAX_IMAGE_PIXELS (89,478,485), whose warning is therefore moot.
MAX_PIXELS = 50_000_000
# Longer images are box-reduced by Pillow before anything else (a JPEG is decoded at a reduced
# scale): the digit ends up 20 pixels tall, and a float64 copy of 2048 x 2048 is 32 MB, where one
# of a 50 MP photo would be 400 MB.
MAX_SIDE = 2048
PLAIN_PNG_BYTES = 1 << 20  # a PNG file this long at most may be one ``png`` reads without Pillow
STDIN_NAME = "standard input"  # what messages call it
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
# The Pillow readers used (the formats of IMAGE_SUFFIXES), with their names in messages. Pillow's
# others are never tried: EPS would run Ghostscript, and a digit needs none of them.
IMAGE_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "BMP": "BMP", "GIF": "GIF", "TIFF": "TIFF"}
_FORMAT_LIST = ", ".join(list(IMAGE_FORMATS.values())[:-1]) + " or " + list(IMAGE_FORMATS.values())[-1]
EXIF_ORIENTATION = 0x0112  # the EXIF (and TIFF) Orientation tag
# Orientation value -> the PIL.Image.Transpose that shows the image upright (as PIL.ImageOps.exif_transpose)
EXIF_TRANSPOSE = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}
CLEAN_PAPER = 12.0  # paper within this many grey levels of white (dark ink) or black (light ink) is clean
PAPER_SIDE = 256  # the paper is estimated on a copy of the image at most this long
STROKE_SHARE = 5  # an ink stroke is narrower than 1/5 of the image's longer side: the paper's estimate removes it
FAINT = 0.2  # evened out, ink fainter than this share of the strokes' is paper: grain, noise, a shadow's edge
_SWAPS_SIDES = {"TRANSPOSE", "ROTATE_270", "TRANSVERSE", "ROTATE_90"}  # the transposes that swap width and height


def load_image(
    source: str | os.PathLike | BinaryIO,
    invert: bool | None = None,
    notes: list[str] | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Read one image (a path, or a binary file object such as standard input) as an MNIST-style 28x28 uint8 digit.

    ``name`` is what messages call the image: by default the path, or
    ``standard input`` for a file object. ``invert=None`` decides from the
    background (dark ink on light paper is inverted); True/False force it.
    Alpha, when it varies, is taken as the ink.

    Only PNG, JPEG, WebP, BMP, GIF and TIFF are opened (whatever the file is
    called): Pillow's other readers are not needed for a digit and some (EPS)
    run external programs. The pixel count (at most ``MAX_PIXELS``) is
    checked from the header before any pixel is decoded; each side must be at
    least ``MIN_SIDE``. An image longer than ``MAX_SIDE`` is reduced by Pillow
    first, so memory stays bounded. The EXIF orientation is applied (phone photos store
    pixels sideways). An image of several frames gives its first; a blank
    image gives an all-zero digit (a compressor compresses what it is given).

    ``notes`` gets one line (naming the image) for each thing a user should
    know: several frames, a blank image of another size than 28x28 (a blank
    28x28 image is simply a blank digit), unreadable EXIF data, and Pillow's
    warnings about the file (which would otherwise print as several lines).

    Integer (``I``, ``I;16``) and float (``F``) images may hold any values:
    NaN and values below 0 are no ink, +inf and values above full scale are
    full ink (``I`` is 16-bit when a value exceeds 255, else 8-bit; ``F`` is
    0..255).
    """
    if name is None:
        name = str(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else STDIN_NAME
    if isinstance(source, (str, os.PathLike)):
        try:
            mode = os.stat(source).st_mode
        except OSError:
            mode = None  # Pillow's open says what is wrong
        if mode is not None and not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
            raise InputError(f"{name}: not a regular file")  # a FIFO would block forever, a device never end
    plain = _plain_png(source, name)
    raw, full, from_alpha = plain if plain is not None else _read_with_pillow(source, name, notes)
    ink = np.nan_to_num(raw, copy=not raw.flags.writeable, nan=0.0, posinf=full, neginf=0.0)
    np.clip(ink, 0.0, full, out=ink)
    if full != 255.0:
        ink *= 255.0 / full
    if not from_alpha:
        if invert is None:
            invert = _background_is_light(ink)
        if invert:
            np.subtract(255.0, ink, out=ink)
    if ink.shape != (SIDE, SIDE):
        if _is_blank(ink) and notes is not None:
            notes.append(f"{name}: no ink found; coded as a blank digit")
        elif not from_alpha:
            ink = even_paper(ink, name, notes, inverted=bool(invert))
        ink = normalize_digit(ink)
    return np.clip(np.rint(ink), 0, 255).astype(np.uint8)


def _read_with_pillow(source, name: str, notes: list[str] | None) -> tuple[np.ndarray, float, bool]:
    """Any image Pillow reads in ``IMAGE_FORMATS``, as :func:`_read_pixels` gives it; Pillow's errors as one line."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)  # Pillow's complaints about a file become a note
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS, lower, is checked instead
            with Image.open(source, formats=list(IMAGE_FORMATS)) as img:
                raw, full, from_alpha = _read_pixels(img, name, notes)
    except Image.DecompressionBombError:  # over twice Pillow's limit: refused inside Image.open, size unseen
        raise InputError(
            f"{name}: image is over {2 * Image.MAX_IMAGE_PIXELS:,} pixels; mnistzip reads at most {MAX_PIXELS:,} pixels"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{name}: not a {_FORMAT_LIST} image") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, expected an image file") from None
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{name}: cannot decode image ({e})") from None
    _note_warnings(caught, name, notes)  # outside the block: NumPy's own warnings are not a note
    return raw, full, from_alpha


def _plain_png(source, name: str) -> tuple[np.ndarray, float, bool] | None:
    """A small 8-bit PNG file as :func:`_read_pixels` gives it, read without Pillow (``png``); ``None`` for any other.

    Only a named file is tried (standard input is read once, by Pillow), and
    only its first bytes unless it starts as a PNG. Whatever ``png.read``
    declines, a damaged file included, goes to Pillow, whose message names the
    problem.
    """
    if not isinstance(source, (str, os.PathLike)):
        return None
    try:
        with open(source, "rb") as f:
            data = f.read(len(png.SIGNATURE))
            if data != png.SIGNATURE:
                return None
            data += f.read(PLAIN_PNG_BYTES + 1)
    except OSError:
        return None
    samples = png.read(data) if len(data) <= PLAIN_PNG_BYTES else None
    if samples is None:
        return None
    h, w, channels = samples.shape
    if w * h > MAX_PIXELS:
        raise InputError(f"{name}: image is {w}x{h} pixels; mnistzip reads at most {MAX_PIXELS:,} pixels")
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{name}: image is {w}x{h}; expected at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if channels in (2, 4):  # as _to_gray: a varying alpha is the ink, a constant one is ignored
        alpha = samples[..., -1]
        if alpha.min() != alpha.max():
            return alpha.astype(np.float64), 255.0, True
        samples = samples[..., :-1]
    if samples.shape[2] == 3:  # ITU-R 601-2 luma in Pillow's fixed point, as its convert("L")
        r, g, b = (samples[..., i].astype(np.uint32) for i in range(3))
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.float64), 255.0, False
    return samples[..., 0].astype(np.float64), 255.0, False


def _read_pixels(img, name: str, notes: list[str] | None) -> tuple[np.ndarray, float, bool]:
    """An opened image's pixels as float: (array, the value of full ink, whether it is a varying alpha channel).

    Checks the size from the header first, then decodes (a JPEG at a reduced
    scale when large), reads the orientation, reduces and orients.
    """
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise InputError(f"{name}: image is {w}x{h} pixels; mnistzip reads at most {MAX_PIXELS:,} pixels")
    # is_animated, unlike n_frames, never walks every frame of a GIF or TIFF
    if getattr(img, "is_animated", False) and notes is not None:
        notes.append(f"{name}: several frames; the first is used")
    img.seek(0)
    long_side = max(w, h)
    if long_side > MAX_SIDE:  # a JPEG decodes at 1/2, 1/4 or 1/8 scale, no smaller than asked; others ignore it
        img.draft(None, (max(1, w * MAX_SIDE // long_side), max(1, h * MAX_SIDE // long_side)))
    img.load()  # decode errors surface here, not hidden in reading EXIF (a PNG's may follow the pixels)
    method = _orientation(img, name, notes)
    if method is not None and method.name in _SWAPS_SIDES:
        w, h = h, w
    if min(w, h) < MIN_SIDE:
        raise InputError(f"{name}: image is {w}x{h}; expected at least {MIN_SIDE}x{MIN_SIDE} pixels")
    full = _full_scale(img)
    img = _reduced(img)
    if method is not None:
        img = img.transpose(method)
    return _to_gray(img, full)


def _orientation(img, name: str, notes: list[str] | None):
    """The Pillow transpose that shows the image upright (EXIF or XMP Orientation), or None.

    The same mapping as ``PIL.ImageOps.exif_transpose``, but applied by the
    caller after reduction, so a large image is never transposed at full size.
    A broken EXIF block is metadata lost, not an unreadable image: it is
    ignored, with a note.
    """
    from PIL import Image

    try:
        value = img.getexif().get(EXIF_ORIENTATION)
    except Exception as e:  # noqa: BLE001 - Pillow's EXIF parser raises many kinds on a corrupt block
        if notes is not None:
            notes.append(f"{name}: unreadable EXIF data ignored ({type(e).__name__}); the image is used as stored")
        return None
    if not isinstance(value, int) or value not in EXIF_TRANSPOSE:
        return None
    return Image.Transpose[EXIF_TRANSPOSE[value]]


def _full_scale(img) -> float:
    """The value of full ink: 65535 for 16-bit data (``I;16``, or ``I`` holding a value above 255), else 255.

    Decided on the whole image before any reduction, whose averages could hide it.
    """
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode == "I":
        return 65535.0 if img.getextrema()[1] > 255 else 255.0
    return 255.0


def _is_numeric(img) -> bool:
    """Integer or float gray levels (``I``, ``I;16*``, ``F``): read as numbers, any alpha key ignored."""
    return img.mode in ("I", "F") or img.mode.startswith("I;16")


def _has_alpha(img) -> bool:
    return img.mode in ("LA", "RGBA", "PA", "La", "RGBa") or "transparency" in img.info


def _reduced(img):
    """The image box-averaged by a whole factor so its longer side is at most ``MAX_SIDE``; unchanged if it is.

    Pillow cannot reduce bilevel, palette or 16-bit images, and must not
    average palette indices or colour keys, so those are converted first:
    alpha of any kind to RGBA (as ``_to_gray`` would), palette or bilevel
    to gray, 16-bit to 32-bit. Bands with alpha are reduced one at a time,
    unweighted by alpha (only the alpha, or the colour ignoring it, is
    used), which spares Pillow's premultiplied copy of a large image.
    """
    from PIL import Image

    long_side = max(img.size)
    if long_side <= MAX_SIDE:
        return img
    factor = -(-long_side // MAX_SIDE)
    if _is_numeric(img):
        if img.mode != "F":
            img = img.convert("I")
    elif _has_alpha(img):
        if img.mode not in ("LA", "RGBA"):
            img = img.convert("RGBA")
        bands = [img.getchannel(i).reduce(factor) for i in range(len(img.getbands()))]
        return Image.merge(img.mode, bands)
    elif img.mode in ("1", "P"):
        img = img.convert("L")
    return img.reduce(factor)


def _to_gray(img, full: float = 255.0) -> tuple[np.ndarray, float, bool]:
    """Gray levels as float (unclipped), the value of full ink, and whether they come from a varying alpha channel."""
    if _is_numeric(img):
        return np.asarray(img, dtype=np.float64), full, False
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64)
        if alpha.min() != alpha.max():
            return alpha, 255.0, True
        img = rgba.convert("RGB")
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return np.asarray(img.convert("L"), dtype=np.float64), 255.0, False


def _note_warnings(caught: list, name: str, notes: list[str] | None) -> None:
    """Pillow's warnings about a file (e.g. corrupt EXIF) as one note, not a multi-line warning on stderr."""
    messages = [str(w.message).strip().splitlines()[0] for w in caught if issubclass(w.category, UserWarning)]
    messages = list(dict.fromkeys(m for m in messages if m))
    if messages and notes is not None:
        more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
        notes.append(f"{name}: the image reader warned: {messages[0]}{more}")
    for w in caught:  # anything else goes on as if never caught
        if not issubclass(w.category, UserWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _background_is_light(gray: np.ndarray) -> bool:
    """True when the paper is the light side of the image, i.e. the digit is dark on light.

    The paper is the border's median; it is light when it lies nearer the
    image's lightest levels than its darkest (1st and 99th percentiles), so
    that grey paper in a dim photo still counts as light under darker ink. An
    image of one level is light above mid-grey.
    """
    paper = float(_percentiles(_border(gray), 50))
    darkest, lightest = _percentiles(gray, [1, 99])
    if lightest - darkest < 1.0:
        return paper > 127.5
    return paper - darkest > lightest - paper


def even_paper(ink: np.ndarray, name: str = "image", notes: list[str] | None = None, inverted: bool = True) -> np.ndarray:
    """A photo's or scan's ink on an even, black background: the paper estimated, divided out, the ink stretched.

    ``ink`` is 0 (paper) to 255 (full ink), as after inversion. On clean
    paper (white for dark ink, black for light ink) it comes back as it is. On
    grey, tinted or shaded paper (a photo of a pen digit on beige paper, a
    shadow across it) the paper would count as faint ink, and the whole sheet
    would be fitted into the digit's box. So:

    1. the paper is estimated as the grey *opening* of the image (the running
       minimum, then maximum, over a square a fifth of its longer side): ink
       strokes narrower than that vanish from it, while shading and the edge of
       a shadow stay. It is computed on a copy at most ``PAPER_SIDE`` long;
    2. each pixel's ink becomes its share of the way from the paper to full
       ink, ``(ink - paper) / (255 - paper)``: shading, which multiplies the
       light, divides out;
    3. what is fainter than the paper's own texture, or than ``FAINT`` of the
       strokes' typical ink, is paper (grain, JPEG noise, a shadow's edge); the
       rest is stretched so that the strokes reach full ink, as MNIST's do.

    A note says so (naming the paper's grey levels), so that a user can look
    at the digit made (``mnistzip prepare``).
    """
    background = _paper(ink)
    if float(_percentiles(_border(background), 95)) <= CLEAN_PAPER:  # the paper around the digit: no ink blob
        return ink
    share = np.clip((ink - background) / np.maximum(255.0 - background, 1.0), 0.0, 1.0)
    strong = share[share > 0.5 * share.max()]
    if not strong.size:  # no ink on the paper at all: a blank digit
        return np.zeros_like(ink)
    stroke = float(_percentiles(strong, 75))
    q1, median, q3 = _percentiles(share, [25, 50, 75])
    floor = max(median + 3 * (q3 - q1), FAINT * stroke)
    if notes is not None:
        low, high = _percentiles(background, [5, 95])
        grey = (255 - high, 255 - low) if inverted else (low, high)
        notes.append(f"{name}: the paper is not clean (grey {grey[0]:.0f} to {grey[1]:.0f}); it was evened out and the "
                     "ink's contrast stretched ('mnistzip prepare' shows the digit made)")
    return np.clip((share - floor) / max(stroke - floor, 1e-6), 0.0, 1.0) * 255.0


def _paper(ink: np.ndarray) -> np.ndarray:
    """The paper under the ink (``even_paper``, step 1), at the image's size."""
    from PIL import Image

    h, w = ink.shape
    scale = min(1.0, PAPER_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, Image.BILINEAR))
    k = max(3, round(max(small.shape) / STROKE_SHARE)) | 1
    for extreme in (np.minimum, np.maximum):  # an opening: erode the strokes away, then dilate back what is left
        small = _running(_running(small, k, 0, extreme), k, 1, extreme)
    return np.asarray(Image.fromarray(small.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR), np.float64)


def _running(a: np.ndarray, k: int, axis: int, extreme) -> np.ndarray:
    """The running minimum or maximum (``extreme``: np.minimum or np.maximum) over ``k`` values (odd) centred on
    each along ``axis``, the edges repeated outward: van Herk's method, two passes whatever ``k``."""
    a = np.moveaxis(a, axis, 0)
    n, half = len(a), k // 2
    blocks = -(-(n + 2 * half) // k)
    padded = np.concatenate([np.repeat(a[:1], half, 0), a, np.repeat(a[-1:], blocks * k - n - half, 0)])
    tiles = padded.reshape(blocks, k, *a.shape[1:])
    ahead = extreme.accumulate(tiles, axis=1).reshape(padded.shape)  # from each block's start
    behind = extreme.accumulate(tiles[:, ::-1], axis=1)[:, ::-1].reshape(padded.shape)  # to each block's end
    return np.moveaxis(extreme(behind[:n], ahead[k - 1 : k - 1 + n]), 0, axis)



def _percentiles(a: np.ndarray, q):
    """``np.percentile(a, q)`` (linear interpolation) by a partial sort. NumPy's own calls ``np.unique``, which
    imports ``numpy.ma``: 10 ms, as long as the rest of reading a 28 x 28 digit."""
    flat = a.ravel()
    at = np.asarray(q, np.float64) / 100 * (flat.size - 1)
    below = np.floor(at).astype(np.intp)
    above = np.minimum(below + 1, flat.size - 1)
    ranked = np.partition(flat, np.concatenate([np.atleast_1d(below), np.atleast_1d(above)]))
    return ranked[below] + (ranked[above] - ranked[below]) * (at - below)

def _border(image: np.ndarray) -> np.ndarray:
    """The pixels along an image's four edges: where its paper is."""
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def _is_blank(ink: np.ndarray) -> bool:
    """True when no pixel reaches half a grey level: nothing would survive rounding to uint8, so no digit to frame."""
    return not float(ink.max()) >= 0.5


def normalize_digit(ink: np.ndarray) -> np.ndarray:
    """Make a digit MNIST-like: fit its bounding box in 20x20 (aspect kept), centre of mass at the centre of 28x28.

    ``ink`` is any 2-D float array, 0 (no ink) to 255 (full ink); NaN and
    values outside count as 0 or 255. A blank image (see ``_is_blank``) gives
    an all-zero digit rather than an error: a compressor compresses what it is
    given, and a blank reconstruction must survive a round trip. ``load_image``
    adds a note when that happens.
    """
    from PIL import Image

    ink = np.nan_to_num(np.array(ink, dtype=np.float64), copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    np.clip(ink, 0, 255, out=ink)
    out = np.zeros((SIDE, SIDE), dtype=np.float64)
    if _is_blank(ink):
        return out
    mask = ink > 0.1 * ink.max()
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))  # not np.nonzero: 16 bytes a pixel
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.LANCZOS))
    small = small.clip(0, 255)
    total = small.sum()
    if not total > 0:  # Lanczos lobes ate a faint speck: nothing left to place
        return out
    cy, cx = (np.indices(small.shape) * small).reshape(2, -1).sum(axis=1) / total
    top = int(np.clip(round(SIDE / 2 - cy - 0.5), 0, SIDE - small.shape[0]))
    left = int(np.clip(round(SIDE / 2 - cx - 0.5), 0, SIDE - small.shape[1]))
    out[top : top + small.shape[0], left : left + small.shape[1]] = small
    return out


