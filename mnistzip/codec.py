"""A loaded model as a codec: NumPy digits in, .mz contents out, and back.

    >>> from mnistzip import zoo
    >>> codec = zoo.load()                   # the shipped default; zoo.load(rung=3), Codec.load(DIR, level=2)
    >>> mz = codec.compress(digits)          # digits: uint8 (N, 28, 28)
    >>> codec.decompress(mz)                 # the reconstructions, uint8 (N, 28, 28)

A codec runs on an *engine*: the NumPy runtime (``runtime``, the default:
no TensorFlow) or the SavedModel itself (``tfengine``, the reference, with
``MNISTZIP_ENGINE=tf`` or ``engine="tf"``). Both write and read the same
files. Decoding imports no training code.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from . import classify
from .blas import map_batches
from .card import CARD_FILE, Card, Level
from .coding import class_rows
from .container import SIDE, MzFile, check_count
from .digits import check_digits
from .errors import BadMzFile, InputError, ModelError, UnknownModel, UsageError
from .runtime import Runtime
from .tables import Tables, digest
from .tfengine import TFEngine

SAMPLE_BYTES_PER_DIGIT = 16  # random bytes fed to the decoder per generated digit
SYNTHESIS_BATCH = 4096  # digits per decoder call: bounds memory whatever the count
CODING_BATCH = 1024  # digits analysed and quantised per call: the calls run side by side (blas.map_batches)
ENGINE_ENV = "MNISTZIP_ENGINE"  # "numpy" (the default) or "tf"
ENGINES = ("numpy", "tf")
# How close to a rounding edge (in quantisation steps) a float32 latent is analysed again exactly: 10 times the
# largest batch-to-batch difference measured at any rung (2.3e-5 at rung 18, whose latents reach 44)
EDGE = 2.0 ** -12


class Codec:
    """Compress and decompress digits with one exported model at one of its levels (see ``card``)."""

    def __init__(self, engine, card: Card, level: int | None = None, name: str | None = None):
        self.engine = engine
        self.card = card
        self.level: Level = card.level(level)
        self._q = self.level.index  # what the engine's functions take
        self._name = name

    @property
    def path(self) -> Path:
        return self.card.path

    @property
    def id(self) -> str:
        """The 4-hex-digit model id written into every .mz file."""
        return self.level.id

    @property
    def name(self) -> str:
        """The name to show: a rung's name, or the model's name with the level if it has several."""
        if self._name:
            return self._name
        return f"{self.card.name} level {self.level.number}" if len(self.card.levels) > 1 else self.card.name

    def at_level(self, level: int, name: str | None = None) -> "Codec":
        """The same loaded model at another level (nothing is reloaded)."""
        return Codec(self.engine, self.card, level, name)

    def with_id(self, model_id: str) -> "Codec | None":
        """The level of this model that writes ``model_id`` into its files, if any."""
        level = self.card.by_id(model_id)
        return None if level is None else self.at_level(level.number)

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True, level: int | None = None,
             engine: str | None = None) -> "Codec":
        """Load a model directory written by ``mnistzip train``; check its weights and tables against its card."""
        return cls.open(Card.read(path), verify, level, engine)

    @classmethod
    def open(cls, card: Card, verify: bool = True, level: int | None = None, engine: str | None = None) -> "Codec":
        """Load the model a card (already read) describes on an engine (see :func:`engine_name`)."""
        loaded = (Runtime if engine_name(engine) == "numpy" else TFEngine).load(card, verify)
        codec = cls(loaded, card, level)
        if verify:
            codec.verify_tables()
        return codec

    def verify_tables(self) -> None:
        """Refuse a model whose range-coding tables (of any level) differ from those it was exported with."""
        for level in self.card.levels:
            if digest(*self.engine.tables(level.index)) != level.tables_sha256:
                raise ModelError(f"{self.path}: range-coding tables do not match {CARD_FILE} (the model was altered)")

    # ------------------------------------------------------------------ coding

    def compress(self, images: np.ndarray) -> MzFile:
        """Digits → the contents of one .mz file (one range-coded stream for all)."""
        payload, _ = self.encode(images)
        return MzFile(model_id=self.id, count=len(images), payload=payload)

    def compress_latents(self, latents: np.ndarray) -> MzFile:
        """Latents (quantised as the coder does; from ``refine.refine``, say) → the contents of one .mz file."""
        return MzFile(model_id=self.id, count=len(latents), payload=self.encode_latents(latents))

    @functools.cached_property
    def tables(self) -> Tables:
        """This level's range-coding tables, as exported."""
        return Tables(*self.engine.tables(self._q))

    def decompress(self, mz: MzFile) -> np.ndarray:
        """The contents of an .mz file → uint8 digits (N, 28, 28); the file must name this model."""
        self._check_id(mz)
        return self.decode(mz.payload, mz.count)

    def _check_id(self, mz: MzFile) -> None:
        """Refuse a file that this model (at this level) did not make."""
        if mz.model_id != self.id:
            raise UnknownModel(
                f"the file was made with model {mz.model_id}, not with {self.name} ({self.id}); "
                f"pass --model with the model that made it"
            )

    def encode(self, images: np.ndarray) -> tuple[bytes, np.ndarray]:
        """Digits → (one range-coded string, entropy estimate in bits per digit).

        The estimate is the ideal code length under the range-coding tables,
        except on the TensorFlow engine, the reference, which codes digits as
        the SavedModel does and estimates under the trained prior (the two
        differ in the third decimal; a class-coding model's is always the
        tables').
        """
        if isinstance(self.engine, TFEngine) and not self.codes_class:
            return self.engine.compress(check_digits(images), self._q)
        _, coded, rows, symbols = self.coding_of(images)
        return self.engine.encode_coded(coded, rows, symbols, self._q), self.tables.bits(rows, symbols)

    def encode_coded(self, coded: np.ndarray, rows: np.ndarray, symbols: np.ndarray) -> bytes:
        """Latents as coded, with their table rows and symbols (:meth:`coding_of`'s, or a search's) → one
        range-coded string."""
        return self.engine.encode_coded(coded, rows, symbols, self._q)

    def coding_of(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Digits → (latents, latents as coded, table row, symbol): see :meth:`coding`. A digit gets the same
        symbols alone and in any batch.

        The analysis runs in float32, whose sums come out a few 1e-6 apart
        depending on where a digit sits in its batch (OpenBLAS). That moves a
        symbol only when a latent falls that close to a rounding edge, so a
        digit with any latent within ``EDGE`` of one is analysed again with
        :meth:`engine.Engine.analyse_exact`, whose sums do not depend on the
        batch, and coded from that: about one digit in a hundred at the top
        rungs. Every other digit's float32 latents round as the exact ones do.
        Those few digits' table rows are chosen again apart from their batch:
        the prior's float64 scales can then differ from the decoder's by
        ~1e-14 bins, which could choose another table only within that of a
        bin's edge (the nearest measured on MNIST is 1.3e-9 away, ``entropy``).
        """
        images = check_digits(images)
        batches = [images[i : i + CODING_BATCH] for i in range(0, len(images), CODING_BATCH)]
        return tuple(np.concatenate(parts) for parts in zip(*map_batches(self._coding_of, batches)))

    def _coding_of(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        latents = self.latents(images)
        coded, rows, symbols = (np.array(a) for a in self.engine.conditionals(latents, self._q))
        near = np.flatnonzero(np.abs(latents.astype(np.float64) - coded).max(axis=1, initial=0) > 0.5 - EDGE)
        if near.size:
            latents[near, int(self.codes_class):] = self.engine.analyse_exact(images[near], self._q)
            for whole, part in zip((coded, rows, symbols), self.engine.conditionals(latents[near], self._q)):
                whole[near] = part
        return latents, coded, rows, symbols

    def decompress_batches(self, mz: MzFile, progress=None):
        """Like :meth:`decompress`, as batches of at most ``SYNTHESIS_BATCH`` digits: memory stays bounded
        whatever the count. The whole stream is decoded (and checked) before the first batch comes;
        ``progress``, if given, is called with the fraction done (0 to 1)."""
        self._check_id(mz)
        return self.decode_batches(mz.payload, mz.count, progress)

    def decode(self, payload: bytes, count: int) -> np.ndarray:
        """One range-coded string holding ``count`` digits → uint8 digits (filled batch by batch: one copy)."""
        batches = self.decode_batches(payload, count)  # the header is judged and the stream decoded first
        digits = np.empty((count, SIDE, SIDE), np.uint8)
        done = 0
        for batch in batches:
            digits[done : done + len(batch)] = batch
            done += len(batch)
        return digits

    def decode_batches(self, payload: bytes, count: int, progress=None):
        """One range-coded string holding ``count`` digits → uint8 digits, a batch at a time (see
        :meth:`decompress_batches`). The stream is decoded here, before this returns, so that a corrupt one
        is refused before any output is opened; the batches are synthesized as they are taken. Decoding
        the latents counts as the first half of the progress."""
        latents = self.decode_latents(payload, count, progress=None if progress is None else lambda f: progress(f / 2))
        return self._synthesized(latents, progress)

    def _synthesized(self, latents: np.ndarray, progress=None):
        """Quantised latents → uint8 digits, ``SYNTHESIS_BATCH`` at a time (the second half of the progress)."""
        count = len(latents)
        for i in range(0, count, SYNTHESIS_BATCH):
            yield self.synthesize(latents[i : i + SYNTHESIS_BATCH])
            if progress is not None:
                progress(0.5 + 0.5 * min(count, i + SYNTHESIS_BATCH) / count)

    def decode_latents(self, payload: bytes, count: int, progress=None) -> np.ndarray:
        """One range-coded string holding ``count`` digits → their quantised latents (N, latent_dims).

        The count is judged against the payload's length first, so a header
        claiming more digits than its bytes can hold is refused before any
        work. A stream that fails the range decoder's sanity check (or whose
        escape code runs away) is a :class:`BadMzFile`.
        """
        check_count(count, BadMzFile)
        need = self.min_payload_bytes(count)
        if len(payload) < need:
            raise BadMzFile(f"payload too short: {count} digits need at least {need} bytes, found {len(payload)}")
        try:
            return self.engine.decode(payload, count, self._q, progress=progress)
        except ValueError:
            raise BadMzFile("payload does not decode: the range-coded stream is corrupt") from None

    def min_payload_bytes(self, count: int) -> int:
        """A lower bound on the payload of ``count`` digits, so that a header claiming more digits than
        its payload can hold is refused before anything is decoded or allocated (see :attr:`min_digit_bits`)."""
        return max(0, int(np.floor(count * self.min_digit_bits / 8)) - 2)

    @functools.cached_property
    def min_digit_bits(self) -> float:
        """The fewest bits any digit can cost: each symbol costs at least -log2 of its table's most probable value.

        Factorized: dimension ``d`` has its own table, so the bound is the sum
        of their minima. Conditional: a dimension's table depends on the
        dimensions before it, so any table may code it, except the first
        dimension's, whose prediction sees no input: its table is known (taken
        with its neighbours, against a last-bit difference in the scale).
        Class-coding: the class's table, then the cheapest class's tables.
        """
        per_table = self.tables.cheapest
        if self.codes_class:  # the class's row, then the cheapest class's rows
            by_class = per_table[1:].reshape(-1, self.latent_dims).sum(axis=1)
            return float(per_table[0] + by_class.min())
        if not self.conditional:
            return float(per_table.sum())
        _, index = self.engine.predict(np.zeros((1, self.latent_dims), np.float32), self._q)
        first = int(index[0, 0])
        nearby = per_table[max(0, first - 1) : first + 2]
        return float(nearby.min() + per_table.min() * (self.latent_dims - 1))

    def encode_latents(self, latents: np.ndarray) -> bytes:
        """Latents (N, coded_dims; quantised here, as the coder rounds them) → one range-coded string."""
        return self.engine.encode(np.asarray(latents, np.float32), self._q)

    def latent_bits(self, latents: np.ndarray) -> np.ndarray:
        """Bits per digit that the range coder spends on quantised latents (see ``Tables.bits``)."""
        return self.tables.bits(*self.coding(latents)[1:])

    def coding(self, latents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(latents as coded, table row, symbol relative to that table's zero) of every element.

        A factorized prior codes dimension ``d`` with table ``d``, and latents on
        its grid as they are. A conditional one picks each element's table and
        integer shift from the dimensions before it, re-quantising each
        dimension around its prediction: latents off the grid come back on it.
        """
        return self.engine.conditionals(np.asarray(latents, np.float32), self._q)

    @property
    def conditional(self) -> bool:
        return self.card.conditional

    @property
    def latent_dims(self) -> int:
        return self.card.latent_dims

    @property
    def dimension_major(self) -> bool:
        return self.card.dimension_major

    @property
    def codes_class(self) -> bool:
        return self.card.codes_class

    @property
    def coded_dims(self) -> int:
        return self.card.coded_dims

    @functools.cached_property
    def class_reader(self) -> classify.Classifier:
        """The classifier that gives a class-coding model's encoder each digit's class (``classify``'s guard)."""
        return classify.load(classify.GUARD)

    def encode_each(self, images: np.ndarray, latents: np.ndarray | None = None) -> list[bytes]:
        """One range-coded string per digit: the payload of a one-digit file for each."""
        coded, rows, symbols = self.coding_of(images)[1:] if latents is None else self.coding(latents)
        return [self.engine.encode_coded(*(a[i : i + 1] for a in (coded, rows, symbols)), self._q)
                for i in range(len(coded))]

    def latents(self, images: np.ndarray) -> np.ndarray:
        """The encoder's unquantised latents (N, coded_dims), in the coded domain (times the level's gain);
        for a class-coding model, each digit's class (as ``class_reader`` reads it) in front."""
        images = check_digits(images)
        latents = self.engine.analyse(images, self._q)
        if not self.codes_class:
            return latents
        classes = self.class_reader.steady_classes(images).astype(np.float32)
        return np.concatenate([classes[:, None], latents], axis=1)

    def quantize(self, latents: np.ndarray) -> np.ndarray:
        """Latents rounded the way the entropy coder rounds them."""
        return self.engine.quantize(np.asarray(latents, np.float32), self._q)

    def synthesize(self, latents) -> np.ndarray:
        """Quantised latents → uint8 digits (the decoder alone)."""
        return self.engine.synthesize(np.asarray(latents, np.float32), self._q)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Decode random bytes into ``n`` new digits (no sanity check), as the seed reports do."""
        check_count(n, InputError, "number of samples")
        noise = np.random.default_rng(seed).bytes(SAMPLE_BYTES_PER_DIGIT * n)
        return self.engine.sample(noise, n, self._q)

    def sample_prior(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` digits decoded from latents drawn, dimension by dimension, from the quantised prior."""
        check_count(n, InputError, "number of samples")
        rng = np.random.default_rng(seed)
        pmfs, first = self.tables.pmfs, self.tables.cdf_offset
        if self.conditional:
            return self.synthesize(self._sample_conditional(n, rng, pmfs, first))
        if self.codes_class:  # a class from its table, then each dimension from that class's
            classes = rng.choice(len(pmfs[0]), size=n, p=pmfs[0]) + first[0]
            rows = class_rows(classes, self.latent_dims)
            symbols = np.array([[rng.choice(len(pmfs[r]), p=pmfs[r]) + first[r] for r in row] for row in rows])
            latents = np.concatenate([classes[:, None], symbols], axis=1).astype(np.float32)
            return self.synthesize(latents + self._class_offsets(classes))
        latents = np.stack([rng.choice(len(p), size=n, p=p) + f for p, f in zip(pmfs, first)], axis=1)
        return self.synthesize(latents.astype(np.float32) + self.engine.offset(self._q))

    def _class_offsets(self, classes: np.ndarray) -> np.ndarray:
        """(N, 1 + L): what a class-coding model adds to integer symbols (nothing to the class): quantize(class, 0)."""
        zeros = np.zeros((len(classes), self.coded_dims), np.float32)
        zeros[:, 0] = classes
        offsets = self.quantize(zeros)
        offsets[:, 0] = 0
        return offsets

    def _sample_conditional(self, n: int, rng, pmfs, first) -> np.ndarray:
        """Latents drawn one dimension at a time, each from its table given the dimensions drawn before."""
        latents = np.zeros((n, self.latent_dims), np.float64)
        for d in range(self.latent_dims):
            loc, index = (t[:, d] for t in self.engine.predict(latents.astype(np.float32), self._q))
            draws = [rng.choice(len(pmfs[i]), p=pmfs[i]) + first[i] for i in index]
            latents[:, d] = np.asarray(draws) + loc
        return latents.astype(np.float32)


def engine_name(engine: str | None = None) -> str:
    """The engine to run a model on: ``engine`` if given, else ``$MNISTZIP_ENGINE``, else the NumPy runtime."""
    name = engine or os.environ.get(ENGINE_ENV) or "numpy"
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r} (from {ENGINE_ENV if not engine else 'engine='}): "
                         f"expected {' or '.join(ENGINES)}")
    return name
