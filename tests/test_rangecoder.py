"""mnistzip.rangecoder against TFC 2.14.1's own range-coding ops, on the shipped ladder-q1 and ladder-q12 tables.

TensorFlow is imported by the tests only (the module under test never does).
TFC's decoder is only ever run on damaged strings in a child process with a
deadline: on some it never returns (tests/data/decoder-spin.mz is one, and is
never given to it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnistzip import rangecoder as rc

tf = pytest.importorskip("tensorflow")
tfc = pytest.importorskip("tensorflow_compression")

DIGITS = 1000  # test digits coded with each shipped model
SPIN = Path(__file__).parent / "data" / "decoder-spin.mz"


@pytest.fixture(scope="module")
def q1():
    """ladder-q1's factorized tables for the digits of one class (it codes the class first, then 32 dimensions
    with that class's 32 rows): those rows and the symbols (N, 32) of DIGITS test digits of the commonest class
    (1,135 of them), as TFC's channel op takes them."""
    return _model(1)


@pytest.fixture(scope="module")
def q12():
    """ladder-q12 (conditional): tables, and the dimension-major (32, N) table indices and symbols."""
    return _model(None)


def _model(rung):
    from mnistzip import mnist, zoo

    codec = zoo.load(rung=rung) if rung else zoo.load()
    cdf, cdf_offset = codec.engine.tables(codec._q)
    digits = mnist.images("test")[: None if codec.codes_class else DIGITS]
    _, index, symbols = codec.coding(codec.quantize(codec.latents(digits)))
    index, symbols = index.astype(np.int32), symbols.astype(np.int32)
    if codec.codes_class:  # the digits of the commonest class, and that class's rows alone
        cls = np.bincount(symbols[:, 0]).argmax()
        pick = symbols[:, 0] == cls
        first = 1 + cls * codec.latent_dims
        starts = np.append(np.flatnonzero(cdf < 0), len(cdf))
        cdf = cdf[starts[first] : starts[first + codec.latent_dims]]
        cdf_offset = cdf_offset[first : first + codec.latent_dims]
        index, symbols = index[pick, 1:][:DIGITS] - first, symbols[pick, 1:][:DIGITS]
    if codec.conditional:
        index, symbols = index.T.copy(), symbols.T.copy()  # the stream is dimension-major
    return dict(cdf=cdf, offset=cdf_offset, index=index, symbols=symbols, values=symbols - cdf_offset[index],
                tables=rc.Tables(cdf), id=codec.id)


# --- TFC's ops ---------------------------------------------------------------------------------------------------

def tfc_encode(cdf, values, index=None) -> bytes:
    handle = tfc.create_range_encoder([], cdf)
    values = tf.constant(values, tf.int32)
    if index is None:
        handle = tfc.entropy_encode_channel(handle, values)
    else:
        handle = tfc.entropy_encode_index(handle, tf.constant(index, tf.int32), values)
    return tfc.entropy_encode_finalize(handle).numpy()


def tfc_decode(cdf, string: bytes, shape=None, index=None):
    """Only for strings TFC wrote itself, or crafted ones known to end (see ``tfc_decode_guarded``)."""
    handle = tfc.create_range_decoder(string, cdf)
    if index is None:
        handle, values = tfc.entropy_decode_channel(handle, tf.constant(shape, tf.int32), tf.int32)
    else:
        index = np.asarray(index, np.int32)
        handle, values = tfc.entropy_decode_index(handle, tf.constant(index), tf.constant(index.shape, tf.int32),
                                                  tf.int32)
    return values.numpy(), bool(tfc.entropy_decode_finalize(handle))


WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf, tensorflow_compression as tfc
    cases = np.load(sys.argv[1])
    for i in range(int(cases["count"])):
        cdf, index, data = cases[f"cdf{i}"], cases[f"index{i}"], cases[f"data{i}"].tobytes()
        handle = tfc.create_range_decoder(data, cdf)
        handle, values = tfc.entropy_decode_index(handle, tf.constant(index), tf.constant(index.shape, tf.int32),
                                                  tf.int32)
        ok = bool(tfc.entropy_decode_finalize(handle))
        print(json.dumps([i, ok, values.numpy().reshape(-1).tolist()]), flush=True)
""")


def tfc_decode_guarded(tmp_path, cases, timeout=45.0) -> dict:
    """TFC's index decoder on each (cdf, index, data) in a child process → {case: (values, ok)} for those that ended.

    A case that spins stops the child; it is killed at ``timeout`` and the cases after it are missing.
    """
    arrays = {"count": len(cases)}
    for i, (cdf, index, data) in enumerate(cases):
        arrays[f"cdf{i}"], arrays[f"index{i}"] = np.asarray(cdf, np.int32), np.asarray(index, np.int32)
        arrays[f"data{i}"] = np.frombuffer(data, np.uint8)
    path = tmp_path / "cases.npz"
    np.savez(path, **arrays)
    child = subprocess.Popen([sys.executable, "-c", WORKER, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
    results = {}
    for line in out.splitlines():
        i, ok, values = json.loads(line)
        results[i] = (np.array(values, np.int32), ok)
    return results


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


def test_refuses_what_tfc_cannot_code(q1, q12):
    """TFC's encoder never ends on gamma >= 2^30 (checked by hand: it loops); ours says so instead."""
    for bad in ([2**31 - 1], [-(2**30)], [-(2**31)]):
        with pytest.raises(ValueError):
            rc.encode(np.array(bad, np.int64), q1["cdf"])
    with pytest.raises(ValueError):
        rc.encode([0], q12["cdf"], index=[len(q12["tables"])])
    with pytest.raises(ValueError):
        rc.decode(b"", q12["cdf"], index=[-1])


def _escape_stream(tables, row, zeros, tail_bits, sign, before=()):
    """Raw coder input: ``before`` direct values of ``row``, the escape, ``zeros`` zero bits, a one, bits, sign."""
    cdf, p, m = tables.rows[row], int(tables.precision[row]), int(tables.max_value[row])
    triples = [(cdf[v], cdf[v + 1], p) for v in before] + [(cdf[m], cdf[m + 1], p)]
    bits = [0] * zeros + [1] + list(tail_bits) + [sign]
    triples += [(b, b + 1, 1) for b in bits]
    encoder = rc.Encoder(tables)
    encoder._code(*(list(x) for x in zip(*triples)))
    return encoder.finalize()


@pytest.mark.parametrize("zeros", [29, 30, 31])
@pytest.mark.parametrize("sign", [0, 1])
def test_long_escape_prefixes_decode_as_tfc(q1, zeros, sign):
    """Prefixes TFC's encoder never writes (30, 31 zeros) but its decoder reads: int32 wrap-around, as TFC."""
    rng = np.random.default_rng(zeros * 2 + sign)
    for tail in (np.zeros(zeros, int), np.ones(zeros, int), rng.integers(0, 2, zeros)):
        string = _escape_stream(q1["tables"], 0, zeros, tail, sign, before=[1, 2])
        index = np.zeros(3, np.int32)
        expected = tfc_decode(q1["cdf"], string, index=index)
        decoded, ok = rc.decode(string, q1["cdf"], index=index)
        assert np.array_equal(decoded, expected[0]) and ok == expected[1]


def test_runaway_escape_prefix_is_corrupt(q1):
    """32 zeros: no int32 has such a gamma. TFC would read on (here it would end, with undefined shifts); we stop."""
    string = _escape_stream(q1["tables"], 0, 32, [0] * 32, 0)
    decoded, ok = rc.decode(string, q1["cdf"], index=np.zeros(4, np.int32))
    assert not ok and np.array_equal(decoded, np.zeros(4))
    decoder = rc.Decoder(string, q1["tables"])
    decoder.decode_channel([1])
    assert decoder.corrupt and not decoder.finalize()


def test_decoder_spin_payload_is_corrupt_promptly(q1):
    """The payload on which TFC's decoder never returns: ours says corrupt at once."""
    from mnistzip import container

    from mnistzip import zoo

    mz = container.read(SPIN)
    assert mz.model_id == q1["id"] == zoo.by_rung(1).id
    codec = zoo.for_file(mz.model_id)
    cdf, cdf_offset = codec.engine.tables(codec._q)
    started = time.perf_counter()
    decoder = rc.Decoder(mz.payload, cdf)
    classes = decoder.decode_index(np.zeros(mz.count, np.int32))  # the stream: every digit's class, then its rows
    decoder.decode_index((1 + np.clip(classes, 0, 9)[:, None] * 32 + np.arange(32)).T)
    assert time.perf_counter() - started < 2.0
    assert not decoder.finalize()


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


def test_ten_thousand_digits_in_seconds(q12):
    """The test split's size (10,000 x 32) codes in well under the CLI's budgets (measured: ~0.1 s each way)."""
    index, values = np.tile(q12["index"], 10), np.tile(q12["values"], 10)
    started = time.perf_counter()
    string = rc.encode(values, q12["tables"], index=index)
    decoded, ok = rc.decode(string, q12["tables"], index=index)
    assert time.perf_counter() - started < 10.0
    assert ok and np.array_equal(decoded, values)


# --- every shipped model's tables, hypothesis-generated values -----------------------------------------------------

def _every_shipped_table():
    """(name, cdf, cdf_offset, dimension-major) of every level of every shipped model, read from weights.npz."""
    from mnistzip import zoo
    from mnistzip.codec import Codec

    seen = {}
    for rung in zoo.ladder():
        codec = Codec.open(rung.card, level=rung.level.number)
        cdf, cdf_offset = codec.engine.tables(codec._q)
        seen.setdefault(rung.card.name if codec.conditional else rung.name, (cdf, cdf_offset, codec.dimension_major))
    return seen


SHIPPED_TABLES = _every_shipped_table()

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
