"""The .mz format: round trips, byte accounting, and every way a file can be wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistzip import container
from mnistzip.fuzz import with_crc
from mnistzip.container import MzFile
from mnistzip.errors import (
    BadMzFile,
    ChecksumMismatch,
    NotAnMzFile,
    TruncatedFile,
    UnsupportedVersion,
)

pytestmark = pytest.mark.user_data  # (conftest.py) never skipped where mnistzip runs

ONE = MzFile(model_id="b203", count=1, payload=bytes(range(1, 7)))
MANY = MzFile(model_id="0a9f", count=300, payload=bytes(range(256)) * 4)


@pytest.mark.parametrize("mz", [ONE, MANY], ids=["one", "many"])
def test_round_trip(mz):
    assert container.loads(container.dumps(mz)) == mz


def test_one_digit_file_costs_eight_bytes_beyond_payload():
    blob = container.dumps(ONE)
    assert len(blob) - len(ONE.payload) == 8
    assert ONE.overhead_bytes == 8 and ONE.size == len(blob)


def test_layout_accounts_for_every_byte():
    blob = container.dumps(MANY)
    parts = container.layout(MANY)
    assert [p[0] for p in parts] == ["magic", "version", "model id", "digit count", "payload", "crc-16"]
    assert sum(size for _, _, size in parts) == len(blob)
    assert dict((n, s) for n, _, s in parts)["digit count"] == 2  # 300 needs two LEB128 bytes


def test_header_fields_are_where_the_spec_says():
    blob = container.dumps(MANY)
    assert blob[:2] == container.MAGIC == b"\x89Z"
    assert blob[2] == container.VERSION == 1
    assert blob[3:5] == bytes.fromhex("0a9f")
    assert blob[5:7] == bytes([300 & 0x7F | 0x80, 300 >> 7])


@pytest.mark.parametrize("count", [1, 127, 128, 16383, 16384, container.MAX_DIGITS])
def test_counts_round_trip(count):
    mz = MzFile(model_id="ffff", count=count, payload=b"\x01")
    assert container.loads(container.dumps(mz)).count == count


def test_empty_file():
    with pytest.raises(TruncatedFile, match="^empty file: expected an .mz file$"):
        container.loads(b"")


def test_not_an_mz_file():
    with pytest.raises(NotAnMzFile, match="^not an .mz file: expected magic bytes 89 5a, found 4d 5a$"):
        container.loads(b"MZ\x90\x00rest of an exe")


def test_one_byte_that_is_not_magic():
    with pytest.raises(NotAnMzFile, match="found 7f$"):
        container.loads(b"\x7f")


def test_unsupported_version():
    blob = bytearray(container.dumps(ONE))
    blob[2] = 2
    with pytest.raises(UnsupportedVersion, match="^unsupported .mz format version 2: this mnistzip reads version 1$"):
        container.loads(bytes(blob))


def test_truncated_at_every_offset_is_an_error():
    for blob in (container.dumps(ONE), container.dumps(MANY)):
        for cut in range(len(blob)):
            with pytest.raises(BadMzFile):
                container.loads(blob[:cut])


def test_truncated_header_names_the_field():
    blob = container.dumps(ONE)
    with pytest.raises(TruncatedFile, match="^truncated .mz file: expected 2 bytes of model id, found 1$"):
        container.loads(blob[:4])
    with pytest.raises(TruncatedFile, match="expected a 2-byte checksum after the header, found 1 bytes"):
        container.loads(blob[:7])


@pytest.mark.parametrize("mz", [ONE, MANY], ids=["one", "many"])
def test_every_single_bit_flip_is_detected(mz):
    blob = container.dumps(mz)
    for i in range(len(blob)):
        for bit in range(8):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            with pytest.raises(BadMzFile):
                container.loads(bytes(bad))


def test_checksum_mismatch_message():
    blob = bytearray(container.dumps(ONE))
    blob[7] ^= 0xFF
    with pytest.raises(ChecksumMismatch, match=r"^checksum mismatch: stored [0-9a-f]{4}, computed [0-9a-f]{4} "):
        container.loads(bytes(blob))


def test_zero_digits_with_valid_checksum():
    with pytest.raises(BadMzFile, match=f"^bad digit count: expected 1 to {container.MAX_DIGITS}, found 0$"):
        container.loads(with_crc(b"\x89Z\x01\xb2\x03\x00payload"))


def test_huge_count_is_refused_before_any_allocation():
    # 2**21 - 1 digits: the largest three-byte count, past MAX_DIGITS
    with pytest.raises(BadMzFile, match="found 2097151$"):
        container.loads(with_crc(b"\x89Z\x01\xb2\x03\xff\xff\x7f"))


def test_overlong_count_is_refused():
    with pytest.raises(BadMzFile, match="^bad digit count: expected at most 3 bytes of LEB128, found more$"):
        container.loads(with_crc(b"\x89Z\x01\xb2\x03\xff\xff\xff\xff\x0f"))


def test_non_minimal_count_is_refused():
    with pytest.raises(BadMzFile, match="not minimally encoded"):
        container.loads(with_crc(b"\x89Z\x01\xb2\x03\x81\x00xy"))


def test_dumps_rejects_bad_fields():
    with pytest.raises(ValueError):
        container.dumps(MzFile(model_id="b203", count=0, payload=b""))
    with pytest.raises(ValueError):
        container.dumps(MzFile(model_id="b2", count=1, payload=b""))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_bad_mz_file(data):
    try:
        container.loads(data)
    except BadMzFile:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_files_raise_only_bad_mz_file(data):
    blob = bytearray(container.dumps(MANY if data.draw(st.booleans()) else ONE))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    try:
        mz = container.loads(bytes(blob))
    except BadMzFile:
        return
    assert mz.count >= 1  # a mutation the CRC cannot see still parses to a sane header


def test_read_errors_name_the_path(tmp_path):
    with pytest.raises(BadMzFile, match="nope.mz: no such file$"):
        container.read(tmp_path / "nope.mz")
    with pytest.raises(BadMzFile, match="is a directory, expected an .mz file$"):
        container.read(tmp_path)
    (tmp_path / "x.mz").write_bytes(b"hello")
    with pytest.raises(NotAnMzFile, match=r"x.mz: not an .mz file"):
        container.read(tmp_path / "x.mz")


def test_write_is_atomic_and_refuses_to_clobber(tmp_path):
    from mnistzip.errors import OutputError

    path = tmp_path / "a.mz"
    assert container.write(path, ONE) == ONE.size
    with pytest.raises(OutputError, match="a.mz already exists; pass --force to overwrite it$"):
        container.write(path, MANY)
    assert container.read(path) == ONE
    container.write(path, MANY, force=True)
    assert container.read(path) == MANY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mz"]  # no temp files left


def test_container_imports_no_tensorflow():
    import subprocess
    import sys

    code = "import sys, mnistzip.container, mnistzip.cli; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
