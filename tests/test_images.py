"""mnistzip.images: an image file as an MNIST digit, whatever the file is."""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitimages import MINIMAL_EPS, NOT_AN_IMAGE, NO_INK, SEVERAL_FRAMES, assert_mnist_like, bbox_size, center_of_mass, png_with_size, ring, save, save_l, seven, write
from mnistzip import images
from mnistzip.errors import InputError

REAL_DIR = Path(os.environ.get("MNISTZIP_DATA_DIR") or "/work/shared/mnist")


# --------------------------------------------------------------------------- image files, 28x28


@pytest.fixture
def digit():
    return ring()


def test_l_white_on_black_is_unchanged(tmp_path, digit):
    out = images.load_image(save_l(digit, tmp_path / "d.png"))
    assert out.dtype == np.uint8 and out.shape == (28, 28)
    np.testing.assert_array_equal(out, digit)


def test_l_grey_levels_are_kept(tmp_path):
    grey = (np.arange(28 * 28).reshape(28, 28) % 200).astype(np.uint8)
    grey[0, :] = grey[-1, :] = grey[:, 0] = grey[:, -1] = 0  # dark paper
    np.testing.assert_array_equal(images.load_image(save_l(grey, tmp_path / "g.png")), grey)


def test_dark_on_light_is_inverted_by_default(tmp_path, digit):
    out = images.load_image(save_l(255 - digit, tmp_path / "d.png"))
    np.testing.assert_array_equal(out, digit)


def test_dark_on_light_kept_with_invert_false(tmp_path, digit):
    out = images.load_image(save_l(255 - digit, tmp_path / "d.png"), invert=False)
    np.testing.assert_array_equal(out, 255 - digit)


def test_invert_true_forces_inversion(tmp_path, digit):
    out = images.load_image(save_l(digit, tmp_path / "d.png"), invert=True)
    np.testing.assert_array_equal(out, 255 - digit)


def test_la_varying_alpha_is_the_ink(tmp_path, digit):
    la = np.stack([np.full_like(digit, 40), digit], axis=-1)  # grey colour, alpha = digit
    out = images.load_image(save(Image.fromarray(la, "LA"), tmp_path / "d.png"))
    np.testing.assert_array_equal(out, digit)


def test_la_alpha_ink_is_not_inverted(tmp_path, digit):
    la = np.stack([np.full_like(digit, 255), digit], axis=-1)  # white colour, alpha = digit
    out = images.load_image(save(Image.fromarray(la, "LA"), tmp_path / "d.png"))
    np.testing.assert_array_equal(out, digit)


def test_rgb(tmp_path, digit):
    rgb = np.stack([digit] * 3, axis=-1)
    np.testing.assert_array_equal(images.load_image(save(Image.fromarray(rgb, "RGB"), tmp_path / "d.png")), digit)


def test_rgb_dark_on_light_is_inverted(tmp_path, digit):
    rgb = np.stack([255 - digit] * 3, axis=-1)
    np.testing.assert_array_equal(images.load_image(save(Image.fromarray(rgb, "RGB"), tmp_path / "d.png")), digit)


def test_rgba_fully_opaque_is_treated_as_no_alpha(tmp_path, digit):
    rgba = np.stack([255 - digit] * 3 + [np.full_like(digit, 255)], axis=-1)  # dark on light, opaque
    out = images.load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "d.png"))
    np.testing.assert_array_equal(out, digit)


def test_rgba_varying_alpha_is_the_ink(tmp_path, digit):
    rgba = np.stack([np.zeros_like(digit)] * 3 + [digit], axis=-1)  # black colour, alpha = digit
    out = images.load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "d.png"))
    np.testing.assert_array_equal(out, digit)


def grey_palette_image(arr: np.ndarray) -> Image.Image:
    img = Image.new("P", (arr.shape[1], arr.shape[0]))
    img.putpalette([v for i in range(256) for v in (i, i, i)])
    img.putdata(arr.ravel().tolist())
    return img


def test_palette(tmp_path, digit):
    path = save(grey_palette_image(digit), tmp_path / "d.png")
    assert Image.open(path).mode == "P"
    np.testing.assert_array_equal(images.load_image(path), digit)


def test_palette_dark_on_light(tmp_path, digit):
    path = save(grey_palette_image(255 - digit), tmp_path / "d.png")
    np.testing.assert_array_equal(images.load_image(path), digit)


def test_palette_with_transparency_uses_it_as_ink(tmp_path, digit):
    # every colour is black; the background index 0 is transparent, so only alpha shows the digit
    img = Image.new("P", (28, 28))
    img.putpalette([0, 0, 0] * 256)
    img.putdata((digit > 0).astype(np.uint8).ravel().tolist())
    path = save(img, tmp_path / "d.png", transparency=0)
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" in check.info
    np.testing.assert_array_equal(images.load_image(path), digit)


def test_bilevel(tmp_path, digit):
    path = save(Image.fromarray(digit).convert("1"), tmp_path / "d.png")
    assert Image.open(path).mode == "1"
    np.testing.assert_array_equal(images.load_image(path), digit)


def test_16_bit_is_scaled_to_8_bit(tmp_path, digit):
    grey = digit.copy()
    grey[:14][grey[:14] > 0] = 100  # top half of the ring in mid grey
    path = save(Image.fromarray(grey.astype(np.uint16) * 257), tmp_path / "d.png")
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_array_equal(images.load_image(path), grey)


def test_16_bit_dark_on_light(tmp_path, digit):
    path = save(Image.fromarray((255 - digit).astype(np.uint16) * 257), tmp_path / "d.png")
    np.testing.assert_array_equal(images.load_image(path), digit)


def test_cmyk_jpeg(tmp_path, digit):
    path = save(Image.fromarray(digit).convert("CMYK"), tmp_path / "d.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    out = images.load_image(path).astype(int)
    assert np.abs(out - digit).mean() < 3
    np.testing.assert_array_equal(out > 127, digit > 127)


def test_animated_gif_uses_first_frame(tmp_path, digit):
    other = np.zeros_like(digit)
    other[4:24, 12:16] = 255  # a "1"
    frames = [Image.fromarray(digit), Image.fromarray(other)]
    path = save(frames[0], tmp_path / "d.gif", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(path) as check:
        assert check.n_frames == 2
    notes = []
    np.testing.assert_array_equal(images.load_image(path, notes=notes), digit)
    assert notes == [f"{path}: {SEVERAL_FRAMES}"]


def test_blank_28x28_image_comes_back_blank(tmp_path):
    notes = []
    out = images.load_image(save_l(np.zeros((28, 28), np.uint8), tmp_path / "b.png"), notes=notes)
    assert out.shape == (28, 28) and not out.any()
    assert notes == []  # a blank digit as such: nothing to tell


# --------------------------------------------------------------------------- image files, normalised


def test_large_ring_off_centre_is_normalised(tmp_path):
    img = ring(100, 70, cy=30, cx=20, r_out=15, r_in=9)
    assert_mnist_like(images.load_image(save_l(img, tmp_path / "d.png")))


def test_lopsided_digit_has_centred_mass_not_centred_box(tmp_path):
    img = seven(120, 90, top=10, left=50, size=36, stroke=6)
    out = images.load_image(save_l(img, tmp_path / "d.png"))
    assert_mnist_like(out)
    rows, cols = np.nonzero(out)
    box_centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
    # the mass of a "7" sits up and right of its box, so the box moves down and left of the centre
    assert box_centre[0] > 13.5 + 1 and box_centre[1] < 13.5 - 1


def test_dark_on_light_large_image_is_inverted_and_normalised(tmp_path):
    img = 255 - ring(64, 64, cy=40, cx=40, r_out=12, r_in=7)
    out = images.load_image(save_l(img, tmp_path / "d.png"))
    assert_mnist_like(out)
    assert out[0, 0] == 0  # the paper became black


def test_small_image_is_scaled_up(tmp_path):
    img = np.zeros((10, 10), np.uint8)
    img[2:8, 3:7] = 255
    out = images.load_image(save_l(img, tmp_path / "d.png"))
    assert_mnist_like(out)


def test_aspect_ratio_is_kept(tmp_path):
    img = np.zeros((60, 120), np.uint8)
    img[20:30, 10:110] = 255  # a 100 x 10 bar: 20 x 2 once fitted in 20 x 20
    out = images.load_image(save_l(img, tmp_path / "d.png"))
    h, w = bbox_size(out)
    assert w == 20 and h <= 3
    cy, cx = center_of_mass(out)
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0


def test_rgba_alpha_ink_on_a_large_image_is_normalised(tmp_path):
    alpha = ring(80, 80, cy=30, cx=50, r_out=20, r_in=12)
    rgba = np.stack([np.zeros_like(alpha)] * 3 + [alpha], axis=-1)
    out = images.load_image(save(Image.fromarray(rgba, "RGBA"), tmp_path / "d.png"))
    assert_mnist_like(out)


def test_smallest_accepted_size_is_8x8(tmp_path):
    img = np.zeros((8, 8), np.uint8)
    img[2:6, 2:6] = 255
    assert_mnist_like(images.load_image(save_l(img, tmp_path / "d.png")))


# --------------------------------------------------------------------------- image errors


def test_blank_image_of_other_size(tmp_path):
    path = save_l(np.zeros((40, 40), np.uint8), tmp_path / "blank.png")
    notes = []
    out = images.load_image(path, notes=notes)
    assert out.shape == (28, 28) and out.dtype == np.uint8 and not out.any()
    assert notes == [f"{path}: {NO_INK}"]


def test_blank_white_image_of_other_size(tmp_path):
    path = save_l(np.full((40, 30), 255, np.uint8), tmp_path / "paper.png")
    notes = []
    assert not images.load_image(path, notes=notes).any()
    assert notes == [f"{path}: {NO_INK}"]
    assert not images.load_image(path).any()  # without a notes list: the same digit, no error


@pytest.mark.parametrize(("w", "h"), [(1, 1), (5, 5), (7, 40), (40, 7)])
def test_too_small_images(tmp_path, w, h):
    path = save_l(np.full((h, w), 255, np.uint8), tmp_path / "tiny.png")
    with pytest.raises(InputError, match=re.escape(f"image is {w}x{h}; expected at least 8x8 pixels")):
        images.load_image(path)


def test_text_file(tmp_path):
    path = write(tmp_path / "notes.png", b"this is not an image\n")
    with pytest.raises(InputError, match=re.escape(f"{path}: {NOT_AN_IMAGE}")):
        images.load_image(path)


def test_truncated_png(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    path = save_l(noise, tmp_path / "cut.png")
    raw = path.read_bytes()
    write(path, raw[: len(raw) // 2])
    with pytest.raises(InputError, match=re.escape(f"{path}: cannot decode image")):
        images.load_image(path)


def test_directory_as_image(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path}: is a directory, expected an image file")):
        images.load_image(tmp_path)


def test_missing_image_file(tmp_path):
    path = tmp_path / "gone.png"
    with pytest.raises(InputError, match=re.escape(f"{path}: no such file")):
        images.load_image(path)


@pytest.mark.parametrize(
    ("side", "size"),
    [
        (10_000, "is 10000x10000 pixels"),  # over Pillow's limit (a warning): our own check, with the size
        (20_000, f"is over {2 * Image.MAX_IMAGE_PIXELS:,} pixels"),  # over twice it: Pillow refuses in Image.open
    ],
)
def test_decompression_bomb(tmp_path, monkeypatch, side, size):
    path = png_with_size(tmp_path / "bomb.png", side, side)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with Image.open(path) as check:  # the patched header really claims the huge size
        assert check.size == (side, side)
    monkeypatch.undo()
    with pytest.raises(InputError, match=re.escape(f"{path}: image {size}; mnistzip reads at most 50,000,000 pixels")):
        images.load_image(path)


# --------------------------------------------------------------------------- image size limits


def test_max_pixels_fits_a_50_mp_photo_and_is_below_pillows_own_limit():
    assert 8160 * 6120 <= images.MAX_PIXELS <= Image.MAX_IMAGE_PIXELS


def test_image_over_max_pixels_is_refused_from_the_header_alone(tmp_path, monkeypatch):
    from PIL import ImageFile

    path = png_with_size(tmp_path / "huge.png", 9400, 9400)  # under Pillow's limit, over ours

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    message = f"{path}: image is 9400x9400 pixels; mnistzip reads at most 50,000,000 pixels"
    with pytest.raises(InputError, match=re.escape(message)):
        images.load_image(path)


def test_max_pixels_is_the_largest_accepted(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 28 * 28)
    np.testing.assert_array_equal(images.load_image(save_l(ring(), tmp_path / "ok.png")), ring())
    path = save_l(ring(28, 29), tmp_path / "wide.png")
    message = f"{path}: image is 29x28 pixels; mnistzip reads at most 784 pixels"
    with pytest.raises(InputError, match=re.escape(message)):
        images.load_image(path)


def doubled(a: np.ndarray) -> np.ndarray:
    """Each pixel as a 2x2 block: Pillow's reduce(2) gives ``a`` back exactly."""
    return np.kron(a, np.ones((2, 2), dtype=a.dtype))


def in_mode(arr: np.ndarray, mode: str) -> Image.Image:
    """A white-on-black uint8 digit as an image of ``mode`` (RGBA and LA: the digit is the alpha)."""
    if mode == "I;16":
        return Image.fromarray(arr.astype(np.uint16) * 257)
    if mode in ("RGBA", "LA"):
        return Image.fromarray(np.stack([np.zeros_like(arr)] * (len(mode) - 1) + [arr], axis=-1), mode)
    if mode == "L-dark":
        return Image.fromarray(255 - arr)
    return Image.fromarray(arr).convert(mode)


@pytest.mark.parametrize("mode", ["L-dark", "RGB", "RGBA", "LA", "P", "1", "I;16"])
def test_image_longer_than_max_side_is_reduced_first(tmp_path, mode):
    small = seven(images.MAX_SIDE // 4, images.MAX_SIDE, top=100, left=900, size=300, stroke=40)
    notes = []
    big = images.load_image(save(in_mode(doubled(small), mode), tmp_path / "big.png"), notes=notes)
    assert_mnist_like(big)
    np.testing.assert_array_equal(big, images.load_image(save(in_mode(small, mode), tmp_path / "small.png")))
    assert notes == []


def test_a_large_image_never_becomes_a_full_size_float_array(tmp_path):
    import tracemalloc

    h, w = images.MAX_SIDE // 2, 2 * images.MAX_SIDE
    path = save_l(doubled(ring(h // 2, w // 2, r_out=200, r_in=150)), tmp_path / "big.png")
    tracemalloc.start()
    try:
        out = images.load_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_mnist_like(out)
    assert peak < h * w * 8, f"peak {peak / 2**20:.0f} MiB"  # less than one float64 copy of the file's pixels


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(tmp_path, monkeypatch):
    path = save(Image.fromarray(doubled(doubled(ring(200, 1100, r_out=90, r_in=50)))), tmp_path / "big.jpg", quality=95)
    sizes = []
    real_reduce = Image.Image.reduce

    def spy(self, factor, box=None):
        sizes.append(self.size)
        return real_reduce(self, factor, box)

    monkeypatch.setattr(Image.Image, "reduce", spy)
    out = images.load_image(path)
    assert_mnist_like(out)
    assert sizes == [(2200, 400)]  # 4400 x 800 decoded at half scale (JPEG draft), then reduced to 1100 x 200


# --------------------------------------------------------------------------- image formats

def test_image_formats_are_those_of_the_suffixes():
    Image.init()
    assert {Image.registered_extensions()[s] for s in images.IMAGE_SUFFIXES} == set(images.IMAGE_FORMATS)


def test_eps_named_png_is_refused_without_running_ghostscript(tmp_path, monkeypatch):
    import shutil
    import subprocess

    from PIL import EpsImagePlugin

    started = []

    def no_process(*args, **kwargs):
        started.append(args)
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setattr(subprocess, "check_call", no_process)
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: f"/usr/bin/{name}")  # as if gs were there
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None, raising=False)  # forget a cached "not found"
    path = write(tmp_path / "drawing.png", MINIMAL_EPS)
    with pytest.raises(InputError, match=re.escape(f"{path}: {NOT_AN_IMAGE}")):
        images.load_image(path)
    assert started == []


@pytest.mark.parametrize("fmt", ["PPM", "TGA", "PCX", "ICO", "EPS"])
def test_other_formats_pillow_reads_are_refused(tmp_path, fmt):
    path = tmp_path / "digit.png"
    Image.fromarray(ring()).convert("RGB").save(path, format=fmt)
    with Image.open(path) as check:
        assert check.format == fmt  # Pillow itself would read it
    with pytest.raises(InputError, match=re.escape(f"{path}: {NOT_AN_IMAGE}")):
        images.load_image(path)


@pytest.mark.parametrize("suffix", [".webp", ".bmp", ".tif"])
def test_each_format_is_read(tmp_path, digit, suffix):
    kwargs = {"lossless": True} if suffix == ".webp" else {}
    path = save(Image.fromarray(digit), tmp_path / f"d{suffix}", **kwargs)
    np.testing.assert_array_equal(images.load_image(path), digit)


def test_phone_jpeg_with_several_pictures_is_read(tmp_path, digit):
    """Phones write MPO (a JPEG followed by other pictures); Pillow opens it through its JPEG reader."""
    path = tmp_path / "photo.jpg"
    Image.fromarray(digit).save(path, format="MPO", save_all=True, append_images=[Image.fromarray(255 - digit)])
    with Image.open(path) as check:
        assert check.format == "MPO"
    notes = []
    out = images.load_image(path, notes=notes)
    assert np.abs(out.astype(int) - digit).mean() < 3
    assert notes == [f"{path}: {SEVERAL_FRAMES}"]


def test_frames_are_never_counted(tmp_path, digit, monkeypatch):
    from PIL import GifImagePlugin

    def counted(self):
        raise AssertionError("n_frames walks every frame")

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "n_frames", property(counted))
    frames = [Image.fromarray(digit)] + [Image.fromarray(np.full_like(digit, v)) for v in (50, 100, 150)]
    path = save(frames[0], tmp_path / "d.gif", save_all=True, append_images=frames[1:])
    notes = []
    np.testing.assert_array_equal(images.load_image(path, notes=notes), digit)
    assert notes == [f"{path}: {SEVERAL_FRAMES}"]


def test_pillow_warnings_become_one_note(tmp_path, digit):
    bad_exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x05" + b"\x01\x12\0\x03\0\0\0\x01\0\x06\0\0" + b"\x99" * 7
    path = save(Image.fromarray(digit), tmp_path / "d.jpg", exif=bad_exif, quality=95)
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = images.load_image(path, notes=notes)
    assert np.abs(out.astype(int) - digit).mean() < 3
    assert len(notes) == 1 and notes[0].startswith(f"{path}: the image reader warned: Corrupt EXIF data")


# --------------------------------------------------------------------------- EXIF orientation


def exif_with_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = value
    return exif


def test_jpeg_orientation_6_is_turned_upright(tmp_path):
    stored = seven(60, 40, top=5, left=5, size=30, stroke=5)  # as a phone held sideways stores it
    upright = np.asarray(Image.fromarray(stored).transpose(Image.Transpose.ROTATE_270))  # 90 degrees clockwise
    tagged = save(Image.fromarray(stored), tmp_path / "tagged.jpg", exif=exif_with_orientation(6), quality=95)
    plain = save(Image.fromarray(upright), tmp_path / "plain.jpg", quality=95)
    got, want = images.load_image(tagged).astype(int), images.load_image(plain).astype(int)
    assert np.abs(got - want).max() <= 8  # JPEG's 8x8 blocks round a little differently once turned
    sideways = images.load_image(save(Image.fromarray(stored), tmp_path / "untagged.jpg", quality=95)).astype(int)
    assert np.abs(sideways - want).max() > 100


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(tmp_path, orientation):
    from PIL import ImageOps

    stored = seven(60, 40, top=5, left=5, size=30, stroke=5)
    path = save(Image.fromarray(stored), tmp_path / "d.png", exif=exif_with_orientation(orientation))
    with Image.open(path) as img:
        want = images.load_image(save(ImageOps.exif_transpose(img), tmp_path / "upright.png"))
    np.testing.assert_array_equal(images.load_image(path), want)


def test_large_image_is_reduced_then_turned(tmp_path):
    stored = seven(images.MAX_SIDE // 4, images.MAX_SIDE, top=100, left=900, size=300, stroke=40)
    upright = np.ascontiguousarray(np.rot90(stored, -1))
    path = save(Image.fromarray(doubled(stored)), tmp_path / "big.png", exif=exif_with_orientation(6))
    np.testing.assert_array_equal(images.load_image(path), images.load_image(save_l(upright, tmp_path / "upright.png")))


def test_size_in_messages_is_the_upright_size(tmp_path):
    path = save(Image.fromarray(np.zeros((40, 7), np.uint8)), tmp_path / "d.png", exif=exif_with_orientation(6))
    with pytest.raises(InputError, match=re.escape(f"{path}: image is 40x7; expected at least 8x8 pixels")):
        images.load_image(path)


# --------------------------------------------------------------------------- integer and float images


@pytest.fixture
def strict_warnings():
    """Every warning an error: no input may make NumPy (or anything) print a RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def save_array(arr: np.ndarray, path: Path) -> Path:
    img = Image.fromarray(arr)
    assert img.mode in ("I", "F"), img.mode
    return save(img, path)


@pytest.mark.parametrize("side", [28, 40])
def test_int32_image_with_negative_values(tmp_path, strict_warnings, side):
    ink = ring(side, side) > 0
    arr = np.where(ink, 255, -1000).astype(np.int32)
    arr[0, 0] = -(2**31)
    out = images.load_image(save_array(arr, tmp_path / "d.tif"))
    if side == 28:
        np.testing.assert_array_equal(out, ring())  # negatives are no ink; 255 is full ink (8-bit)
    else:
        assert_mnist_like(out)


def test_int32_image_beyond_16_bits(tmp_path, strict_warnings):
    arr = np.where(ring() > 0, 65535, 0).astype(np.int32)  # above 255: 16-bit
    arr[14, 5] = 2**31 - 1  # on the ring: still full ink
    assert ring()[14, 5] == 255
    np.testing.assert_array_equal(images.load_image(save_array(arr, tmp_path / "d.tif")), ring())


def test_int32_image_all_negative_is_blank(tmp_path, strict_warnings):
    path = save_array(np.full((40, 40), -7, np.int32), tmp_path / "d.tif")
    notes = []
    assert not images.load_image(path, notes=notes).any()
    assert notes == [f"{path}: {NO_INK}"]


def test_float_image_with_nan_and_infinities(tmp_path, strict_warnings):
    arr = np.where(ring() > 0, 255.0, np.nan).astype(np.float32)
    arr[14, 5] = np.inf  # on the ring: full ink
    arr[13, 22] = 1e30
    arr[0, 0] = -np.inf  # paper: no ink
    arr[1, 1] = -1e30
    assert ring()[14, 5] == ring()[13, 22] == 255 and ring()[0, 0] == ring()[1, 1] == 0
    np.testing.assert_array_equal(images.load_image(save_array(arr, tmp_path / "d.tif")), ring())


@pytest.mark.parametrize("side", [28, 40])
def test_all_nan_float_image_is_blank(tmp_path, strict_warnings, side):
    path = save_array(np.full((side, side), np.nan, np.float32), tmp_path / "d.tif")
    notes = []
    assert not images.load_image(path, notes=notes).any()
    assert notes == ([] if side == 28 else [f"{path}: {NO_INK}"])


@pytest.mark.parametrize(
    "ink",
    [
        np.zeros((40, 40)),
        np.full((40, 40), np.nan),
        np.full((40, 40), -np.inf),
        np.full((40, 40), 0.3),  # under half a grey level: rounds to nothing
    ],
    ids=["zeros", "nan", "minus-inf", "faint"],
)
def test_normalize_digit_of_a_blank_is_a_blank_digit(strict_warnings, ink):
    out = images.normalize_digit(ink)
    assert out.shape == (28, 28) and not out.any()


def test_normalize_digit_of_a_single_faint_pixel(strict_warnings):
    ink = np.zeros((40, 40))
    ink[3, 30] = 0.6
    out = images.normalize_digit(ink)
    assert out.shape == (28, 28) and np.isfinite(out).all()


def png_bytes(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="PNG")
    return out.getvalue()


def test_load_image_reads_a_binary_file_object(digit):
    np.testing.assert_array_equal(images.load_image(io.BytesIO(png_bytes(255 - digit))), digit)
    with pytest.raises(InputError, match=re.escape(f"upload: {NOT_AN_IMAGE}")):
        images.load_image(io.BytesIO(b"GIF? no"), name="upload")
    with pytest.raises(InputError, match=re.escape(f"standard input: {NOT_AN_IMAGE}")):
        images.load_image(io.BytesIO(MINIMAL_EPS))


# --------------------------------------------------------------------------- photos on grey paper


@pytest.mark.parametrize(("digit", "options"), [("2", {}), ("7", dict(paper=(215, 205, 180))),
                                                ("2", dict(paper=(190, 170, 140), shade=0.6)), ("2", dict(shadow=True))])
def test_a_pen_digit_photographed_on_grey_paper_stays_that_digit(tmp_path, digit, options):
    """The paper (grey 120-220, shaded, a shadow across it) counted as ink: the whole sheet went into the digit's
    box, and the reference classifier read a 0."""
    from conftest import draw_on_paper
    from mnistzip import classify

    notes = []
    made = images.load_image(draw_on_paper(tmp_path / "photo.jpg", digit, **options), notes=notes)
    assert classify.load("reference").predict(made[None])[0] == int(digit)
    assert_mnist_like(made)
    assert len(notes) == 1 and re.fullmatch(
        r".*photo\.jpg: the paper is not clean \(grey \d+ to \d+\); it was evened out and the ink's contrast "
        r"stretched \('mnistzip prepare' shows the digit made\)", notes[0])


def test_clean_paper_is_left_as_it_is(tmp_path):
    """A digit on white paper (or a blank sheet) gets no note and no evening out."""
    img = np.full((120, 90), 255, np.uint8)
    img[20:100, 40:52] = 0
    notes = []
    out = images.load_image(save_l(img, tmp_path / "one.png"), notes=notes)
    assert notes == []
    np.testing.assert_array_equal(out, np.clip(np.rint(images.normalize_digit(255.0 - img)), 0, 255))


def test_even_paper_removes_shading_and_keeps_strokes():
    yy, xx = np.mgrid[:200, :300]
    paper = 40.0 + 60.0 * xx / 300  # after inversion: grey paper, darker to the right
    ink = paper.copy()
    ink[50:150, 140:155] = 230.0  # a stroke
    out = images.even_paper(ink)
    assert out[60:140, 142:153].min() == 255.0 and out[:, :130].max() == 0.0 and out[:, 170:].max() == 0.0


def test_running_extremes_match_a_plain_window():
    x = np.random.default_rng(0).random((37, 23))
    for k in (3, 5, 11, 41):
        padded = np.pad(x, ((k // 2, k // 2), (0, 0)), mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=0)
        np.testing.assert_array_equal(images._running(x, k, 0, np.minimum), windows.min(axis=-1))
        np.testing.assert_array_equal(images._running(x, k, 0, np.maximum), windows.max(axis=-1))


@pytest.mark.parametrize("size", [1, 2, 3, 10, 784, 1001])
def test_percentiles_are_numpys(size):
    a = np.random.default_rng(size).integers(0, 256, size).astype(np.float64)
    for q in (1, 50, 99, [1, 99], [25, 50, 75], [5, 95]):
        np.testing.assert_allclose(images._percentiles(a, q), np.percentile(a, q), rtol=0, atol=1e-9)

