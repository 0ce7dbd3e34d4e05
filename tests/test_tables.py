"""Range-coding tables: rows split on their markers, exact symbol costs, overflow estimates."""

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
    escaped = tables.bits(rows, np.array([[5, 1]]))  # 5 is beyond row 0: its overflow symbol and an escape code
    assert escaped[0] > -np.log2(536 / 65536) + 8 > bits[0]
    np.testing.assert_allclose(tables.cheapest, [-np.log2(32000 / 65000), -np.log2(33000 / 65000)])


def test_the_digest_covers_both_arrays():
    assert digest(CDF, OFFSET) != digest(CDF, OFFSET + 1) and len(digest(CDF, OFFSET)) == 64
