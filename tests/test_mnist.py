"""MNIST: IDX files read and checked, the shipped test split, references, TFDS for the training split."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from digitimages import fake_images, idx_bytes, write
from mnistzip import mnist
from mnistzip.errors import DataError, InputError

REAL_DIR = Path(os.environ.get("MNISTZIP_DATA_DIR") or "/work/shared/mnist")
TEST_STEM = "t10k-images-idx3-ubyte"
BAD_REFERENCE = "expected mnist:SPLIT, mnist:SPLIT:I or mnist:SPLIT:I-J"


# --------------------------------------------------------------------------- real MNIST IDX


@pytest.fixture(scope="module")
def mnist_test():
    return mnist.images("test", REAL_DIR)


def test_test_split_shape_dtype_and_mean(mnist_test):
    assert mnist_test.shape == (10_000, 28, 28)
    assert mnist_test.dtype == np.uint8
    assert mnist_test.mean() == pytest.approx(33.79, abs=0.05)  # 0.1325 * 255
    assert mnist_test.max() == 255 and mnist_test.min() == 0


def test_train_split_shape_dtype_and_mean():
    train = mnist.images("train", REAL_DIR)
    assert train.shape == (60_000, 28, 28)
    assert train.dtype == np.uint8
    assert train.mean() / 255 == pytest.approx(0.1307, abs=1e-3)


def test_loaded_split_is_read_only_so_the_cache_cannot_be_corrupted(mnist_test):
    with pytest.raises(ValueError):
        mnist_test[0, 0, 0] = 1
    assert mnist.images("test", REAL_DIR)[0, 0, 0] == 0


def test_env_var_is_used_when_no_directory_is_given(monkeypatch, mnist_test):
    monkeypatch.setenv(mnist.DATA_DIR_ENV, str(REAL_DIR))
    np.testing.assert_array_equal(mnist.images("test")[:5], mnist_test[:5])


def test_data_dir_argument_wins_over_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(mnist.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    assert mnist.images("test", REAL_DIR).shape == (10_000, 28, 28)


def test_env_var_directory_is_named_in_the_error(monkeypatch, tmp_path):
    monkeypatch.setenv(mnist.DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nowhere"))):
        mnist.images("test")


def test_unknown_split_is_an_input_error():
    with pytest.raises(InputError, match=re.escape("unknown MNIST split 'validation'")):
        mnist.images("validation", REAL_DIR)


# --------------------------------------------------------------------------- fake IDX files


def test_read_idx_uncompressed(tmp_path):
    images = fake_images(3)
    path = write(tmp_path / TEST_STEM, idx_bytes(images))
    out = mnist.read_idx_images(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


def test_read_idx_gzipped(tmp_path):
    images = fake_images(4, seed=1)
    path = write(tmp_path / f"{TEST_STEM}.gz", gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(mnist.read_idx_images(path), images)


def test_read_idx_zero_images(tmp_path):
    path = write(tmp_path / TEST_STEM, idx_bytes(np.zeros((0, 28, 28), np.uint8)))
    assert mnist.read_idx_images(path).shape == (0, 28, 28)


@pytest.mark.parametrize("name", [TEST_STEM, "t10k-images.idx3-ubyte", f"{TEST_STEM}.gz"])
def test_load_mnist_finds_each_file_name_and_checks_the_split_size(tmp_path, name):
    content = idx_bytes(fake_images(3))
    write(tmp_path / name, gzip.compress(content) if name.endswith(".gz") else content)
    with pytest.raises(DataError, match=re.escape(f"{name}: expected 10000 images for the test split, found 3")):
        mnist.images("test", tmp_path)


def test_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match=re.escape(f"MNIST data directory {missing} does not exist")):
        mnist.images("test", missing)


def test_data_dir_that_is_a_file(tmp_path):
    path = write(tmp_path / "file", b"x")
    with pytest.raises(DataError, match="does not exist or is not a directory"):
        mnist.images("test", path)


def test_directory_without_the_split_file(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte.gz", b"")  # the other split does not count
    with pytest.raises(DataError, match=re.escape(f"no {TEST_STEM}[.gz] in MNIST data directory {tmp_path}")):
        mnist.images("test", tmp_path)


def test_wrong_magic(tmp_path):
    path = write(tmp_path / TEST_STEM, idx_bytes(fake_images(2), magic=2049))  # a labels file's magic
    with pytest.raises(DataError, match=re.escape(f"{TEST_STEM}: expected IDX image magic 2051, found 2049")):
        mnist.read_idx_images(path)


def test_short_header(tmp_path):
    path = write(tmp_path / TEST_STEM, struct.pack(">II", 2051, 1) + b"\0\0")
    with pytest.raises(DataError, match=re.escape(f"{TEST_STEM}: expected a 16-byte IDX header, found 10 bytes")):
        mnist.read_idx_images(path)


def test_empty_file(tmp_path):
    path = write(tmp_path / TEST_STEM, b"")
    with pytest.raises(DataError, match="expected a 16-byte IDX header, found 0 bytes"):
        mnist.read_idx_images(path)


def test_length_shorter_than_count(tmp_path):
    path = write(tmp_path / TEST_STEM, idx_bytes(fake_images(2), count=3))
    with pytest.raises(DataError, match=re.escape(f"{TEST_STEM}: expected 2368 bytes for 3 images, found 1584")):
        mnist.read_idx_images(path)


def test_length_longer_than_count(tmp_path):
    path = write(tmp_path / TEST_STEM, idx_bytes(fake_images(2), count=1) + b"\0")
    with pytest.raises(DataError, match=re.escape("expected 800 bytes for 1 images, found more than 800")):
        mnist.read_idx_images(path)


@pytest.mark.parametrize(("rows", "cols"), [(32, 32), (28, 27), (14, 56)])
def test_wrong_rows_or_cols(tmp_path, rows, cols):
    path = write(tmp_path / TEST_STEM, idx_bytes(fake_images(2, rows, cols)))
    with pytest.raises(DataError, match=re.escape(f"{TEST_STEM}: expected 28x28 images, found {rows}x{cols}")):
        mnist.read_idx_images(path)


def test_gz_file_that_is_not_gzip(tmp_path):
    path = write(tmp_path / f"{TEST_STEM}.gz", idx_bytes(fake_images(2)))
    with pytest.raises(DataError, match=re.escape(f"cannot read {path}: Not a gzipped file")):
        mnist.read_idx_images(path)


def test_truncated_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(fake_images(2)))
    path = write(tmp_path / f"{TEST_STEM}.gz", packed[: len(packed) // 2])
    with pytest.raises(DataError, match=re.escape(f"cannot read {path}")):
        mnist.read_idx_images(path)


def test_gzip_with_bad_crc(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(fake_images(2)), mtime=0))
    packed[-8] ^= 0xFF  # the CRC32 of the trailer
    path = write(tmp_path / f"{TEST_STEM}.gz", bytes(packed))
    with pytest.raises(DataError, match=re.escape(f"cannot read {path}: CRC check failed")):
        mnist.read_idx_images(path)


def test_gzip_with_corrupt_deflate_stream(tmp_path):
    packed = bytearray(gzip.compress(idx_bytes(fake_images(2)), mtime=0))
    packed[10] = 0b111  # first deflate block: BFINAL=1, BTYPE=11 (reserved, invalid)
    path = write(tmp_path / f"{TEST_STEM}.gz", bytes(packed))
    with pytest.raises(DataError, match=re.escape(f"cannot read {path}")):
        mnist.read_idx_images(path)


def test_relative_data_dir_follows_the_working_directory(tmp_path, monkeypatch):
    for name, value in [("a", 0), ("b", 1)]:
        images = np.full((10_000, 28, 28), value, dtype=np.uint8)
        write(tmp_path / name / "mnist-cwd-check" / TEST_STEM, idx_bytes(images))
    monkeypatch.chdir(tmp_path / "a")
    assert mnist.images("test", "mnist-cwd-check")[0, 0, 0] == 0
    monkeypatch.chdir(tmp_path / "b")
    assert mnist.images("test", "mnist-cwd-check")[0, 0, 0] == 1


# --------------------------------------------------------------------------- TFDS fallback


def fake_tfds(monkeypatch, load, prepared: bool = True, url: str = "") -> types.ModuleType:
    """Install a stand-in tensorflow_datasets (no TensorFlow, no network) and unset the data dir."""

    class Builder:
        URL = url

        def is_prepared(self):
            return prepared

    fake = types.ModuleType("tensorflow_datasets")
    fake.builder = lambda name, **kwargs: Builder()
    fake.disable_progress_bar = lambda: None
    fake.load = load
    fake.as_numpy = lambda x: x
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    monkeypatch.delenv(mnist.DATA_DIR_ENV, raising=False)
    return fake


def test_tfds_fallback_offline_is_a_data_error_naming_data_dir(monkeypatch):
    calls = []

    def load(*args, **kwargs):
        calls.append((args, kwargs))
        raise OSError("network unreachable")

    fake_tfds(monkeypatch, load)
    with pytest.raises(DataError, match="network unreachable") as info:
        mnist.images("train")
    assert "--data-dir" in str(info.value) and mnist.DATA_DIR_ENV in str(info.value)
    assert calls and calls[0][0] == ("mnist",) and calls[0][1]["split"] == "train"


def test_tfds_fallback_not_downloaded_and_host_unreachable(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    def load(*args, **kwargs):
        raise OSError("download failed")

    monkeypatch.setattr(socket, "create_connection", refuse)  # in case anything tries to connect
    fake_tfds(monkeypatch, load, prepared=False, url="https://storage.googleapis.com/cvdf-datasets/mnist/")
    with pytest.raises(DataError) as info:
        mnist.images("train")
    assert "--data-dir" in str(info.value)


def test_tfds_fallback_returns_uint8_digits(monkeypatch):
    images = np.arange(2 * 28 * 28).reshape(2, 28, 28, 1) % 256
    fake = fake_tfds(monkeypatch, lambda *a, **k: "dataset")
    fake.as_numpy = lambda d: (images, np.array([3, 4]))
    out = mnist.images("train")
    assert out.shape == (2, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, images[..., 0])


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mnist:test:7", ("test", slice(7, 8))),
        ("mnist:train:0-99", ("train", slice(0, 100))),
        ("mnist:test", ("test", slice(0, 10_000))),
        ("mnist:train", ("train", slice(0, 60_000))),
        ("mnist:test:9999", ("test", slice(9999, 10_000))),
        ("mnist:train:59999", ("train", slice(59999, 60_000))),
        ("mnist:test:3-3", ("test", slice(3, 4))),
    ],
)
def test_parse_reference(text, expected):
    assert mnist.parse_reference(text) == expected


@pytest.mark.parametrize("text", ["digit.png", "mnist", "MNIST:test:7", "./mnist:test:7", "", "dir/mnist:test"])
def test_non_references_are_none(text):
    assert mnist.parse_reference(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mnist:foo", f"bad MNIST reference 'mnist:foo': {BAD_REFERENCE}"),
        ("mnist:test:", f"bad MNIST reference 'mnist:test:': {BAD_REFERENCE}"),
        ("mnist:test:-3", f"bad MNIST reference 'mnist:test:-3': {BAD_REFERENCE}"),
        ("mnist:test:1-", f"bad MNIST reference 'mnist:test:1-': {BAD_REFERENCE}"),
        ("mnist:test:5-2", "bad MNIST reference 'mnist:test:5-2': range 5-2 is backwards"),
        ("mnist:test:10000", "MNIST index 10000 out of range: the test split has 10000 digits (0-9999)"),
        ("mnist:train:0-60000", "MNIST index 60000 out of range: the train split has 60000 digits (0-59999)"),
    ],
)
def test_bad_references(text, message):
    with pytest.raises(InputError, match=re.escape(message)):
        mnist.parse_reference(text)


@pytest.mark.parametrize("text", ["mnist:test:\u0663", "mnist:test:0-\u0669\u0669", "mnist:test:" + "1" * 5000])
def test_references_take_plain_numbers_only(text):
    with pytest.raises(InputError, match="^bad MNIST reference"):
        mnist.parse_reference(text)


def test_a_gzip_bomb_in_the_data_directory_is_refused_from_its_header(tmp_path, monkeypatch):
    """A 6.5 MB gzip of zeros was inflated whole (3 GB) before its header was checked."""
    write(tmp_path / f"{TEST_STEM}.gz", gzip.compress(bytes(50 << 20), compresslevel=1))
    sizes = []
    real_open = gzip.open

    def spy(*args, **kwargs):
        f = real_open(*args, **kwargs)
        read = f.read
        f.read = lambda n=-1: (sizes.append(n), read(n))[1]
        return f

    monkeypatch.setattr(gzip, "open", spy)
    with pytest.raises(DataError, match="expected IDX image magic 2051, found 0"):
        mnist.read_idx_images(tmp_path / f"{TEST_STEM}.gz")
    assert sizes == [16]


# --------------------------------------------------------------------------- labels


def label_bytes(labels, magic: int = 2049, count: int | None = None) -> bytes:
    labels = np.asarray(labels, np.uint8)
    return struct.pack(">II", magic, len(labels) if count is None else count) + labels.tobytes()


def test_labels_follow_the_images(mnist_dir):
    labels = mnist.labels("test", mnist_dir)
    assert labels.shape == (10_000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the split's first digits, as drawn
    assert np.bincount(labels).tolist()[:2] == [980, 1135]
    assert len(mnist.labels("train", mnist_dir)) == 60_000


def test_read_idx_labels_checks_magic_size_and_values(tmp_path):
    path = write(tmp_path / "l.gz", gzip.compress(label_bytes([3, 1, 4])))
    assert mnist.read_idx_labels(path).tolist() == [3, 1, 4]
    path = write(tmp_path / "images", label_bytes([3], magic=2051))
    with pytest.raises(DataError, match="^images: expected IDX label magic 2049, found 2051$"):
        mnist.read_idx_labels(path)
    path = write(tmp_path / "short", label_bytes([3, 1, 4], count=5))
    with pytest.raises(DataError, match="^short: expected 13 bytes for 5 labels, found 11$"):
        mnist.read_idx_labels(path)
    path = write(tmp_path / "ten", label_bytes([3, 10]))
    with pytest.raises(DataError, match="^ten: expected labels 0 to 9, found 10$"):
        mnist.read_idx_labels(path)


def test_a_data_directory_without_labels_says_which_file_is_missing(tmp_path):
    (tmp_path / f"{TEST_STEM}.gz").write_bytes(b"")
    with pytest.raises(DataError, match=f"^no t10k-labels-idx1-ubyte\\[.gz\\] in MNIST data directory {re.escape(str(tmp_path))}$"):
        mnist.labels("test", tmp_path)


# --------------------------------------------------------------------------- the shipped test split


@pytest.fixture
def no_data_dir(monkeypatch):
    """No --data-dir, no $MNISTZIP_DATA_DIR, and no TFDS to fall back on: only what mnistzip ships."""
    monkeypatch.delenv(mnist.DATA_DIR_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails, as on the runtime alone


def test_the_test_split_ships_inside_the_package_byte_for_byte():
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert (mnist.SHIPPED / name).read_bytes() == (REAL_DIR / name).read_bytes()
    assert (mnist.SHIPPED / "NOTICE.md").read_text().count("CC BY-SA 3.0") == 1


def test_the_shipped_split_is_read_with_no_variable_and_no_tfds(no_data_dir):
    np.testing.assert_array_equal(mnist.images("test"), mnist.images("test", REAL_DIR))
    np.testing.assert_array_equal(mnist.labels("test"), mnist.labels("test", REAL_DIR))
    np.testing.assert_array_equal(mnist.images("test", rows=slice(9999, 10_000)),
                                  mnist.images("test", REAL_DIR)[9999:])
    assert mnist.files("test", with_labels=True) == [mnist.SHIPPED / "t10k-images-idx3-ubyte.gz",
                                                      mnist.SHIPPED / "t10k-labels-idx1-ubyte.gz"]


def test_the_training_split_is_not_shipped(no_data_dir):
    with pytest.raises(DataError, match=r"^the MNIST train split is not shipped with mnistzip: point --data-dir"):
        mnist.images("train")


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch, no_data_dir):
    """A copy of the shipped folder that mnistzip reads instead (the caches forgotten)."""
    copy = tmp_path / "mnist"
    shutil.copytree(mnist.SHIPPED, copy)
    monkeypatch.setattr(mnist, "SHIPPED", copy)
    mnist._whole.cache_clear()
    yield copy
    mnist._whole.cache_clear()


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
def test_a_damaged_shipped_file_is_refused_in_one_line(shipped_copy, name):
    path = shipped_copy / name
    blob = bytearray(path.read_bytes())
    blob[-20] ^= 0x01  # inside the deflate stream: gzip might decode it into other digits
    path.chmod(0o644)
    path.write_bytes(bytes(blob))
    assert hashlib.sha256(blob).hexdigest() not in (shipped_copy / "SHA256SUMS").read_text()
    reader = mnist.labels if "labels" in name else mnist.images
    for rows in (None, slice(7, 8)):
        with pytest.raises(DataError) as info:
            reader("test", rows=rows)
        assert str(info.value) == (f"{path}: damaged or altered (its SHA-256 is not the one SHA256SUMS gives); "
                                   "reinstall mnistzip, or point --data-dir at a folder of the MNIST IDX files")


def test_a_missing_shipped_file_is_one_line(shipped_copy):
    (shipped_copy / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"^.*t10k-images-idx3-ubyte.gz: cannot read the shipped MNIST test split "):
        mnist.images("test", rows=slice(0, 1))


# --------------------------------------------------------------------------- reading only what a reference names


def test_a_reference_reads_only_the_digits_it_names(tmp_path):
    """A file cut after digit 10 still serves digits 0 to 10 (and says what it lacks for digit 11): nothing past
    the named digits is read."""
    full = mnist.images("test", REAL_DIR)
    cut = idx_bytes(full, count=10_000)[: 16 + 11 * 784]
    write(tmp_path / f"{TEST_STEM}.gz", gzip.compress(cut))
    np.testing.assert_array_equal(mnist.images("test", tmp_path, rows=slice(3, 11)), full[3:11])
    with pytest.raises(DataError, match=f"^{TEST_STEM}.gz: expected 7840016 bytes for 10000 images, found {16 + 11 * 784}$"):
        mnist.images("test", tmp_path, rows=slice(3, 12))
