"""Range-coding cases shared by the range coder's tests and the script that records TFC's answers to them.

``tables(rung)`` gives a shipped model's real tables (and the symbols of test digits) in the form TFC's ops take
them; the other functions build the cases: random values, every escape boundary, long escape prefixes, carries,
damaged strings.
"""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip import catalogue, mnist, zoo
from mnistzip import rangecoder as rc
from mnistzip.codec import Codec

DIGITS = 1000  # test digits coded with each shipped model


def tables(rung):
    """ladder-q1's factorized tables for the digits of one class (it codes the class first, then 32 dimensions with
    that class's 32 rows): those rows and the symbols (N, 32) of DIGITS test digits of the commonest class; or, for
    ``rung=None`` (ladder-q12, conditional), its tables and the dimension-major (32, N) table indices and symbols."""
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


def escape_stream(tables, row, zeros, tail_bits, sign, before=()):
    """Raw coder input: ``before`` direct values of ``row``, the escape, ``zeros`` zero bits, a one, bits, sign."""
    cdf, p, m = tables.rows[row], int(tables.precision[row]), int(tables.max_value[row])
    triples = [(cdf[v], cdf[v + 1], p) for v in before] + [(cdf[m], cdf[m + 1], p)]
    bits = [0] * zeros + [1] + list(tail_bits) + [sign]
    triples += [(b, b + 1, 1) for b in bits]
    encoder = rc.Encoder(tables)
    encoder._code(*(list(x) for x in zip(*triples)))
    return encoder.finalize()


def every_shipped_table():
    """(name, cdf, cdf_offset, dimension-major) of every level of every shipped model, read from weights.npz."""
    seen = {}
    for rung in catalogue.ladder():
        codec = Codec.open(rung.card, level=rung.level.number)
        cdf, cdf_offset = codec.engine.tables(codec._q)
        seen.setdefault(rung.card.name if codec.conditional else rung.name, (cdf, cdf_offset, codec.dimension_major))
    return seen


def random_factorized(spread: int) -> np.ndarray:
    return np.random.default_rng(spread).integers(-spread, spread, size=(64, 32)).astype(np.int32)


def random_conditional(spread: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(spread)
    index = rng.integers(0, rows, size=(32, 64)).astype(np.int32)
    return index, rng.integers(-spread, spread, size=(32, 64)).astype(np.int32)


def escape_boundaries(t: rc.Tables) -> np.ndarray:
    """Each row's first and last direct values, its escape value itself, one past, -1, -2 and the largest gammas:
    (8, rows), column d using row d."""
    m = t.max_value[None, :]  # (1, rows): each row's escape symbol
    return np.concatenate([0 * m, m - 1, m, m + 1, -1 + 0 * m, -2 + 0 * m, -rc.MAX_GAMMA + 0 * m,
                           m - 1 + rc.MAX_GAMMA]).astype(np.int32)


def long_random_stream() -> np.ndarray:
    """A 300 KB stream's values of improbable symbols: carries, and runs of pending 0x00/0xFF pairs."""
    return np.random.default_rng(3).integers(-3, 3, size=(3000, 32)).astype(np.int32)


def damaged(string: bytes, rng) -> list[bytes]:
    """A string cut short, padded, with a byte flipped, and random bytes of several lengths."""
    out = [string[:-k] for k in (1, 2, 3, 5, 17, len(string) // 2)] + [string[:0]]
    out += [string + pad for pad in (b"\0", b"\0\0", b"\x01", b"\0" * 7, bytes(rng.integers(0, 256, 9)))]
    for _ in range(6):
        flipped = bytearray(string)
        flipped[rng.integers(len(string))] ^= 1 << rng.integers(8)
        out.append(bytes(flipped))
    out += [bytes(rng.integers(0, 256, size)) for size in (1, 4, 50, len(string), 3 * len(string))]
    return out + [b"\xff" * 40, b"\0" * 40]


@pytest.fixture(scope="module")
def q1():
    """ladder-q1's tables and symbols (``tables(1)``), once per test module."""
    return tables(1)


@pytest.fixture(scope="module")
def q12():
    """ladder-q12's tables and symbols (``tables(None)``), once per test module."""
    return tables(None)
