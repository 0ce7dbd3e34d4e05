"""TFC 2.14.1's range coder in NumPy: the same bytes from the same symbols, the same symbols from the same bytes.

mnistzip's payloads are written by TensorFlow Compression's range-coding ops
(``entropy_encode_channel`` / ``entropy_encode_index``). A runtime without
TensorFlow must read and write exactly those bytes, so this module re-implements
the coder and the ops' use of it, integer for integer; nothing here is a
different or "equivalent" coder. (Written from the algorithm in
tensorflow_compression/cc/lib/range_coder.h and cc/kernels/range_coder_kernels.cc.)

Tables
    TFC's ragged ``cdf``: one row after another, each ``precision`` (negative
    for our tables: it switches the escape code on), then ``0``, the cumulative
    counts, and ``1 << |precision|``; copies of that last value after it are
    padding. A row with negative precision has ``m = len(counts) - 1`` direct
    symbols ``0 .. m-1`` and its last interval, symbol ``m``, is the escape.
    :class:`Tables` parses a cdf exactly as TFC does (a row ends at the first
    ``1 << precision``) and rejects what TFC rejects.

Values
    The ops code ``symbol - cdf_offset[row]`` (0 = a row's first symbol), and so
    does this module; pass ``cdf_offset`` to :func:`encode` / :func:`decode` to
    give and get the symbols themselves.

Element order and rows
    One string holds the elements in C order. Without an index ("channel", the
    factorized prior), element ``j`` of each call uses row ``j mod rows``: for
    an (n, L) array and L rows, element (i, d) uses row d. With an index (the
    conditional prior) each element names its row; mnistzip's conditional
    stream is dimension-major, so its callers pass ``index.T`` / ``symbols.T``.

The coder (Martin's range coder, 32-bit state)
    The encoder keeps an interval ``[base, base + size)`` of 32-bit integers,
    ``2^16 <= size <= 2^32``. Coding ``[lower, upper) / 2^p`` narrows it to
    ``[base + size*lower >> p, base + (size*upper >> p) - 1]``; when the size
    falls to ``2^16`` or below, the top 16 bits of ``base`` are settled and
    written (two bytes) and base and size shift left by 16. If the interval
    straddles a multiple of 2^32 at that point, the top bytes are not yet
    known (a later carry may still add one): the encoder remembers them, plus
    a count of pending 0x00/0xFF byte pairs, until the interval falls on one
    side ("delay"). ``finalize`` writes the shortest number in the final
    interval, leaving out trailing zero bytes: the decoder reads zeros past
    the end. The decoder mirrors it with a 32-bit ``value`` read two bytes at
    each renormalisation and finds each symbol by searching the row for the
    first cumulative count ``v`` with ``(value - base + 1) << p <= size * v``.

Decoding many symbols
    A decoder told it will read a long string (at least one symbol for every
    ``LOOKUP_ENTRIES_PER_SYMBOL`` entries of the tables below: a whole archive
    at the top rungs) runs another loop with the same integers: each row's ``2^p`` possible
    values of ``t - 1 = ((value - base) << p | (2^p - 1)) // size`` looked up
    instead of searched (``value`` never leaves the interval, so ``t - 1 <
    2^p``), and the state held in Python floats, whose arithmetic costs less
    than that of integers above 2^30 (twice the speed, with the lookup). Every
    float in it is an integer below 2^53, or one over ``2^p``, and every step
    exact (:meth:`Decoder._decode_many` says why): the symbols, the state and
    the bytes read are those of the searching loop, which stays the spec.

Escape (overflow) code
    A value ``v`` outside a negative-precision row's ``0 .. m-1`` is coded as
    the escape symbol ``m`` followed by, in 1-bit uniform steps: ``gamma``'s
    Elias-gamma code (``bit_length - 1`` zeros, then its bits from the top) and
    a sign bit, where ``gamma = -v`` for ``v < 0`` (sign 1) and ``v - m + 1``
    otherwise (sign 0). The value ``m`` itself is escaped (gamma 1).

Sanity check
    :meth:`Decoder.finalize` is TFC's ``entropy_decode_finalize``: true only if
    every byte was read and ``value`` is the number the encoder's ``finalize``
    would have chosen for the final interval. It catches padding, a flipped
    byte, a short truncation; it cannot catch a stream decoded two
    renormalisations (4 bytes) past its end: ``value`` is then 0, which the
    check always accepts (an interval holding 0 is one the encoder ends with
    no byte). A truncated or short garbage string read for many symbols
    therefore passes; only a length bound (``Codec.min_payload_bytes``) helps.

Where we differ from TFC, on purpose
    TFC's escape decoder counts gamma's leading zeros without a bound, and spins
    forever when the value sits on the interval's base with only zeros behind
    (tests/data/decoder-spin.mz). An int32 value's magnitude is at most 2^31,
    so gamma has at most 32 bits, i.e. at most 31 leading zeros; TFC's own
    encoder never writes more than 29 (beyond ``gamma >= 2^30`` its ``1 << n``
    leaves int32 and it does not terminate; -2^31 it writes as bytes that do
    not decode back: :func:`encode` refuses all those values). Decoding stops at the 32nd zero: the stream is corrupt.
    Corruption is *reported*, not raised: :func:`decode` returns ``ok=False``
    (exactly where TFC's finalize would, plus the runaway escape), the
    :class:`Decoder` sets ``corrupt`` and decodes zeros from then on. Up to 31
    zeros we reproduce TFC's int32 wrap-around arithmetic, so even a nonsense
    escape decodes to TFC's number.
"""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

MASK = 0xFFFFFFFF  # uint32 arithmetic on Python ints
MAX_ESCAPE_ZEROS = 31  # gamma of an int32 has <= 32 bits (|-2^31| = 2^31): more leading zeros is corruption
MAX_GAMMA = (1 << 30) - 1  # the largest gamma TFC's encoder terminates on (see the module docstring)
# The lookup tables (rows x 2^precision entries) cost ~100-180 ns an entry to build, and save ~500 ns a symbol
LOOKUP_ENTRIES_PER_SYMBOL = 2  # built for a string of at least one symbol for every 2 entries
LOOKUP_MAX = 1 << 21  # entries they may have: ~17 MB of references
ROUND_DOWN = 1.5 * 2.0**52  # x - (0.5 - 2^-(p+1)) + ROUND_DOWN - ROUND_DOWN = floor(x): x >= 0, x * 2^p an integer < 2^52


class Tables:
    """A ragged (1-D) or padded (2-D) TFC ``cdf``, parsed as TFC's ``ScanCDF`` does (``ValueError`` where it errs)."""

    def __init__(self, cdf):
        if isinstance(cdf, Tables):
            self.__dict__.update(cdf.__dict__)
            return
        cdf = np.asarray(cdf)
        if cdf.ndim not in (1, 2):
            raise ValueError(f"cdf must be rank 1 or 2: shape {cdf.shape}")
        cdf = cdf.astype(np.int64)
        rows, precisions = [], []
        if cdf.ndim == 1:  # rows one after another
            seg, pos = cdf.tolist(), 0
            while pos < len(seg):
                pos = self._scan(seg, pos, rows, precisions)
        else:  # one row per line, padded with its last value
            for line in cdf.tolist():
                if self._scan(line, 0, rows, precisions) != len(line):
                    raise ValueError("CDF must end with 1 << precision.")
        self.rows = rows  # each row's cumulative counts, 0 .. 1 << precision (Python lists, for bisect)
        self.precision = np.array([abs(p) for p in precisions], np.int64)
        self.overflow = np.array([p < 0 for p in precisions], bool)
        self.lengths = np.array([len(r) for r in rows], np.int64)  # counts per row (symbols + 1)
        self.max_value = self.lengths - 2  # the escape symbol of an overflow row
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.flat = np.array([v for r in rows for v in r], np.int64)
        self._lookup: dict = {}  # built on first use, shared with the copies Tables(self) makes (coders' own)

    def lookup(self, symbols: int) -> list | None:
        """Per row, for each of the ``2^p`` values of ``t - 1`` (module docstring): the symbol it decodes to,
        the symbol's lower and upper counts over ``2^p``, and whether it is the escape; built for a string of
        ``symbols`` symbols when worth it (``LOOKUP_ENTRIES_PER_SYMBOL``), kept once built. None when not worth
        it, when the rows do not share one precision, or when the tables would pass ``LOOKUP_MAX`` entries."""
        if "rows" in self._lookup:
            return self._lookup["rows"]
        if not self.rows or len(set(self.precision.tolist())) != 1:
            return None
        entries = len(self.rows) << int(self.precision[0])
        if entries > min(LOOKUP_MAX, symbols * LOOKUP_ENTRIES_PER_SYMBOL):
            return None
        self._lookup["rows"] = rows = self._build_lookup(1 << int(self.precision[0]))
        return rows

    def _build_lookup(self, one: int) -> list:
        lower = np.delete(self.flat, self.starts + self.lengths - 1)  # each symbol's counts, every row's in turn
        upper = np.delete(self.flat, self.starts)
        symbol = np.concatenate([np.arange(m - 1) for m in self.lengths.tolist()])
        escape = symbol == np.repeat(np.where(self.overflow, self.max_value, -1), self.lengths - 1)
        entries = list(zip(symbol.tolist(), (lower / one).tolist(), (upper / one).tolist(), escape.tolist()))
        # symbol s covers t - 1 in [lower, upper): a symbol of no width none, as the search never finds one
        which = np.repeat(np.arange(len(entries)), upper - lower).tolist()
        return [list(map(entries.__getitem__, which[r * one : (r + 1) * one])) for r in range(len(self.rows))]

    @staticmethod
    def _scan(seg, pos, rows, precisions):
        if len(seg) < pos + 3:
            raise ValueError("CDF ended prematurely.")
        precision = seg[pos]
        if not 1 <= abs(precision) < 17:
            raise ValueError(f"precision={abs(precision)} not in range [1, 17)")
        last = 1 << abs(precision)
        if seg[pos + 1] != 0:
            raise ValueError("CDF must start with 0.")
        p = pos + 1
        while True:
            p += 1
            if p == len(seg):
                raise ValueError("CDF must end with 1 << precision.")
            if seg[p] < seg[p - 1]:
                raise ValueError("CDF must be monotonically increasing.")
            if seg[p] == last:
                break
        rows.append(seg[pos + 1 : p + 1])
        precisions.append(precision)
        p += 1
        while p < len(seg) and seg[p] == last:  # padding
            p += 1
        return p

    def __len__(self) -> int:
        return len(self.rows)

    def channel_rows(self, count: int) -> np.ndarray:
        """Rows of ``count`` elements coded by one channel call: element ``j`` uses row ``j mod len(self)``."""
        if not self.rows:
            raise ValueError("no table to code with: the cdf is empty")
        return np.arange(count, dtype=np.int64) % len(self.rows)

    def check_index(self, index: np.ndarray) -> None:
        if index.size and (index.min() < 0 or index.max() >= len(self.rows)):
            bad = index[(index < 0) | (index >= len(self.rows))][0]
            raise ValueError(f"index={bad} not in range [0, {len(self.rows)})")


def _int32(x: int) -> int:
    return ((x + (1 << 31)) & MASK) - (1 << 31)


def _bit_length(x: np.ndarray) -> np.ndarray:
    """Bits of positive integers < 2^53 (exact: frexp's exponent)."""
    return np.frexp(x.astype(np.float64))[1].astype(np.int64)


class Encoder:
    """TFC's encoder handle for one string: ``encode_channel`` / ``encode_index`` repeatedly, then ``finalize``."""

    def __init__(self, cdf):
        self.tables = Tables(cdf)
        self._base, self._sm1, self._delay = 0, MASK, 0
        self._out = bytearray()

    def encode_channel(self, values) -> None:
        """Raw values (``symbol - cdf_offset``), any shape, C order; element ``j`` uses row ``j mod rows``."""
        values = np.asarray(values).reshape(-1)
        self._encode(self.tables.channel_rows(values.size), values)

    def encode_index(self, index, values) -> None:
        """Raw values coded each with the row ``index`` names (same shape), C order."""
        index, values = np.asarray(index), np.asarray(values)
        if index.shape != values.shape:
            raise ValueError(f"'index' shape should match 'value' shape: {index.shape} != {values.shape}")
        index = index.reshape(-1).astype(np.int64)
        self.tables.check_index(index)
        self._encode(index, values.reshape(-1))

    def finalize(self) -> bytes:
        """The string: the coded bytes and the shortest tail that identifies the final interval."""
        out, base, sm1, delay = bytearray(self._out), self._base, self._sm1, self._delay
        if delay:
            out.append((delay >> 8) & 0xFF)  # 2^32 (state 1): the pending pair, its trailing zero byte implicit
            if delay & 0xFF:
                out.append(delay & 0xFF)
        elif base:
            upper = base + sm1
            mid = ((base - 1) >> 24) + 1  # base rounded up to a multiple of 2^24, if that is inside
            if mid <= upper >> 24:
                out.append(mid & 0xFF)
            else:
                mid = ((base - 1) >> 16) + 1  # else to a multiple of 2^16, always inside as size > 2^16
                out.append((mid >> 8) & 0xFF)
                if mid & 0xFF:
                    out.append(mid & 0xFF)
        return bytes(out)

    def _encode(self, rows: np.ndarray, values: np.ndarray) -> None:
        if values.size == 0:
            return
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"values must be integers, not {values.dtype}")
        t = self.tables
        values = values.astype(np.int64)
        if values.min() < -(1 << 31) or values.max() >= 1 << 31:
            raise ValueError("values must fit in int32")
        ovf, maxv = t.overflow[rows], t.max_value[rows]
        plain_bad = ~ovf & ((values < 0) | (values > maxv))  # TFC: value in [0, row.size() - 2)
        if plain_bad.any():
            j = int(np.flatnonzero(plain_bad)[0])
            raise ValueError(f"value={values[j]} not in range [0, {maxv[j] + 1})")
        escape = ovf & ((values < 0) | (values >= maxv))
        symbol = np.where(escape, maxv, values)
        lower = t.flat[t.starts[rows] + symbol]
        upper = t.flat[t.starts[rows] + symbol + 1]
        precision = t.precision[rows]
        if escape.any():
            lower, upper, precision = self._with_escapes(lower, upper, precision, escape, values, maxv)
        self._code(lower.tolist(), upper.tolist(), precision.tolist())

    @staticmethod
    def _with_escapes(lower, upper, precision, escape, values, maxv):
        """The interval sequence with each escape symbol followed by its gamma code and sign (1-bit steps)."""
        gamma = np.where(values < 0, -values, values - maxv + 1)[escape]
        if gamma.max() > MAX_GAMMA:
            raise ValueError(f"a value outside its table by {int(gamma.max())}: TFC cannot code more than {MAX_GAMMA}")
        nbits = _bit_length(gamma)
        extra = np.zeros(len(values), np.int64)
        extra[escape] = 2 * nbits  # (nbits - 1) zeros, nbits bits, one sign
        where = np.arange(len(values)) + np.concatenate([[0], np.cumsum(extra)[:-1]])
        total = len(values) + int(extra.sum())
        lo = np.empty(total, np.int64)
        p = np.ones(total, np.int64)
        lo[where], p[where] = lower, precision
        hi = lo + 1
        hi[where] = upper
        # Every escape's 2 * nbits steps at once: k-th step of escape e at where[e] + 1 + k.
        steps = 2 * nbits
        e = np.repeat(np.arange(len(gamma)), steps)
        k = np.arange(int(steps.sum())) - np.repeat(np.cumsum(steps) - steps, steps)
        n, g = nbits[e], gamma[e]
        shift = np.clip(2 * n - 2 - k, 0, None)  # step n-1 is gamma's top bit, step 2n-2 its lowest
        bit = np.where(k < n - 1, 0, np.where(k == 2 * n - 1, (values[escape] < 0)[e], (g >> shift) & 1))
        at = where[escape][e] + 1 + k
        lo[at], hi[at] = bit, bit + 1
        return lo, hi, p

    def _code(self, lowers, uppers, precisions) -> None:
        """Narrow the interval by each ``[lower, upper) / 2^p`` in turn (the hot loop: plain ints, no NumPy)."""
        base, sm1, delay, out = self._base, self._sm1, self._delay, self._out
        for lo, hi, p in zip(lowers, uppers, precisions):
            size = sm1 + 1
            a = (size * lo) >> p
            sm1 = ((size * hi) >> p) - 1 - a
            base += a
            carry = base > MASK
            if carry:
                base &= MASK
            if base + sm1 > MASK:  # state 1: the interval straddles 2^32, its top bytes still undecided
                if sm1 < 0x10000:
                    base = (base << 16) & MASK
                    sm1 = (sm1 << 16) | 0xFFFF
                    delay += 0x20000  # two more pending bytes (0x00 after a carry, else 0xFF)
                continue
            if delay:  # back in state 0: the pending bytes are settled
                if carry:
                    out += bytes(((delay >> 8) & 0xFF, delay & 0xFF))
                    out += bytes(delay >> 16)
                else:
                    delay -= 1
                    out += bytes(((delay >> 8) & 0xFF, delay & 0xFF))
                    out += b"\xff" * (delay >> 16)
                delay = 0
            if sm1 < 0x10000:
                top = base >> 16
                base = (base << 16) & MASK
                sm1 = (sm1 << 16) | 0xFFFF
                if base + sm1 <= MASK:
                    out.append(top >> 8)
                    out.append(top & 0xFF)
                else:
                    delay = top + 1
        self._base, self._sm1, self._delay = base, sm1, delay


class Decoder:
    """TFC's decoder handle on one string: ``decode_channel`` / ``decode_index`` in coding order, then ``finalize``.

    ``corrupt`` becomes true when an escape's gamma prefix runs past 31 zeros;
    from then on every call decodes zeros and ``finalize`` is false.
    """

    def __init__(self, data: bytes, cdf, symbols: int = 0):
        """``symbols``: how many symbols the caller will read from ``data``, if it knows; a long string is read
        by the lookup loop (module docstring)."""
        self.tables = Tables(cdf)
        self._data = bytes(data)
        self._pos = min(4, len(self._data))
        head = self._data[:4] + b"\0" * (4 - self._pos)
        self._value = int.from_bytes(head, "big")
        self._base, self._sm1 = 0, MASK
        self.corrupt = False
        self._looked_up = self.tables.lookup(symbols) if symbols > 0 else None
        self._scaled_words = None  # the lookup loop's view of the data (_words), made on first use

    def decode_channel(self, shape) -> np.ndarray:
        """int32 raw values of ``shape``, C order; element ``j`` uses row ``j mod rows``."""
        shape = tuple(int(s) for s in np.reshape(shape, -1))
        count = int(np.prod(shape, dtype=np.int64))
        return self._decode(self.tables.channel_rows(count)).reshape(shape)

    def decode_index(self, index) -> np.ndarray:
        """int32 raw values, each with the row ``index`` names (its shape), C order."""
        index = np.asarray(index)
        flat = index.reshape(-1).astype(np.int64)
        self.tables.check_index(flat)
        return self._decode(flat).reshape(index.shape)

    def finalize(self) -> bool:
        """TFC's sanity check: every byte read and ``value`` where the encoder's ``finalize`` puts it."""
        if self.corrupt or self._pos != len(self._data):
            return False
        base, value = self._base, self._value
        upper = (base + self._sm1) & MASK
        if base == 0 or upper < base:
            return value == 0
        shift = 24 if ((base - 1) >> 24) < (upper >> 24) else 16
        return ((((base - 1) >> shift) + 1) << shift) & MASK == value

    def _decode(self, rows: np.ndarray) -> np.ndarray:
        if self._looked_up is not None and rows.size and not self.corrupt:
            return self._decode_many(rows)
        return self._decode_searching(rows)

    def _decode_searching(self, rows: np.ndarray) -> np.ndarray:
        """The decoder as the module's docstring states it, one symbol after another."""
        out = np.zeros(rows.size, np.int64)
        if rows.size == 0 or self.corrupt:
            return out.astype(np.int32)
        t = self.tables
        cdfs, precisions = t.rows, t.precision.tolist()
        escapes = np.where(t.overflow, t.max_value, -1).tolist()  # the escape symbol of each row, -1: none
        data, n = self._data, len(self._data)
        base, sm1, value, pos = self._base, self._sm1, self._value, self._pos
        result = []
        append = result.append
        for r in rows.tolist():
            cdf, p = cdfs[r], precisions[r]
            size = sm1 + 1
            lb = (((value - base) & MASK) + 1) << p
            s = bisect_left(cdf, (lb + size - 1) // size, 1)  # first count v with lb <= size * v
            a = (size * cdf[s - 1]) >> p
            sm1 = ((size * cdf[s]) >> p) - 1 - a
            base = (base + a) & MASK
            if sm1 < 0x10000:
                base = (base << 16) & MASK
                sm1 = (sm1 << 16) | 0xFFFF
                if pos + 2 <= n:
                    value = ((value << 16) & MASK) | (data[pos] << 8) | data[pos + 1]
                    pos += 2
                elif pos < n:
                    value = ((value << 16) & MASK) | (data[pos] << 8)
                    pos += 1
                else:
                    value = (value << 16) & MASK
            s -= 1
            if s == escapes[r]:
                self._base, self._sm1, self._value, self._pos = base, sm1, value, pos
                s = self._escape(s)
                if self.corrupt:
                    out[: len(result)] = result
                    return out.astype(np.int32)
                base, sm1, value, pos = self._base, self._sm1, self._value, self._pos
            append(s)
        self._base, self._sm1, self._value, self._pos = base, sm1, value, pos
        return np.array(result, np.int32)

    def _decode_many(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`_decode_searching`'s symbols and state, with the tables looked up and the state in floats.

        The state is ``base`` (masked to 32 bits only when it is shifted: it stays below 2^33, as ``base + size``
        never grows between shifts), ``size`` (= sm1 + 1), ``scaled = (value - base) * 2^p + 2^p - 1`` (below
        2^(32+p), p <= 16) and ``k``, the 16-bit words read after the first 4 bytes. Each step is exact in float64:

        * ``t - 1 = floor(scaled / size)``: the quotient is below 2^p (``value - base < size``), so its rounding
          error (< 2^(p-53) <= 2^-37) cannot carry it across an integer, from which it is at least 1/size >=
          2^-32 away;
        * ``a = floor(size * lower / 2^p)``: ``size * (lower / 2^p)`` is exact (below 2^(32+p), with ``p``
          fraction bits at most), and subtracting ``0.5 - 2^-(p+1)`` then rounding to an integer
          (``ROUND_DOWN``) floors it;
        * renormalising: ``base * 2^16 mod 2^32`` (below 2^49), and ``scaled * 2^16 - (2^p - 1)(2^16 - 1) +
          word * 2^p`` (below 2^(32+p), as ``size`` <= 2^16 then).

        An escape hands the state back as integers to :meth:`_escape`, and takes it again after.
        """
        tables, one = self._looked_up, float(1 << int(self.tables.precision[0]))
        low, half = one - 1.0, 0.5 - 0.5 / one
        shifted_low = low - low * 65536.0
        base, size, scaled, k = self._take_over(one, rows.size)
        words = self._words(one)  # the list _take_over lengthened, and lengthens after an escape
        result = []
        append = result.append
        for entries in map(tables.__getitem__, rows.tolist()):
            s, lower, upper, escape = entries[int(scaled / size)]
            a = size * lower - half + ROUND_DOWN - ROUND_DOWN
            size = size * upper - half + ROUND_DOWN - ROUND_DOWN - a
            scaled -= a * one
            base += a
            if size <= 65536.0:
                base = base * 65536.0 % 4294967296.0
                size *= 65536.0
                scaled = scaled * 65536.0 + shifted_low + words[k]
                k += 1
            if escape:
                self._hand_back(base, size, scaled, one, k)
                s = self._escape(s)
                if self.corrupt:
                    out = np.zeros(rows.size, np.int32)
                    out[: len(result)] = result
                    return out
                base, size, scaled, k = self._take_over(one, rows.size)
            append(s)
        self._hand_back(base, size, scaled, one, k)
        return np.array(result, np.int32)

    def _words(self, one: float) -> list:
        """The 16-bit words after the first 4 bytes (a last odd byte as its high half), times 2^p, as floats:
        what each renormalisation of :meth:`_decode_many` reads; zeros are added after them as needed."""
        if self._scaled_words is None:
            body = self._data[4:]
            body += b"\0" * (len(body) % 2)
            self._scaled_words = (np.frombuffer(body, ">u2") * one).tolist()
            self._words_in_data = len(self._scaled_words)
        return self._scaled_words

    def _take_over(self, one: float, symbols: int) -> tuple[float, float, float, int]:
        """The integer state as :meth:`_decode_many`'s (base, size, scaled, words read), with zeros after the
        data's words for ``symbols`` more symbols (a word a symbol at most)."""
        words = self._words(one)
        k = (self._pos - 4) // 2 if self._pos < len(self._data) else self._words_in_data  # past the end: zeros
        words += [0.0] * max(0, k + symbols + 1 - len(words))
        scaled = float((self._value - self._base) & MASK) * one + (one - 1.0)
        return float(self._base), float(self._sm1 + 1), scaled, k

    def _hand_back(self, base: float, size: float, scaled: float, one: float, k: int) -> None:
        """:meth:`_decode_many`'s float state as the integer state of the other loops."""
        self._base, self._sm1 = int(base) & MASK, int(size) - 1
        self._value = (self._base + int((scaled - (one - 1.0)) / one)) & MASK
        self._pos = min(4 + 2 * k, len(self._data))

    def _bit(self) -> int:
        """One binary-uniform decision (cdf 0, 1, 2 at precision 1)."""
        size = self._sm1 + 1
        half = size >> 1  # (size * 1) >> 1
        if ((self._value - self._base) & MASK) + 1 <= half:  # ((value - base + 1) << 1 <= size * 1
            bit, a, b = 0, 0, half - 1
        else:
            bit, a, b = 1, half, size - 1  # (size * 2) >> 1 = size
        self._base = (self._base + a) & MASK
        self._sm1 = b - a
        if self._sm1 < 0x10000:
            self._base = (self._base << 16) & MASK
            self._sm1 = (self._sm1 << 16) | 0xFFFF
            chunk = self._data[self._pos : self._pos + 2]
            self._pos += len(chunk)
            self._value = ((self._value << 16) & MASK) | int.from_bytes(chunk + b"\0" * (2 - len(chunk)), "big")
        return bit

    def _escape(self, max_value: int) -> int:
        """The value after an escape symbol: gamma's prefix (bounded), its bits, the sign; TFC's int32 arithmetic."""
        zeros = 0
        while self._bit() == 0:
            zeros += 1
            if zeros > MAX_ESCAPE_ZEROS:  # no int32 needs it: TFC would loop on here, possibly forever
                self.corrupt = True
                return 0
        gamma = 1 << zeros
        for k in range(zeros - 1, -1, -1):
            gamma |= self._bit() << k
        sign = self._bit()
        return _int32(-gamma if sign else gamma + max_value - 1)


def encode(values, cdf, index=None, cdf_offset=None) -> bytes:
    """One string holding ``values`` (any shape, C order), as TFC's ops + ``entropy_encode_finalize`` write it.

    ``index`` None: the "channel" op, element ``j`` with row ``j mod rows``
    (an (n, L) array with L rows: column d uses row d). Else the "index" op,
    ``index`` naming each element's row. ``values`` are what the ops take,
    ``symbol - cdf_offset[row]``, unless ``cdf_offset`` is given: then they
    are the symbols and it is subtracted here. Raises ``ValueError`` where TFC
    refuses (bad table, index or value) and for values whose escape code TFC
    cannot write (more than 2^30 outside their row).
    """
    encoder = Encoder(cdf)
    values = np.asarray(values)
    if index is None:
        if cdf_offset is not None:
            rows = encoder.tables.channel_rows(values.size).reshape(values.shape)
            values = values.astype(np.int64) - np.asarray(cdf_offset, np.int64)[rows]
        encoder.encode_channel(values)
    else:
        index = np.asarray(index)
        if cdf_offset is not None:
            values = values.astype(np.int64) - np.asarray(cdf_offset, np.int64)[index.astype(np.int64)]
        encoder.encode_index(index, values)
    return encoder.finalize()


def decode(data: bytes, cdf, shape=None, index=None, cdf_offset=None) -> tuple[np.ndarray, bool]:
    """``(values, ok)`` from one string: the inverse of :func:`encode` (same ``index`` / ``cdf_offset`` meaning).

    Give ``shape`` (channel) or ``index`` (its shape is the values'). ``ok`` is
    TFC's ``entropy_decode_finalize``, and false too when an escape code runs
    away (where TFC never returns): the values are then meaningless (zeros
    from the runaway on). Never raises for bad bytes, only for a bad table or index.
    """
    if index is None and shape is None:
        raise ValueError("decode needs a shape or an index")
    count = np.asarray(index).size if index is not None else int(np.prod(np.reshape(shape, -1), dtype=np.int64))
    decoder = Decoder(data, cdf, symbols=count)
    if index is None:
        values = decoder.decode_channel(shape)
        if cdf_offset is not None:
            rows = decoder.tables.channel_rows(values.size)
            values = (values.reshape(-1) + np.asarray(cdf_offset, np.int64)[rows]).reshape(values.shape)
    else:
        index = np.asarray(index)
        values = decoder.decode_index(index)
        if cdf_offset is not None:
            values = values + np.asarray(cdf_offset, np.int64)[index.astype(np.int64)]
    ok = decoder.finalize()
    return values.astype(np.int32), ok
