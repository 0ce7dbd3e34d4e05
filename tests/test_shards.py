"""mnistzip.shards: the order of a batch job, what it reads and what its index files say (no Beam needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from mnistzip import container, mnist, search, shards, zoo
from mnistzip.errors import InputError, OutputError, UsageError
from mnistzip.shards import DeadLetter, Entry


def _open(path):
    return open(path, "rb")


def _glob(pattern):
    import glob

    return glob.glob(pattern)


def test_rank_orders_by_input_then_path_then_row_and_counts_a_file_once():
    entries = [
        Entry(1, "npy", "a/b.npy", 1),
        Entry(0, "image", "z.png", 0),
        Entry(1, "npy", "a/b.npy", 0),
        Entry(2, "image", "z.png", 0),  # matched again by a later input: keeps its first place
        Entry(0, "mnist", "test", 3),
        Entry(0, "image", "a/c.png", 0),
        Entry(0, "image", "a/b/z.png", 0),  # a folder's files stay together, at the folder's place
    ]
    ranked = list(shards.rank(reversed(entries), shard_size=2))
    assert [r.entry.source for r in ranked] == ["a/b/z.png", "a/c.png", "mnist:test:3", "z.png", "a/b.npy:0",
                                                  "a/b.npy:1"]
    assert [r.shard for r in ranked] == [0, 0, 1, 1, 2, 2]
    assert {r.shards for r in ranked} == {3}
    assert [r.rank for r in ranked] == [0, 1, 2, 3, 4, 5]


def test_rank_of_nothing_is_nothing():
    assert list(shards.rank([], 10)) == []


def test_shard_names_follow_beams_convention():
    assert shards.shard_name("out/d", 2, 16) == "out/d-00002-of-00016.mz"
    assert shards.index_files("out/d") == {
        "manifest": "out/d.manifest.jsonl", "errors": "out/d.errors.jsonl", "summary": "out/d.summary.json"}


@pytest.mark.parametrize("size", [0, container.MAX_DIGITS + 1])
def test_shard_size_is_bounded_by_one_mz_file(size):
    with pytest.raises(UsageError, match=rf"^--shard-size must be 1 to {container.MAX_DIGITS}, not {size}$"):
        shards.check_shard_size(size)


def _npy(path, array):
    np.save(path, array)
    return str(path)


def test_npy_header_accepts_digits_and_one_digit(tmp_path):
    many = _npy(tmp_path / "many.npy", np.zeros((5, 28, 28), np.uint8))
    one = _npy(tmp_path / "one.npy", np.zeros((28, 28), np.uint8))
    with open(many, "rb") as f:
        assert shards.npy_header(f, many) == (5, 128)
    with open(one, "rb") as f:
        assert shards.npy_header(f, one)[0] == 1


@pytest.mark.parametrize("array, found", [
    (np.zeros((3, 28, 28), np.float32), "float32 (3, 28, 28)"),
    (np.zeros((3, 28, 27), np.uint8), "uint8 (3, 28, 27)"),
    (np.asfortranarray(np.zeros((3, 28, 28), np.uint8)), "Fortran order uint8 (3, 28, 28)"),
])
def test_npy_header_refuses_what_is_not_digits(tmp_path, array, found):
    path = _npy(tmp_path / "x.npy", array)
    with open(path, "rb") as f, pytest.raises(InputError) as e:
        shards.npy_header(f, path)
    assert str(e.value) == f"{path}: expected uint8 digits of shape (N, 28, 28), found {found}"


def test_npy_header_refuses_a_truncated_array_and_a_stranger(tmp_path):
    path = _npy(tmp_path / "x.npy", np.zeros((3, 28, 28), np.uint8))
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[:-10])
    with open(path, "rb") as f, pytest.raises(InputError) as e:
        shards.npy_header(f, path)
    assert str(e.value) == f"{path}: expected {len(blob)} bytes for 3 digits, found {len(blob) - 10}"
    other = tmp_path / "y.npy"
    other.write_bytes(b"PNG, really")
    with open(other, "rb") as f, pytest.raises(InputError, match=r"^.*y\.npy: not an \.npy array \("):
        shards.npy_header(f, str(other))


def test_file_entries_by_suffix(tmp_path):
    arr = _npy(tmp_path / "a.npy", np.zeros((3, 28, 28), np.uint8))
    empty = _npy(tmp_path / "e.npy", np.zeros((0, 28, 28), np.uint8))
    image, notes = tmp_path / "y.PNG", tmp_path / "notes.txt"
    image.write_bytes(b"")  # what it holds is the reader's business
    notes.write_text("scanned on Monday")
    assert [e.source for e in shards.file_entries(4, arr, _open)] == [f"{arr}:0", f"{arr}:1", f"{arr}:2"]
    assert list(shards.file_entries(4, str(image), _open)) == [Entry(4, "image", str(image), 0)]
    assert list(shards.file_entries(0, empty, _open)) == [DeadLetter(empty, f"{empty}: array holds no digits")]
    [letter] = shards.file_entries(0, str(notes), _open)
    assert letter == DeadLetter(str(notes), f"{notes}: not an image or .npy file (expected .bmp, .gif, .jpeg, .jpg, "
                                            f".npy, .png, .tif, .tiff, .webp)")


def test_a_fifo_or_a_vanished_file_is_a_dead_letter_not_a_hang(tmp_path):
    import os

    fifo, fifo_png = tmp_path / "x.npy", tmp_path / "x.png"
    os.mkfifo(fifo)
    os.mkfifo(fifo_png)
    assert list(shards.file_entries(0, str(fifo), _open)) == [DeadLetter(str(fifo), f"{fifo}: not a regular file")]
    gone = tmp_path / "gone.npy"
    assert list(shards.file_entries(0, str(gone), _open)) == [
        DeadLetter(str(gone), f"{gone}: cannot read (No such file or directory)")]
    [entry] = shards.file_entries(0, str(fifo_png), _open)  # an image is checked when it is read
    _, _, dead = shards.read_shard([shards.Ranked(0, 1, 0, entry)], shards.Reader(_open))
    assert dead == [DeadLetter(str(fifo_png), f"{fifo_png}: not a regular file")]


def test_an_npy_claiming_more_rows_than_a_job_takes_is_refused_before_listing_them(tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "MAX_NPY_DIGITS", 4)
    arr = _npy(tmp_path / "a.npy", np.zeros((5, 28, 28), np.uint8))
    assert list(shards.file_entries(0, arr, _open)) == [
        DeadLetter(arr, f"{arr}: array holds 5 digits; a job reads at most 4 from one .npy (split it)")]


def test_one_file_spelt_two_ways_is_one_digit():
    ranked = list(shards.rank([Entry(1, "image", "./scans/a.png", 0), Entry(0, "image", "scans/a.png", 0)], 10))
    assert [r.entry for r in ranked] == [Entry(0, "image", "scans/a.png", 0)]


def test_reader_reads_every_kind_and_read_shard_keeps_the_order(tmp_path, mnist_dir):
    test = mnist.images("test", mnist_dir)
    arr = _npy(tmp_path / "a.npy", test[10:13])
    Image.fromarray(test[20]).save(tmp_path / "d.png")
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    ranked = [
        shards.Ranked(0, 1, 0, Entry(0, "mnist", "test", 5)),
        shards.Ranked(0, 1, 3, Entry(1, "npy", arr, 2)),
        shards.Ranked(0, 1, 1, Entry(1, "npy", arr, 0)),
        shards.Ranked(0, 1, 2, Entry(1, "image", str(tmp_path / "bad.png"), 0)),
        shards.Ranked(0, 1, 4, Entry(2, "image", str(tmp_path / "d.png"), 0)),
    ]
    images, sources, dead = shards.read_shard(ranked, shards.Reader(_open, str(mnist_dir)))
    assert sources == ["mnist:test:5", f"{arr}:0", f"{arr}:2", str(tmp_path / "d.png")]
    np.testing.assert_array_equal(images, test[[5, 10, 12, 20]])
    assert dead == [DeadLetter(str(tmp_path / "bad.png"),
                               f"{tmp_path / 'bad.png'}: not a PNG, JPEG, WebP, BMP, GIF or TIFF image")]


def test_a_row_gone_since_listing_is_a_dead_letter(tmp_path):
    arr = _npy(tmp_path / "a.npy", np.zeros((2, 28, 28), np.uint8))
    ranked = [shards.Ranked(0, 1, 0, Entry(0, "npy", arr, 5))]
    _, _, dead = shards.read_shard(ranked, shards.Reader(_open))
    assert dead == [DeadLetter(f"{arr}:5", f"{arr}: row 5 is gone (the array now holds 2)")]


def test_a_coded_shard_decodes_and_its_manifest_names_each_digit(mnist_dir):
    codec = zoo.load(rung=1)
    digits = mnist.images("test", mnist_dir)[:7]
    blob, coded = shards.code_shard(codec, 0, "d-00000-of-00001.mz", digits, [f"mnist:test:{i}" for i in range(7)])
    mz = container.loads(blob)
    np.testing.assert_array_equal(codec.decompress(mz), codec.decompress(search.compress(codec, digits)))
    assert coded.digits == 7 and coded.size == len(blob) and coded.name == "d-00000-of-00001.mz"
    lines = [json.loads(line) for line in coded.manifest]
    assert [(line["shard"], line["index"], line["source"]) for line in lines] == [
        ("d-00000-of-00001.mz", i, f"mnist:test:{i}") for i in range(7)]
    assert math.isclose(sum(line["bits"] for line in lines), 8 * len(mz.payload), rel_tol=0.1)


def test_index_files_do_not_depend_on_the_order_a_runner_gives():
    a = shards.Coded(9, "d-00009-of-100000.mz", 2, 30, ('{"a": 0}', '{"a": 1}'))
    b = shards.Coded(10, "d-00010-of-100000.mz", 1, 20, ('{"b": 0}',))
    dead = [DeadLetter("z.png", "z.png: bad"), DeadLetter("a.png", "a.png: bad"), DeadLetter("a.png", "a.png: bad")]
    one = shards.index_contents("7d31", "ladder-q1", [b, a], dead, 2)
    two = shards.index_contents("7d31", "ladder-q1", [a, b], dead[::-1], 2)
    assert one == two
    assert one["manifest"] == b'{"a": 0}\n{"a": 1}\n{"b": 0}\n'
    assert one["errors"].decode().splitlines() == ['{"source": "a.png", "error": "a.png: bad"}',
                                                   '{"source": "z.png", "error": "z.png: bad"}']
    assert json.loads(one["summary"]) == {
        "model": "7d31", "name": "ladder-q1", "digits": 3, "shards": 2, "shard_size": 2, "bytes": 50,
        "bits_per_digit": 133.333, "dead_letters": 2, "shard_files": ["d-00009-of-100000.mz", "d-00010-of-100000.mz"]}


def test_shards_past_99999_keep_their_order():
    late = [shards.Coded(k, shards.shard_name("d", k, 100_001), 1, 1, (f"{k}",)) for k in (99_999, 100_000)]
    assert shards.index_contents("7d31", "x", late[::-1], [], 1)["manifest"] == b"99999\n100000\n"


def test_stale_shards_are_those_of_an_earlier_job():
    found = ["out/d-00000-of-00003.mz", "out/d-00002-of-00003.mz", "out/d.summary.json"]
    summary = {"shard_files": ["d-00000-of-00003.mz", "d-00001-of-00003.mz"]}
    assert shards.stale_shards(found, summary) == ["out/d-00002-of-00003.mz"]


def test_check_prefix_refuses_what_a_job_would_replace(tmp_path):
    prefix = str(tmp_path / "d")
    assert shards.check_prefix(prefix, False, _glob) == []
    (tmp_path / "d-00003-of-00010.mz").write_bytes(b"x")
    (tmp_path / "d.summary.json").write_text("{}")
    with pytest.raises(OutputError) as e:
        shards.check_prefix(prefix, False, _glob)
    assert str(e.value) == f"{prefix}-00003-of-00010.mz exists (and 1 more); pass --force to replace what this job writes"
    assert shards.check_prefix(prefix, True, _glob) == [f"{prefix}-00003-of-00010.mz", f"{prefix}.summary.json"]
    with pytest.raises(OutputError, match=r"^.*nowhere: no such folder for --output .*nowhere/d$"):
        shards.check_prefix(str(tmp_path / "nowhere" / "d"), False, _glob)
    with pytest.raises(OutputError, match=r"^--output must be a prefix such as out/digits, not 'x/'$"):
        shards.check_prefix("x/", False, _glob)
