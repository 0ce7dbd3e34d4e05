"""mnistzip.rangecoder: TFC 2.14.1's range coder, byte for byte, checked without TensorFlow against the strings TFC
wrote for the same cases (tests/data/make_rangecoder_golden.py; tests/test_rangecoder_tfc.py runs them live), and
where it differs on purpose: it refuses what TFC cannot code, and stops where TFC's decoder spins."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import rangecodercases as cases
from rangecodercases import q1, q12  # noqa: F401 - fixtures
from mnistzip import rangecoder as rc

SPIN = Path(__file__).parent / "data" / "decoder-spin.mz"
GOLDEN = Path(__file__).parent / "data" / "rangecoder-golden.npz"


@pytest.fixture(scope="module")
def golden(q1, q12):
    """Every recorded case: (number, tables, the case's arrays)."""
    tables = {"q1": q1["cdf"], "q12": q12["cdf"], **{k: v[0] for k, v in cases.every_shipped_table().items()}}
    with np.load(GOLDEN) as npz:
        recorded = [{key.split(".", 1)[1]: npz[key] for key in npz.files if key.startswith(f"{i}.")}
                    for i in range(int(npz["count"]))]
    return [(i, tables[str(c["table"])], c) for i, c in enumerate(recorded)]


@pytest.fixture(params=["searching", "lookup"])
def loop(request, monkeypatch):
    """Each decoding test twice: every call through the searching loop (the spec), then through the lookup loop."""
    monkeypatch.setattr(rc, "LOOKUP_ENTRIES_PER_SYMBOL", rc.LOOKUP_MAX if request.param == "lookup" else 0)
    return request.param


def test_every_recorded_encoding_gives_tfcs_bytes_and_decodes_back(golden, loop):
    encodings = [(i, cdf, c) for i, cdf, c in golden if "string" in c]
    assert len(encodings) >= 60 and any(c["values"].size > 50_000 for _, _, c in encodings)  # the carries' stream
    for i, cdf, c in encodings:
        index = c.get("index")
        assert rc.encode(c["values"], cdf, index=index) == c["string"].tobytes(), f"case {i}"
        decoded, ok = rc.decode(c["string"].tobytes(), cdf, c["values"].shape, index=index)
        assert ok and np.array_equal(decoded, c["values"]), f"case {i}"


def test_every_recorded_decoding_reads_what_tfc_read(golden, loop):
    """Long escape prefixes TFC's encoder never writes but its decoder reads (int32 wrap-around), and damaged
    strings: the same values and the same sanity verdict as entropy_decode_finalize."""
    decodings = [(i, cdf, c) for i, cdf, c in golden if "decode" in c]
    assert len(decodings) >= 60 and {bool(c["ok"]) for _, _, c in decodings} == {True, False}
    for i, cdf, c in decodings:
        decoded, ok = rc.decode(c["decode"].tobytes(), cdf, index=c["index"])
        assert ok == bool(c["ok"]) and np.array_equal(decoded.reshape(-1), c["decoded"]), f"case {i}"


def test_refuses_what_tfc_cannot_code(q1, q12):
    """TFC's encoder never ends on gamma >= 2^30 (checked by hand: it loops); ours says so instead."""
    for bad in ([2**31 - 1], [-(2**30)], [-(2**31)]):
        with pytest.raises(ValueError):
            rc.encode(np.array(bad, np.int64), q1["cdf"])
    with pytest.raises(ValueError):
        rc.encode([0], q12["cdf"], index=[len(q12["tables"])])
    with pytest.raises(ValueError):
        rc.decode(b"", q12["cdf"], index=[-1])


def test_runaway_escape_prefix_is_corrupt(q1):
    """32 zeros: no int32 has such a gamma. TFC would read on (here it would end, with undefined shifts); we stop."""
    string = cases.escape_stream(q1["tables"], 0, 32, [0] * 32, 0)
    decoded, ok = rc.decode(string, q1["cdf"], index=np.zeros(4, np.int32))
    assert not ok and np.array_equal(decoded, np.zeros(4))
    decoder = rc.Decoder(string, q1["tables"])
    decoder.decode_channel([1])
    assert decoder.corrupt and not decoder.finalize()


def test_decoder_spin_payload_is_corrupt_promptly(q1):
    """The payload on which TFC's decoder never returns: ours says corrupt at once."""
    from mnistzip import container

    from mnistzip import catalogue, zoo

    mz = container.read(SPIN)
    assert mz.model_id == q1["id"] == catalogue.by_rung(1).id
    codec = zoo.for_file(mz.model_id)
    cdf, cdf_offset = codec.engine.tables(codec._q)
    started = time.perf_counter()
    decoder = rc.Decoder(mz.payload, cdf)
    classes = decoder.decode_index(np.zeros(mz.count, np.int32))  # the stream: every digit's class, then its rows
    decoder.decode_index((1 + np.clip(classes, 0, 9)[:, None] * 32 + np.arange(32)).T)
    assert time.perf_counter() - started < 2.0
    assert not decoder.finalize()


def test_ten_thousand_digits_in_seconds(q12):
    """The test split's size (10,000 x 32) codes in well under the CLI's budgets (measured: ~0.1 s each way)."""
    index, values = np.tile(q12["index"], 10), np.tile(q12["values"], 10)
    started = time.perf_counter()
    string = rc.encode(values, q12["tables"], index=index)
    decoded, ok = rc.decode(string, q12["tables"], index=index)
    assert time.perf_counter() - started < 10.0
    assert ok and np.array_equal(decoded, values)


def test_the_lookup_loop_decodes_as_the_searching_loop_whatever_the_bytes(q12, monkeypatch):
    """Both loops on the same strings, call after call: the same values, the same state (base, size, value, bytes
    read, corrupt), the same finalize. Real tables and small ones with escapes and symbols of no width; random,
    damaged, zero- and 0xFF-filled strings."""
    small = np.array([-12, 0, 1000, 2000, 3000, 4096, -12, 0, 5, 5, 5, 4000, 4096, -12, 0, 4095, 4096,
                      -12, 0, 0, 2048, 4096], np.int32)
    real = rc.encode(q12["values"], q12["tables"], index=q12["index"])
    rng = np.random.default_rng(7)
    escapes = 0
    for trial in range(400):
        cdf, rows = (q12["tables"], len(rc.Tables(q12["tables"]))) if trial % 2 else (small, 4)
        kind = trial % 8 // 2
        if kind == 0:
            data = rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8).tobytes()
        elif kind == 1:
            damaged = bytearray(real[: rng.integers(0, 3000)])
            for at in rng.integers(0, max(1, len(damaged)), 3):
                if damaged:
                    damaged[at] ^= 1 << int(rng.integers(0, 8))
            data = bytes(damaged)
        else:
            data = bytes(rng.choice([0, 255, 1, 128], rng.integers(0, 60)).astype(np.uint8))
        calls = [rng.integers(0, rows, rng.integers(0, 700)) for _ in range(rng.integers(1, 6))]
        decoders = {}
        for how, per_symbol in (("searching", 0), ("lookup", rc.LOOKUP_MAX)):
            monkeypatch.setattr(rc, "LOOKUP_ENTRIES_PER_SYMBOL", per_symbol)
            decoder = rc.Decoder(data, cdf, symbols=sum(call.size for call in calls))
            decoders[how] = [(decoder.decode_index(call).tolist(), decoder._base, decoder._sm1, decoder._value,
                              decoder._pos, decoder.corrupt) for call in calls] + [decoder.finalize()]
        assert decoders["lookup"] == decoders["searching"], f"trial {trial}"
        escapes += sum(3 in values for values, *_ in decoders["lookup"][:-1]) if cdf is small else 0
    assert escapes > 20  # the escape's hand-over, back and forth, was exercised
