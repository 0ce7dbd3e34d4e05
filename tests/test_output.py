"""mnistzip.output: digits written as PNG, grid, folder or .npy, in batches, to files or standard output."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from mnistzip import output
from mnistzip.errors import OutputError, UsageError

pytestmark = pytest.mark.user_data  # (conftest.py) never skipped where mnistzip runs


def digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def streamed(images: np.ndarray, batch: int, written, path):
    """The batches of ``images``; before yielding the next, checks that the last one already reached ``path``."""
    for i in range(0, len(images), batch):
        if i:
            assert written(path) >= i, "the previous batch was held back"
        yield images[i : i + batch]


def test_npy_is_streamed_and_equals_numpy_save(tmp_path, monkeypatch):
    images = digits(50)
    opened = {}
    real_open = open

    def spy(path, mode="r", *args, **kwargs):  # the temporary .npy being written
        f = real_open(path, mode, *args, **kwargs)
        if "w" in mode:
            opened["f"] = f
        return f

    monkeypatch.setattr("builtins.open", spy)

    def written(_):
        f = opened["f"]
        f.flush()
        return (f.tell() - 128) // 784  # the header of a small (N, 28, 28) uint8 array is 128 bytes

    assert output.save_digits(streamed(images, 8, written, None), tmp_path / "a.npy", count=50) == "npy"
    monkeypatch.undo()
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), images)
    buf = io.BytesIO()
    np.save(buf, images)
    assert (tmp_path / "a.npy").read_bytes() == buf.getvalue()


def test_folder_is_written_batch_by_batch(tmp_path):
    images = digits(25)

    def written(_):
        temporaries = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
        return len(list(temporaries[0].iterdir()))

    assert output.save_digits(streamed(images, 10, written, None), tmp_path / "out", count=25) == "dir"
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names[0] == "digit-00.png" and len(names) == 25
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "digit-07.png")), images[7])


def test_grid_png_is_refused_above_its_bound_before_any_work(tmp_path):
    with pytest.raises(OutputError, match=r"1,048,576 digits are too many for one grid PNG \(at most 65,536\); write"):
        output.check_output(tmp_path / "g.png", force=False, count=1 << 20)
    output.check_output(tmp_path / "g.png", force=False, count=output.MAX_GRID_DIGITS)


def test_a_count_that_does_not_match_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="3 digits written, 5 announced"):
        output.save_digits(iter([digits(3)]), tmp_path / "a.npy", count=5)
    assert list(tmp_path.iterdir()) == []


class _Stdout(io.BytesIO):
    def __init__(self, tty=False):
        super().__init__()
        self.buffer, self._tty = self, tty

    def isatty(self):
        return self._tty


@pytest.mark.parametrize("fmt", ["png", "npy"])
def test_standard_output(monkeypatch, fmt):
    out = _Stdout()
    monkeypatch.setattr(sys, "stdout", out)
    images = digits(3)
    assert output.save_digits(images, "-", fmt=fmt) == fmt
    data = out.getvalue()
    if fmt == "npy":
        np.testing.assert_array_equal(np.load(io.BytesIO(data)), images)
    else:
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), output.grid(images))


def test_format_is_only_for_standard_output(tmp_path):
    with pytest.raises(UsageError, match=r"^--format is for -o - \(standard output\); the suffix of .*a.png says"):
        output.check_output(tmp_path / "a.png", force=False, fmt="npy")
    with pytest.raises(UsageError, match="^--format must be png or npy, not 'dir'$"):
        output.check_output("-", force=False, fmt="dir")

