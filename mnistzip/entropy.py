"""Entropy coding on the runtime: a model's latents to symbols and tables, and one range-coded string, and back.

A model's prior at every level, run with NumPy alone, writing and reading
TFC's bytes (``rangecoder``) with the tables exported in its weights file:

* **factorized** (and the seed's priors): dimension ``d`` is coded with row
  ``d``, rounded around its quantisation offset, digit after digit;
* **conditional**: each dimension's location and table come from the ones
  before it (:class:`Prediction`, in float64), so coding goes one
  dimension of every digit at a time (dimension-major);
* **class-coding**: the class with row 0, then each dimension with its
  class's row (``coding.class_rows``), dimension-major too.

The table an element is coded with must be the same at both ends, or the rest
of the stream is lost: the masked network runs in float64, as the
SavedModel's does, so the two differ by ~1e-14 bins (summation order), while
the closest scale to a bin boundary is 1.9e-7 bins away on the test split and
1.3e-9 on the training split (``benchmarks/runtime_parity.py``).
"""

from __future__ import annotations

import numpy as np

from . import rangecoder
from .blas import map_batches
from .coding import SCALE_MIN, class_rows, classes_of, degrees, masks, table_index
from .container import CLASSES
from .layers import leaky
from .tables import Tables

ROWS = 1024  # digits per masked-network call (float64 activations: 2 MB a layer)
NET_WEIGHTS = ("w1", "w2", "w3", "b1", "b2", "b3")


class MaskedNetwork:
    """The conditional prior's masked network (``conditional.MaskedAutoregressive``) in float64, as arrays.

    A hidden unit of degree m sees dimensions 0 .. m-1 only, and output ``d``
    only the hidden units of degree <= d: the masks' zeros, applied here. The
    hidden units are stored sorted by degree, so that the units of degree d
    are one slice of each layer (``first[d]`` to ``first[d + 1]``), and those
    that reach output d the first ``first[d + 1]``.
    """

    def __init__(self, weights: dict, latent_dims: int):
        m1, m2, m3 = masks(latent_dims)
        w = {k: weights[f"conditional.{k}"].astype(np.float64) for k in NET_WEIGHTS}
        _, hidden = degrees(latent_dims)
        order = np.argsort(hidden, kind="stable")
        self.w1 = np.ascontiguousarray((w["w1"] * m1)[:, order])
        self.w2 = np.ascontiguousarray((w["w2"] * m2)[np.ix_(order, order)])
        self.w3 = np.ascontiguousarray((w["w3"] * m3)[order])
        self.b1, self.b2, self.b3 = np.ascontiguousarray(w["b1"][:, order]), w["b2"][order], w["b3"]
        self.latent_dims = latent_dims
        self.first = np.searchsorted(hidden[order], np.arange(latent_dims + 1), side="left")  # degree d starts


class Prediction:
    """The conditional prior over a batch of ``n`` digits, one dimension at a time, as coding goes: dimension
    ``d``'s location and scale (:meth:`location_scale`) from the dimensions set before it (:meth:`set`).

    Each hidden unit is computed once, at the step where its inputs are all
    known (its degree), and kept: the same sums as running the network on
    the dimensions so far at every step, for a seventeenth of the work at 32
    dimensions. ``ROWS`` digits at a time, side by side on the cores BLAS
    leaves (``blas.map_batches``): the activations stay a few MB a call.
    """

    def __init__(self, net: MaskedNetwork, gains: np.ndarray, n: int, q: int):
        self.net, self.gains, self.q = net, gains, q
        units = len(net.b2)
        self.y_unit = np.zeros((n, net.latent_dims))  # the dimensions set so far, divided by the gains
        self.h1, self.h2 = np.empty((n, units)), np.empty((n, units))

    def location_scale(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """(loc, scale) of dimension ``d`` in the coded domain, before the scale picks a table
        (``benchmarks/runtime_parity.py`` measures how far it falls from a bin's edge)."""
        net, q, L = self.net, self.q, self.net.latent_dims
        a, b = net.first[d], net.first[d + 1]
        out = np.empty((len(self.y_unit), 2))

        def rows(i: int) -> None:
            y, h1, h2 = self.y_unit[i : i + ROWS], self.h1[i : i + ROWS], self.h2[i : i + ROWS]
            if b > a:  # the units of degree d: their inputs are now known
                h1[:, a:b] = leaky(y[:, :d] @ net.w1[:d, a:b] + net.b1[q, a:b])
                h2[:, a:b] = leaky(h1[:, :b] @ net.w2[:b, a:b] + net.b2[a:b])
            out[i : i + ROWS] = h2[:, :b] @ net.w3[:b, [d, L + d]] + net.b3[q, [d, L + d]]

        map_batches(rows, range(0, len(out), ROWS))
        gain = self.gains[d]
        return gain * out[:, 0], np.maximum(gain * np.exp(out[:, 1]), SCALE_MIN)

    def set(self, d: int, y_hat: np.ndarray) -> None:
        """Dimension ``d``'s quantised latents (coded domain), for the dimensions after it."""
        self.y_unit[:, d] = y_hat / self.gains[d]


class EntropyModel:
    """A model's prior and tables at each level (``q`` from 0), from its weights file's arrays and its card: latents
    in the coded domain (times the level's gains) ↔ (table row, symbol) of each element ↔ one range-coded string."""

    def __init__(self, weights: dict, card):
        self.latent_dims, self.conditional, self.codes_class = card.latent_dims, card.conditional, card.codes_class
        self.dimension_major = card.dimension_major  # the stream's order (docs/format.md)
        self.gains = weights["gains"].astype(np.float32)
        self._tables = [(np.asarray(weights[f"level{q + 1}.cdf"], np.int32),
                         np.asarray(weights[f"level{q + 1}.cdf_offset"], np.int32)) for q in range(len(card.levels))]
        self._parsed: dict = {}  # per level, on first use: (rangecoder.Tables, tables.Tables)
        if self.conditional:
            self._net = MaskedNetwork(weights, self.latent_dims)
            self._gains64 = self.gains.astype(np.float64)
            self._offsets = np.zeros_like(self.gains)
        else:
            self._offsets = weights["offset"].astype(np.float32)

    @property
    def network(self) -> MaskedNetwork | None:
        """A conditional prior's masked network (float64 arrays), else None."""
        return self._net if self.conditional else None

    def check_shapes(self) -> None:
        """Refuse arrays that do not fit ``latent_dims`` (``ValueError``)."""
        if self.gains.shape[1] != self.latent_dims:
            raise ValueError(f"gains {self.gains.shape} do not fit latent_dims {self.latent_dims}")
        if self._offsets.shape[1:] != self.gains.shape[1:] and self._offsets.shape[1:] != (CLASSES, self.latent_dims):
            raise ValueError(f"quantisation offsets {self._offsets.shape} do not fit latent_dims {self.latent_dims}")

    def tables(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Level ``q``'s range-coding tables (cdf, cdf_offset), as exported."""
        return self._tables[q]

    def _level_tables(self, q: int):
        """Level ``q``'s tables parsed for the range coder and for symbol costs (once, when first needed)."""
        if q not in self._parsed:
            self._parsed[q] = (rangecoder.Tables(self._tables[q][0]), Tables(*self._tables[q]))
        return self._parsed[q]

    def bits(self, rows: np.ndarray, symbols: np.ndarray, q: int) -> np.ndarray:
        """Bits per digit of ``symbols`` coded with table ``rows`` (the ideal code length under the tables)."""
        return self._level_tables(q)[1].bits(rows, symbols)

    # -------------------------------------------------------------- quantisation

    def quantize(self, latents: np.ndarray, q: int) -> np.ndarray:
        """Latents rounded the way level ``q``'s range coder rounds them."""
        return self.conditionals(latents, q)[0] if self.dimension_major else self._round(latents, q)

    def offset(self, q: int) -> np.ndarray:
        """Each dimension's quantisation offset at level ``q`` (0 for a conditional prior: it centres on predictions)."""
        return self._offsets[q]

    def _round(self, latents, q) -> np.ndarray:
        offset = self._offsets[q]
        return np.round(np.asarray(latents, np.float32) - offset) + offset

    def prediction(self, n: int, q: int) -> Prediction:
        """A conditional prior's prediction for ``n`` digits at level ``q``, to run one dimension at a time."""
        return Prediction(self._net, self._gains64[q], n, q)

    def _parameters(self, prediction: Prediction, d: int) -> tuple[np.ndarray, np.ndarray]:
        """(loc, table index) of dimension ``d``, given the dimensions before it."""
        loc, scale = prediction.location_scale(d)
        return loc, table_index(scale)

    def conditionals(self, latents: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(quantised latents float32, table row, symbol) of every element: what the range coder sees.

        Factorized: row ``d`` for dimension ``d``, symbols relative to the
        quantisation offset. Conditional: mean-centred rounding one dimension
        at a time, ``round(z_d - loc_d) + loc_d`` with loc from the dimensions
        before (see ``conditional``), each element's row its scale bin.
        """
        z = np.asarray(latents, np.float32)
        if self.codes_class:
            return self._class_conditionals(z, q)
        if not self.conditional:
            rows = np.broadcast_to(np.arange(self.latent_dims), z.shape)
            return self._round(z, q), rows, np.round(z - self._offsets[q]).astype(np.int64)
        z = z.astype(np.float64)
        y_hat = np.zeros_like(z)
        index = np.empty(z.shape, np.int64)
        symbols = np.empty(z.shape, np.int64)
        prediction = self.prediction(len(z), q)
        for d in range(self.latent_dims):
            loc, index[:, d] = self._parameters(prediction, d)
            symbol = np.round(z[:, d] - loc)
            y_hat[:, d] = symbol + loc
            symbols[:, d] = symbol
            prediction.set(d, y_hat[:, d])
        return y_hat.astype(np.float32), index, symbols

    def _class_conditionals(self, z: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``conditionals`` of a class-coding model: the class with row 0, then each dimension rounded to its
        class's grid and coded with its class's row."""
        classes = classes_of(z)
        offset = self._offsets[q][classes]  # (N, L)
        symbols = np.round(z[:, 1:] - offset)
        coded = np.concatenate([classes[:, None].astype(np.float32), symbols + offset], axis=1)
        rows = np.concatenate([np.zeros((len(z), 1), np.int64), class_rows(classes, self.latent_dims)], axis=1)
        return coded, rows, np.concatenate([classes[:, None], symbols.astype(np.int64)], axis=1)

    def predict(self, y_hat: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Quantised latents → (loc float64, table index) of every element given the ones before it."""
        y = np.asarray(y_hat, np.float32).astype(np.float64)
        loc, index = np.empty(y.shape), np.empty(y.shape, np.int64)
        prediction = self.prediction(len(y), q)
        for d in range(self.latent_dims):
            loc[:, d], index[:, d] = self._parameters(prediction, d)
            prediction.set(d, y[:, d])
        return loc, index

    # -------------------------------------------------------------- range coding

    def encode(self, latents: np.ndarray, q: int) -> bytes:
        """Latents (quantised here) → one range-coded string for all digits."""
        _, rows, symbols = self.conditionals(latents, q)
        return self.encode_symbols(rows, symbols, q)

    def encode_symbols(self, rows: np.ndarray, symbols: np.ndarray, q: int) -> bytes:
        """Symbols (N, L) with their table rows → one string, in the stream's order."""
        cdf, cdf_offset = self._tables[q]
        values = symbols - cdf_offset[rows]
        encoder = rangecoder.Encoder(self._level_tables(q)[0])
        if self.dimension_major:  # dimension 0 of every digit, then dimension 1, ...
            encoder.encode_index(rows.T, values.T)
        else:
            encoder.encode_channel(values)
        return encoder.finalize()

    def decode(self, payload: bytes, count: int, q: int, check: bool = True, progress=None) -> np.ndarray:
        """One string → the (count, L) quantised latents it holds, float32.

        ``check``: raise ``ValueError`` when the stream fails TFC's sanity
        check or an escape code runs away (``rangecoder``); without it (sampling),
        whatever the bytes say. ``progress(fraction)`` after each dimension.
        """
        dims = self.latent_dims
        decoder = rangecoder.Decoder(payload, self._level_tables(q)[0], symbols=count * (dims + self.codes_class))
        cdf_offset = self._tables[q][1]
        if self.codes_class:
            decoded = decoder.decode_index(np.zeros(count, np.int64)) + cdf_offset[0]
            classes = np.clip(decoded, 0, CLASSES - 1)  # outside 0..9: a corrupt stream (or noise, sampling)
            rows = class_rows(classes, dims)
            symbols = decoder.decode_index(rows.T).T + cdf_offset[rows]
            y_hat = np.concatenate([classes[:, None].astype(np.float32),
                                    symbols.astype(np.float32) + self._offsets[q][classes]], axis=1)
            if check and np.any(decoded != classes):
                raise ValueError("a class outside 0 to 9")
        elif not self.conditional:
            values = decoder.decode_channel((count, dims)).astype(np.int64)
            y_hat = (values + cdf_offset[:dims]).astype(np.float32) + self._offsets[q]
        else:
            y = np.zeros((count, dims), np.float64)
            prediction = self.prediction(count, q)
            for d in range(dims):
                loc, index = self._parameters(prediction, d)
                y[:, d] = (decoder.decode_index(index) + cdf_offset[index]).astype(np.float64) + loc
                prediction.set(d, y[:, d])
                if decoder.corrupt and check:
                    break
                if progress is not None:
                    progress((d + 1) / dims)
            y_hat = y.astype(np.float32)
        if check and not decoder.finalize():
            raise ValueError("sanity check failed")
        return y_hat
