"""Range-coding tables and what symbols cost under them (NumPy only).

A model's tables are TFC's ragged CDF format, baked at export so every machine
codes the same bits (docs/format.md, "Payload"):

- ``cdf``: the rows of every table one after another. A row is ``-precision``
  (negative: the only negative entry, which marks where the row starts), then
  the cumulative count of each symbol from 0, and last the *overflow* symbol,
  which announces a value outside the table sent in TFC's escape code.
- ``cdf_offset``: the integer value of each row's first symbol.

A factorized prior codes latent dimension ``d`` with row ``d``; a conditional
prior chooses an element's row from the dimensions before it (``conditional``).
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np



def split_rows(cdf: np.ndarray) -> list[np.ndarray]:
    """The ragged ``cdf`` cut into its rows (each starts with its negative ``-precision`` marker)."""
    cdf = np.asarray(cdf)
    return np.split(cdf, row_starts(cdf)[1:])


def row_starts(cdf: np.ndarray) -> np.ndarray:
    """Where each row of the ragged ``cdf`` starts."""
    return np.flatnonzero(np.asarray(cdf) < 0)


def digest(cdf, cdf_offset) -> str:
    """SHA-256 of one level's tables, recorded in the card at export and checked at every load."""
    h = hashlib.sha256()
    for t in (cdf, cdf_offset):
        h.update(np.ascontiguousarray(np.asarray(t, dtype=np.int32)).tobytes())
    return h.hexdigest()


class Tables:
    """One level's range-coding tables, read as exported: probabilities and the exact cost of symbols."""

    def __init__(self, cdf, cdf_offset):
        self.cdf = np.asarray(cdf, np.int32)
        self.cdf_offset = np.asarray(cdf_offset, np.int32)  # each row's first symbol value
        rows = split_rows(self.cdf)
        counts = [np.diff(row[1:]).astype(np.float64) for row in rows]  # per symbol, the overflow one last
        self.lengths = np.array([len(c) - 1 for c in counts])  # symbols each row codes directly
        self.overflow_bits = np.array([-row[0] - np.log2(max(c[-1], 1)) for row, c in zip(rows, counts)])
        self.pmfs = [c[:-1] / c[:-1].sum() for c in counts]  # without the overflow symbol

    def __len__(self) -> int:
        return len(self.pmfs)

    @functools.cached_property
    def costs(self) -> np.ndarray:
        """(rows, longest row): bits of each symbol of each row (inf where a row has none)."""
        table = np.full((len(self.pmfs), max(len(p) for p in self.pmfs)), np.inf)
        for d, p in enumerate(self.pmfs):
            with np.errstate(divide="ignore"):
                table[d, : len(p)] = -np.log2(p)
        return table

    @property
    def cheapest(self) -> np.ndarray:
        """Each row's cheapest symbol in bits: -log2 of its most probable value."""
        return self.costs.min(axis=1)

    def bits(self, rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Bits per digit of integer ``symbols`` (N, L) coded with table ``rows`` (N, L).

        A symbol inside its row costs -log2 of its probability. One outside it
        costs the row's escape symbol plus the escape code (``rangecoder``):
        the excess's Elias-gamma code and a sign, one exact bit each, so
        2 × its bit length (rare: a few digits in ten thousand).
        """
        return self.element_bits(rows, symbols).sum(axis=1)

    def element_bits(self, rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Bits of each symbol (any shape) coded with its table row: :meth:`bits` before the sum."""
        idx = symbols - self.cdf_offset[rows]
        lengths = self.lengths[rows]
        inside = (idx >= 0) & (idx < lengths)
        costs = self.costs[rows, np.clip(idx, 0, self.costs.shape[1] - 1)]
        excess = np.where(idx < 0, -idx, idx - lengths + 1)
        escape = 2.0 * np.floor(np.log2(np.maximum(excess, 1)) + 1)  # 2 × bit length
        return np.where(inside, costs, self.overflow_bits[rows] + escape)
