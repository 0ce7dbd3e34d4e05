"""Range-coding tables: rows split on their markers, exact symbol costs, escapes included."""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip.tables import Tables, digest, split_rows

PRECISION = 16
# two rows: symbols {-1, 0, 1} with counts 1/4, 1/2, 1/4 (minus the overflow's share), and {0, 1} at 1/2 each
CDF = np.array([-PRECISION, 0, 16000, 48000, 65000, 65536, -PRECISION, 0, 32000, 65000, 65536], np.int32)
OFFSET = np.array([-1, 0], np.int32)


def test_rows_are_split_on_their_negative_markers():
    rows = split_rows(CDF)
    assert [len(r) for r in rows] == [6, 5] and all(r[0] == -PRECISION for r in rows)


def test_symbol_costs_and_overflow():
    tables = Tables(CDF, OFFSET)
    assert len(tables) == 2 and list(tables.lengths) == [3, 2]
    np.testing.assert_allclose(tables.pmfs[0], np.array([16000, 32000, 17000]) / 65000)
    rows = np.array([[0, 1]])
    bits = tables.bits(rows, np.array([[0, 1]]))  # row 0's symbol 0, row 1's symbol 1
    expected = -np.log2(32000 / 65000) - np.log2(33000 / 65000)
    assert bits == pytest.approx([expected])
    escaped = tables.bits(rows, np.array([[5, 1]]))  # 5 is 6 past row 0's first (-1): escape, gamma(4), a sign
    assert escaped[0] == pytest.approx(-np.log2(536 / 65536) + 6 - np.log2(33000 / 65000))
    np.testing.assert_allclose(tables.cheapest, [-np.log2(32000 / 65000), -np.log2(33000 / 65000)])


def test_escape_costs_match_the_range_coder():
    """The estimate for values outside a row is exact: the coder writes 2 x bit length of the excess."""
    from mnistzip import rangecoder

    rng = np.random.default_rng(0)
    values = rng.integers(-3000, 3000, size=(4000, 2)).astype(np.int32)  # most outside both rows
    estimate = Tables(CDF, OFFSET).bits(np.broadcast_to([0, 1], values.shape), values).sum()
    coded = 8 * len(rangecoder.encode(values, CDF, cdf_offset=OFFSET))
    assert coded == pytest.approx(estimate, abs=16)


def test_the_digest_covers_both_arrays():
    assert digest(CDF, OFFSET) != digest(CDF, OFFSET + 1) and len(digest(CDF, OFFSET)) == 64
