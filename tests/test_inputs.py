"""mnistzip.inputs: digits from files, folders, standard input and references, in order."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitimages import NOT_AN_IMAGE, NO_INK, ring, save_l, write
from mnistzip import inputs, mnist
from mnistzip.errors import InputError

REAL_DIR = Path(os.environ.get("MNISTZIP_DATA_DIR") or "/work/shared/mnist")


@pytest.fixture
def digit():
    return ring()


@pytest.fixture(scope="module")
def mnist_test():
    return mnist.images("test", REAL_DIR)


# --------------------------------------------------------------------------- collect_digits


def test_collect_mixes_references_files_and_directories_in_order(tmp_path, mnist_test):
    single = save_l(ring(), tmp_path / "zero.png")
    folder = tmp_path / "more"
    folder.mkdir()
    bar = np.zeros((28, 28), np.uint8)
    bar[4:24, 12:16] = 255
    save_l(bar, folder / "b_one.png")
    save_l(255 - ring(), folder / "a_zero_dark.PNG")
    write(folder / "readme.txt", b"not a digit")
    (folder / "sub.png").mkdir()  # a directory with an image suffix is skipped

    got = inputs.collect_digits(["mnist:test:7", str(single), str(folder), "mnist:train:1-2"], REAL_DIR)

    assert got.names == ["mnist-test-7", "zero", "a_zero_dark", "b_one", "mnist-train-1", "mnist-train-2"]
    assert got.sources == [
        "mnist:test:7",
        str(single),
        str(folder / "a_zero_dark.PNG"),
        str(folder / "b_one.png"),
        "mnist:train:1",
        "mnist:train:2",
    ]
    assert got.images.shape == (6, 28, 28) and got.images.dtype == np.uint8
    np.testing.assert_array_equal(got.images[0], mnist_test[7])
    np.testing.assert_array_equal(got.images[1], ring())
    np.testing.assert_array_equal(got.images[2], ring())  # inverted: it was dark on light
    np.testing.assert_array_equal(got.images[3], bar)
    np.testing.assert_array_equal(got.images[4:], mnist.images("train", REAL_DIR)[1:3])


def test_collect_passes_invert_through(tmp_path):
    path = save_l(255 - ring(), tmp_path / "dark.png")
    got = inputs.collect_digits([str(path)], REAL_DIR, invert=False)
    np.testing.assert_array_equal(got.images[0], 255 - ring())


def test_collect_empty_directory(tmp_path):
    write(tmp_path / "notes.txt", b"no images here")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path}: directory holds no image files")):
        inputs.collect_digits([str(tmp_path)], REAL_DIR)


def test_collect_nonexistent_path_suggests_a_reference(tmp_path):
    missing = str(tmp_path / "nope.png")
    with pytest.raises(InputError, match=re.escape(f"{missing}: no such file, directory or MNIST reference")) as info:
        inputs.collect_digits([missing], REAL_DIR)
    assert "mnist:test:7" in str(info.value)


def test_collect_bad_reference_is_an_input_error():
    with pytest.raises(InputError, match="range 9-1 is backwards"):
        inputs.collect_digits(["mnist:test:9-1"], REAL_DIR)


def test_collect_nothing():
    with pytest.raises(InputError, match="no input digits given"):
        inputs.collect_digits([], REAL_DIR)


# --------------------------------------------------------------------------- folders


def a_digit(path: Path, value: int = 255) -> Path:
    """A 28x28 image whose one lit pixel (row 0, column ``value % 28``) tells which file it came from."""
    img = np.zeros((28, 28), np.uint8)
    img[0, value % 28] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_l(img, path)


def test_folder_order_is_by_path_parts_with_subfolders_kept_together(tmp_path):
    root = tmp_path / "scans"
    for rel in ["b.png", "a/1.png", "a/b/2.png", "a.png", "a/c.png", "a/10.png", "B.png", "a-b/3.png"]:
        a_digit(root / rel)
    assert inputs.folder_images(root) == [
        ("B.png",), ("a", "1.png"), ("a", "10.png"), ("a", "b", "2.png"), ("a", "c.png"), ("a-b", "3.png"),
        ("a.png",), ("b.png",),
    ]  # fmt: skip


def test_folder_is_read_recursively_with_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i, rel in enumerate(["scans/b.png", "scans/a/1.png", "scans/a/b/2.png"]):
        a_digit(Path(rel), 100 + i)
    got = inputs.collect_digits(["scans"], REAL_DIR)
    assert got.sources == ["scans/a/1.png", "scans/a/b/2.png", "scans/b.png"]
    assert got.names == ["1", "2", "b"]
    assert [int(img.max()) for img in got.images] == [101, 102, 100]
    assert inputs.collect_digits(["scans/"], REAL_DIR).sources[0] == "scans/a/1.png"


def test_folder_with_images_only_in_subfolders(tmp_path):
    a_digit(tmp_path / "deep" / "er" / "est" / "d.png")
    got = inputs.collect_digits([str(tmp_path)], REAL_DIR)
    assert got.sources == [str(tmp_path / "deep" / "er" / "est" / "d.png")]


def test_hidden_files_and_folders_are_skipped(tmp_path):
    a_digit(tmp_path / "d.png")
    a_digit(tmp_path / ".hidden.png")
    a_digit(tmp_path / "._d.png")  # a macOS resource fork: not an image at all
    a_digit(tmp_path / ".git" / "x.png")
    a_digit(tmp_path / "sub" / ".cache" / "y.png")
    assert inputs.folder_images(tmp_path) == [("d.png",)]


def test_folder_with_no_images_at_any_depth(tmp_path):
    write(tmp_path / "sub" / "notes.txt", b"no images here")
    (tmp_path / "empty").mkdir()
    a_digit(tmp_path / ".hidden" / "d.png")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path}: directory holds no image files (.bmp, .gif")):
        inputs.collect_digits([str(tmp_path)], REAL_DIR)


def test_symbolic_link_loop_neither_hangs_nor_repeats(tmp_path):
    a_digit(tmp_path / "a" / "1.png")
    a_digit(tmp_path / "z.png")
    (tmp_path / "a" / "up").symlink_to("..")  # a/up/a/up/... without end
    (tmp_path / "a" / "here").symlink_to(".")
    assert inputs.folder_images(tmp_path) == [("a", "1.png"), ("z.png",)]


def test_symbolic_links_to_folders_are_followed_and_a_folder_is_read_once(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    a_digit(elsewhere / "e.png")
    a_digit(root / "real" / "r.png")
    root.joinpath("linked").symlink_to(elsewhere)
    root.joinpath("same").symlink_to(root / "real")  # "real" comes first in the order: read there
    root.joinpath("link.png").symlink_to(root / "real" / "r.png")  # a link to a file is a file
    (root / "broken.png").symlink_to(tmp_path / "nowhere.png")  # leads to no file: not an image file
    assert inputs.folder_images(root) == [("link.png",), ("linked", "e.png"), ("real", "r.png")]


def test_unreadable_subfolder_is_an_error_not_a_lost_digit(tmp_path, monkeypatch):
    a_digit(tmp_path / "d.png")
    a_digit(tmp_path / "locked" / "d.png")
    locked = str(tmp_path / "locked")
    real_scandir = os.scandir

    def scandir(path):  # as chmod 000 would, even for root
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(InputError, match=re.escape(f"{locked}: cannot read directory (Permission denied)")):
        inputs.collect_digits([str(tmp_path)], REAL_DIR)


# --------------------------------------------------------------------------- standard input


class FakeStdin:
    """What sys.stdin offers that mnistzip uses: a binary ``buffer`` and ``isatty()``."""

    def __init__(self, content: bytes = b"", tty: bool = False):
        self.buffer = io.BytesIO(content)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def png_bytes(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="PNG")
    return out.getvalue()


def test_collect_reads_one_image_from_standard_input(tmp_path, monkeypatch, digit):
    monkeypatch.setattr(sys, "stdin", FakeStdin(png_bytes(digit)))
    single = save_l(255 - digit, tmp_path / "zero.png")
    got = inputs.collect_digits(["mnist:test:0", "-", str(single)], REAL_DIR)
    assert got.sources == ["mnist:test:0", "-", str(single)]
    assert got.names == ["mnist-test-0", "stdin", "zero"]
    np.testing.assert_array_equal(got.images[1], digit)


def test_standard_input_notes_name_it(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(png_bytes(np.zeros((40, 40), np.uint8))))
    assert inputs.collect_digits(["-"], REAL_DIR).notes == [f"standard input: {NO_INK}"]


def test_standard_input_that_is_a_terminal_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty=True))
    message = "standard input is a terminal; pipe an image into mnistzip"
    with pytest.raises(InputError, match=re.escape(message)):
        inputs.check_inputs(["-"])
    with pytest.raises(InputError, match=re.escape(message)):
        inputs.collect_digits(["-"], REAL_DIR)


def test_standard_input_at_most_once(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(png_bytes(ring())))
    inputs.check_inputs(["-", "mnist:test:1"])
    with pytest.raises(InputError, match=re.escape("- (standard input) is given 2 times; it holds one image")):
        inputs.check_inputs(["-", "mnist:test:1", "-"])


def test_standard_input_too_large(monkeypatch):
    monkeypatch.setattr(inputs, "MAX_STDIN_BYTES", 100)
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"x" * 101))
    message = "standard input holds over 100 bytes; an image is never that large"
    with pytest.raises(InputError, match=re.escape(message)):
        inputs.collect_digits(["-"], REAL_DIR)
    monkeypatch.setattr(sys, "stdin", FakeStdin(b"x" * 100))  # exactly the limit: read, then not an image
    with pytest.raises(InputError, match=re.escape(f"standard input: {NOT_AN_IMAGE}")):
        inputs.collect_digits(["-"], REAL_DIR)


def test_standard_input_empty(monkeypatch):
    monkeypatch.setattr(sys, "stdin", FakeStdin(b""))
    message = "standard input is empty; pipe an image into mnistzip"
    with pytest.raises(InputError, match=re.escape(message)):
        inputs.collect_digits(["-"], REAL_DIR)


def test_standard_input_closed(monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(InputError, match="standard input is closed"):
        inputs.check_inputs(["-"])


def test_too_many_referenced_digits_are_refused_before_loading(monkeypatch):
    """18 x mnist:train used 1.9 GB before the digit limit was checked."""
    monkeypatch.setattr(mnist, "images", lambda *a, **k: pytest.fail("loaded before the count was checked"))
    with pytest.raises(InputError, match="^1080000 digits: one .mz file holds at most 1048576$"):
        inputs.collect_digits(["mnist:train"] * 18, REAL_DIR, limit=1 << 20)


def test_an_input_name_too_long_is_one_line(tmp_path):
    """`compress <300 characters>.png` ended in 'internal error: OSError: [Errno 36]'."""
    name = str(tmp_path / ("a" * 300 + ".png"))
    with pytest.raises(InputError, match=r"^.*a\.png: cannot read \(File name too long\)$"):
        inputs.check_inputs([name])




