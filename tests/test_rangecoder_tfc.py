"""mnistzip.rangecoder against TFC 2.14.1's own range-coding ops, live, on the shipped ladder-q1 and ladder-q12 tables
(TensorFlow needed; tests/test_rangecoder.py compares it with the strings TFC wrote, everywhere)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

tf = pytest.importorskip("tensorflow")
tfc = pytest.importorskip("tensorflow_compression")

import rangecodercases as cases  # noqa: E402
from rangecodercases import q1, q12  # noqa: E402, F401 - fixtures
from rangecodercases import DIGITS  # noqa: E402
from tfcops import tfc_decode, tfc_decode_guarded, tfc_encode  # noqa: E402

from mnistzip import rangecoder as rc  # noqa: E402


# --- the symbols of real digits ----------------------------------------------------------------------------------

def test_factorized_real_digits_same_bytes_and_symbols(q1):
    values = q1["values"]
    string = tfc_encode(q1["cdf"], values)
    assert rc.encode(values, q1["cdf"]) == string
    assert rc.encode(q1["symbols"], q1["cdf"], cdf_offset=q1["offset"]) == string
    decoded, ok = rc.decode(string, q1["cdf"], values.shape)
    assert ok and decoded.dtype == np.int32 and np.array_equal(decoded, values)
    symbols, ok = rc.decode(string, q1["cdf"], values.shape, cdf_offset=q1["offset"])
    assert ok and np.array_equal(symbols, q1["symbols"])


def test_conditional_real_digits_same_bytes_and_symbols(q12):
    values, index = q12["values"], q12["index"]
    string = tfc_encode(q12["cdf"], values, index)
    assert rc.encode(values, q12["cdf"], index=index) == string
    assert rc.encode(q12["symbols"], q12["cdf"], index=index, cdf_offset=q12["offset"]) == string
    decoded, ok = rc.decode(string, q12["cdf"], index=index)
    assert ok and np.array_equal(decoded, values)
    symbols, ok = rc.decode(string, q12["cdf"], index=index, cdf_offset=q12["offset"])
    assert ok and np.array_equal(symbols, q12["symbols"])


def test_stateful_calls_as_chunked_makes_them(q1, q12):
    """Several decode calls on one handle (chunks of digits; one dimension at a time) read one string as TFC's do."""
    string = tfc_encode(q1["cdf"], q1["values"])
    decoder = rc.Decoder(string, q1["tables"])
    parts = [decoder.decode_channel([k, 32]) for k in (17, 400, 583)]
    assert decoder.finalize() and np.array_equal(np.concatenate(parts), q1["values"])
    encoder = rc.Encoder(q1["cdf"])
    for start, stop in ((0, 1), (1, 500), (500, DIGITS)):
        encoder.encode_channel(q1["values"][start:stop])
    assert encoder.finalize() == string

    # The channel op's row restarts at 0 with every call, whatever the shape.
    flat = q1["values"].reshape(-1)[:62]
    handle = tfc.create_range_encoder([], q1["cdf"])
    handle = tfc.entropy_encode_channel(handle, tf.constant(flat[:5]))
    handle = tfc.entropy_encode_channel(handle, tf.constant(flat[5:].reshape(3, 1, 19)))
    string = tfc.entropy_encode_finalize(handle).numpy()
    encoder = rc.Encoder(q1["tables"])
    encoder.encode_channel(flat[:5])
    encoder.encode_channel(flat[5:].reshape(3, 1, 19))
    assert encoder.finalize() == string
    decoder = rc.Decoder(string, q1["tables"])
    assert np.array_equal(np.concatenate([decoder.decode_channel([5]), decoder.decode_channel([3, 1, 19]).reshape(-1)]),
                          flat) and decoder.finalize()

    index, values = q12["index"], q12["values"]
    string = tfc_encode(q12["cdf"], values, index)
    decoder = rc.Decoder(string, q12["tables"])
    columns = [decoder.decode_index(index[d]) for d in range(32)]
    assert decoder.finalize() and np.array_equal(np.stack(columns), values)


def test_empty_and_one_digit(q1, q12):
    for model in (q1, q12):
        for n in (0, 1):
            values = model["values"][:, :n] if model is q12 else model["values"][:n]
            index = model["index"][:, :n] if model is q12 else None
            string = tfc_encode(model["cdf"], values, index)
            assert rc.encode(values, model["cdf"], index=index) == string
            decoded, ok = rc.decode(string, model["cdf"], values.shape, index=index)
            assert np.array_equal(decoded, values) and ok == tfc_decode(model["cdf"], string, values.shape, index)[1]
            assert ok
    assert rc.encode(np.zeros((0, 32), np.int32), q1["cdf"]) == b""


# --- random symbols, and values outside the tables (the escape code) ---------------------------------------------

@pytest.mark.parametrize("spread", [2, 8, 100, 10**4, 10**6, 10**9])
def test_random_values_factorized(q1, spread):
    rng = np.random.default_rng(spread)
    values = rng.integers(-spread, spread, size=(64, 32)).astype(np.int32)
    string = tfc_encode(q1["cdf"], values)
    assert rc.encode(values, q1["cdf"]) == string
    decoded, ok = rc.decode(string, q1["cdf"], values.shape)
    assert ok and np.array_equal(decoded, values)


@pytest.mark.parametrize("spread", [2, 30, 10**5, 10**9])
def test_random_values_conditional(q12, spread):
    rng = np.random.default_rng(spread)
    index = rng.integers(0, len(q12["tables"]), size=(32, 64)).astype(np.int32)
    values = rng.integers(-spread, spread, size=(32, 64)).astype(np.int32)
    string = tfc_encode(q12["cdf"], values, index)
    assert rc.encode(values, q12["cdf"], index=index) == string
    decoded, ok = rc.decode(string, q12["cdf"], index=index)
    assert ok and np.array_equal(decoded, values)


def test_every_escape_boundary(q1, q12):
    """Each row's first and last direct values, its escape value itself, one past, -1, -2 and the largest gammas."""
    for model in (q1, q12):
        t = model["tables"]
        m = t.max_value[None, :]  # (1, rows): each row's escape symbol
        values = np.concatenate([0 * m, m - 1, m, m + 1, -1 + 0 * m, -2 + 0 * m, -rc.MAX_GAMMA + 0 * m,
                                 m - 1 + rc.MAX_GAMMA]).astype(np.int32)  # (8, rows): column d uses row d
        index = None if model is q1 else np.broadcast_to(np.arange(len(t), dtype=np.int32), values.shape)
        string = tfc_encode(model["cdf"], values, index)
        assert rc.encode(values, model["cdf"], index=index) == string
        decoded, ok = rc.decode(string, model["cdf"], values.shape, index=index)
        assert ok and np.array_equal(decoded, values)


@pytest.mark.parametrize("zeros", [29, 30, 31])
@pytest.mark.parametrize("sign", [0, 1])
def test_long_escape_prefixes_decode_as_tfc(q1, zeros, sign):
    """Prefixes TFC's encoder never writes (30, 31 zeros) but its decoder reads: int32 wrap-around, as TFC."""
    rng = np.random.default_rng(zeros * 2 + sign)
    for tail in (np.zeros(zeros, int), np.ones(zeros, int), rng.integers(0, 2, zeros)):
        string = cases.escape_stream(q1["tables"], 0, zeros, tail, sign, before=[1, 2])
        index = np.zeros(3, np.int32)
        expected = tfc_decode(q1["cdf"], string, index=index)
        decoded, ok = rc.decode(string, q1["cdf"], index=index)
        assert np.array_equal(decoded, expected[0]) and ok == expected[1]


# --- damaged strings: the same sanity result as entropy_decode_finalize ------------------------------------------

def test_damaged_strings_same_sanity_as_tfc(q1, q12, tmp_path):
    rng = np.random.default_rng(7)
    cases = []
    for model in (q1, q12):
        n = 200
        if model is q1:
            values = model["values"][:n]
            index = np.broadcast_to(np.arange(32, dtype=np.int32), values.shape)  # = the channel op's rows
        else:
            values, index = model["values"][:, :n], model["index"][:, :n]
        string = tfc_encode(model["cdf"], values, None if model is q1 else index)
        damaged = [string[:-k] for k in (1, 2, 3, 5, 17, len(string) // 2)] + [string[:0]]
        damaged += [string + pad for pad in (b"\0", b"\0\0", b"\x01", b"\0" * 7, bytes(rng.integers(0, 256, 9)))]
        for _ in range(6):  # a flipped byte
            flipped = bytearray(string)
            flipped[rng.integers(len(string))] ^= 1 << rng.integers(8)
            damaged.append(bytes(flipped))
        damaged += [bytes(rng.integers(0, 256, size)) for size in (1, 4, 50, len(string), 3 * len(string))]
        damaged += [b"\xff" * 40, b"\0" * 40]
        cases += [(model["cdf"], index, d) for d in damaged]
    ours = [rc.decode(d, cdf, index=index) for cdf, index, d in cases]
    theirs = tfc_decode_guarded(tmp_path, cases)
    assert len(theirs) >= len(cases) - 2  # nearly all end in TFC (a spin would stop the rest)
    assert {ok for _, ok in theirs.values()} == {True, False}  # both verdicts occur: the comparison means something
    for i, (values, ok) in theirs.items():
        assert ok == ours[i][1], f"case {i}"
        assert np.array_equal(values, ours[i][0].reshape(-1)), f"case {i}"


def test_long_random_stream_every_carry_path(q1):
    """A 300 KB stream of improbable symbols: carries, and runs of pending 0x00/0xFF pairs, come out as TFC's."""
    rng = np.random.default_rng(3)
    values = rng.integers(-3, 3, size=(3000, 32)).astype(np.int32)
    string = tfc_encode(q1["cdf"], values)
    assert string.count(b"\xff\xff\xff\xff") and string.count(b"\0\0\0\0")
    assert rc.encode(values, q1["tables"]) == string
    decoded, ok = rc.decode(string, q1["tables"], values.shape)
    assert ok and np.array_equal(decoded, values)


# --- every shipped model's tables, hypothesis-generated values -----------------------------------------------------

SHIPPED_TABLES = cases.every_shipped_table()

# Values around each table (inside, at the escape boundaries, far outside); some huge, within what TFC can code.
VALUES = st.one_of(st.integers(-3, 40), st.integers(-(2**20), 2**20), st.integers(-(2**30) + 1, 2**30 - 100))


@pytest.mark.parametrize("name", sorted(SHIPPED_TABLES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_hypothesis_values_on_every_shipped_table_match_tfc(name, data):
    """Any values, coded with a shipped model's real tables, give TFC's bytes, and decode back (both coders)."""
    cdf, cdf_offset, dimension_major = SHIPPED_TABLES[name]
    rows = len(rc.Tables(cdf))
    n = data.draw(st.integers(0, 6), label="digits")
    if dimension_major:
        index = np.array(data.draw(st.lists(st.integers(0, rows - 1), min_size=n * 8, max_size=n * 8)),
                         np.int32).reshape(8, n)
        values = np.array(data.draw(st.lists(VALUES, min_size=n * 8, max_size=n * 8)), np.int32).reshape(8, n)
    else:
        index = None
        values = np.array(data.draw(st.lists(VALUES, min_size=n * rows, max_size=n * rows)), np.int32).reshape(n, rows)
    string = tfc_encode(cdf, values, index)
    assert rc.encode(values, cdf, index=index) == string
    ours, ok = rc.decode(string, cdf, values.shape, index=index)
    assert ok and np.array_equal(ours, values)
    theirs, ok = tfc_decode(cdf, rc.encode(values, cdf, index=index), values.shape, index)
    assert ok and np.array_equal(theirs, values)
