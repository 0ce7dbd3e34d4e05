"""Golden strings of the range coder: TFC 2.14.1's own bytes and decodes for the cases the range coder is tested on.

The tests of ``mnistzip.rangecoder`` compare it with TFC's ops live where TensorFlow is installed
(``tests/test_rangecoder_tfc.py``); everywhere else (the runtime alone, NumPy 2, Python 3.13) they compare it with
what this script recorded from TFC: ``rangecoder-golden.npz`` beside it holds, for case ``i``,

- ``i.table``: which tables (``q1``, ``q12``, or a shipped table's name: ``tests/rangecodercases.py``);
- ``i.values``, and ``i.index`` where the index op codes them (absent: the channel op);
- ``i.string``: TFC's bytes for them (uint8), for an encoding case; or, for a decoding case,
  ``i.decode``: a string TFC was given, with ``i.decoded`` (what it read) and ``i.ok`` (its sanity check).

    python tests/data/make_rangecoder_golden.py          (from the checkout; needs mnistzip[train])
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())  # the checkout's mnistzip, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared cases and TFC's ops

import rangecodercases as cases  # noqa: E402
from tfcops import tfc_decode_guarded, tfc_encode  # noqa: E402

from mnistzip import rangecoder as rc  # noqa: E402

OUT = Path(__file__).parent / "rangecoder-golden.npz"
SHIPPED_CASES = 8  # random cases per shipped table


def shipped_values(rng, rows: int, dimension_major: bool):
    """Values around a table (inside, at the escapes, far outside), some huge within what TFC codes, for 0-6
    digits: (values, index or None), as the hypothesis test draws them."""
    n = int(rng.integers(0, 7))
    shape = (8, n) if dimension_major else (n, rows)
    pick = rng.integers(0, 3, size=shape)
    values = np.select([pick == 0, pick == 1], [rng.integers(-3, 41, shape), rng.integers(-(2**20), 2**20, shape)],
                       rng.integers(-(2**30) + 1, 2**30 - 100, shape)).astype(np.int32)
    return values, rng.integers(0, rows, size=shape).astype(np.int32) if dimension_major else None


def main() -> None:
    q1, q12 = cases.tables(1), cases.tables(None)
    encode = [("q1", q1["values"], None), ("q12", q12["values"], q12["index"])]
    encode += [("q1", q1["values"][:0], None), ("q1", q1["values"][:1], None),
               ("q12", q12["values"][:, :1], q12["index"][:, :1]), ("q12", q12["values"][:, :0], q12["index"][:, :0])]
    encode += [("q1", cases.random_factorized(spread), None) for spread in (2, 8, 100, 10**4, 10**6, 10**9)]
    encode += [("q12", v, i) for i, v in (cases.random_conditional(s, len(q12["tables"])) for s in (2, 30, 10**5, 10**9))]
    for name, model in (("q1", q1), ("q12", q12)):
        values = cases.escape_boundaries(model["tables"])
        index = None if name == "q1" else np.broadcast_to(np.arange(len(model["tables"]), dtype=np.int32), values.shape)
        encode.append((name, values, index))
    encode.append(("q1", cases.long_random_stream(), None))
    rng = np.random.default_rng(2026)
    for name, (cdf, _, dimension_major) in sorted(cases.every_shipped_table().items()):
        encode += [(name, *shipped_values(rng, len(rc.Tables(cdf)), dimension_major)) for _ in range(SHIPPED_CASES)]
    tables = {"q1": q1["cdf"], "q12": q12["cdf"], **{k: v[0] for k, v in cases.every_shipped_table().items()}}

    arrays, count = {}, 0
    for name, values, index in encode:
        arrays.update({f"{count}.table": np.array(name), f"{count}.values": values,
                       f"{count}.string": np.frombuffer(tfc_encode(tables[name], values, index), np.uint8)})
        if index is not None:
            arrays[f"{count}.index"] = np.asarray(index, np.int32)
        count += 1
    decode = []  # (table, string, index): long escape prefixes TFC reads but never writes, damaged strings
    for zeros in (29, 30, 31):
        for sign in (0, 1):
            prefix_rng = np.random.default_rng(zeros * 2 + sign)
            for tail in (np.zeros(zeros, int), np.ones(zeros, int), prefix_rng.integers(0, 2, zeros)):
                string = cases.escape_stream(q1["tables"], 0, zeros, tail, sign, before=[1, 2])
                decode.append(("q1", string, np.zeros(3, np.int32)))
    damage_rng = np.random.default_rng(7)
    for name, model in (("q1", q1), ("q12", q12)):
        if name == "q1":
            values = model["values"][:200]
            index = np.broadcast_to(np.arange(32, dtype=np.int32), values.shape)  # = the channel op's rows
        else:
            values, index = model["values"][:, :200], model["index"][:, :200]
        string = tfc_encode(model["cdf"], values, None if name == "q1" else index)
        decode += [(name, d, index) for d in cases.damaged(string, damage_rng)]
    with tempfile.TemporaryDirectory() as tmp:
        read = tfc_decode_guarded(Path(tmp), [(tables[t], i, s) for t, s, i in decode])
    for k, (name, string, index) in enumerate(decode):
        if k not in read:  # TFC did not end on it: nothing to compare with
            continue
        decoded, ok = read[k]
        arrays.update({f"{count}.table": np.array(name), f"{count}.index": np.asarray(index, np.int32),
                       f"{count}.decode": np.frombuffer(string, np.uint8),
                       f"{count}.decoded": np.asarray(decoded, np.int32).reshape(-1), f"{count}.ok": np.array(ok)})
        count += 1
    np.savez_compressed(OUT, count=np.array(count), **arrays)
    print(f"{OUT}: {count} cases ({len(encode)} encodings)")


if __name__ == "__main__":
    main()
