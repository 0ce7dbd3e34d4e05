"""A loaded model as a codec: NumPy digits in, .mz contents out, and back.

    >>> from mnistzip import zoo
    >>> codec = zoo.load()                   # the shipped default; zoo.load(rung=3), Codec.load(DIR, level=2)
    >>> mz = codec.compress(digits)          # digits: uint8 (N, 28, 28)
    >>> codec.decompress(mz)                 # the reconstructions, uint8 (N, 28, 28)

Decoding imports no training code: the SavedModel's functions, the card
(``card``) and the tables (``tables``) are all it needs.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from .card import CARD_FILE, UNDIGESTED, Card, Level
from .container import SIDE, MzFile, check_count
from .errors import BadMzFile, InputError, ModelError, UnknownModel
from .tables import Tables, digest

SAMPLE_BYTES_PER_DIGIT = 16  # random bytes fed to the decoder per generated digit
SYNTHESIS_BATCH = 4096  # digits per decoder call: bounds memory whatever the count
ONE_SHOT_DIGITS = 16384  # decoded in one call up to this count (a conditional model's takes ~10 KB a digit)
DECODE_SECONDS = 2.0  # range decoding of honest files runs at > 10,000 digits/s; garbage may not end
DECODE_DIGITS_PER_SECOND = 2000


class Codec:
    """Compress and decompress digits with one exported model at one of its levels (see ``card``)."""

    def __init__(self, module, card: Card, level: int | None = None, name: str | None = None):
        self._module = module
        self.card = card
        self.level: Level = card.level(level)
        self._q = np.int32(self.level.index)  # what the model's functions take
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
        return Codec(self._module, self.card, level, name)

    def with_id(self, model_id: str) -> "Codec | None":
        """The level of this model that writes ``model_id`` into its files, if any."""
        level = self.card.by_id(model_id)
        return None if level is None else self.at_level(level.number)

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True, level: int | None = None) -> "Codec":
        """Load a model directory written by ``mnistzip train``; check its files and tables against its card."""
        return cls.open(Card.read(path), verify, level)

    @classmethod
    def open(cls, card: Card, verify: bool = True, level: int | None = None) -> "Codec":
        """Load the model a card (already read) describes; see :meth:`load`."""
        if verify:
            _verify_files(card)
        import tensorflow as tf
        import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

        try:
            module = tf.saved_model.load(str(card.path))
        except Exception as e:  # TF raises OSError, ValueError, DataLossError, ...
            raise ModelError(f"{card.path}: cannot load the SavedModel ({type(e).__name__})") from None
        codec = cls(module, card, level)
        if verify:
            codec.verify_tables()
        return codec

    def verify_tables(self) -> None:
        """Refuse a model whose range-coding tables (of any level) differ from those it was exported with."""
        for level in self.card.levels:
            cdf, cdf_offset = self._module.tables(np.int32(level.index))
            if digest(cdf.numpy(), cdf_offset.numpy()) != level.tables_sha256:
                raise ModelError(f"{self.path}: range-coding tables do not match {CARD_FILE} (the model was altered)")

    # ------------------------------------------------------------------ coding

    def compress(self, images: np.ndarray, refine: float | None = None, progress=None) -> MzFile:
        """Digits → the contents of one .mz file (one range-coded stream for all).

        ``refine=λ`` searches each digit's quantised latents for a lower
        rate + λ·MSE before coding (``refine.refine``, which reports to
        ``progress``); the decoder is unchanged.
        """
        if refine is None:
            payload, _ = self.encode(images)
        else:
            from .refine import refine as search

            payload = self.encode_latents(search(self, images, refine, progress=progress))
        return MzFile(model_id=self.id, count=len(images), payload=payload)

    @functools.cached_property
    def tables(self) -> Tables:
        """This level's range-coding tables, as exported."""
        return Tables(*(t.numpy() for t in self._module.tables(self._q)))

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
        """Digits → (one range-coded string, entropy estimate in bits per digit)."""
        string, bits = self._module.compress(check_digits(images), self._q)
        return string.numpy(), bits.numpy()

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

        Up to ``ONE_SHOT_DIGITS`` digits, the model's own decoder runs in one
        call; a larger archive is decoded a chunk of digits at a time
        (``chunked``: the same latents, bounded memory, ``progress`` reported).
        Either runs under a deadline on progress: TFC's decoder can spin on a
        crafted stream, and the stream is then reported as corrupt.
        """
        import tensorflow as tf

        check_count(count, BadMzFile)
        need = self.min_payload_bytes(count)
        if len(payload) < need:
            raise BadMzFile(f"payload too short: {count} digits need at least {need} bytes, found {len(payload)}")
        if count <= ONE_SHOT_DIGITS:
            one_shot = self._module.decompress_latents
            self._warm_up("one call", lambda empty: one_shot(tf.constant(empty), tf.constant(1, tf.int32), self._q))
            limit = DECODE_SECONDS + count / DECODE_DIGITS_PER_SECOND
            string, n = tf.constant(payload), tf.constant(count, tf.int32)
            work = lambda report, stop: one_shot(string, n, self._q).numpy()  # noqa: E731
        else:
            from . import chunked

            self._warm_up(("chunked", self.level.number), lambda empty: chunked.decode_latents(self, empty, chunked.PACKET))
            limit = DECODE_SECONDS + chunked.CHUNK / DECODE_DIGITS_PER_SECOND  # per chunk, not per file
            work = lambda report, stop: chunked.decode_latents(self, payload, count, report, stop)  # noqa: E731
        held = any(t.is_alive() for t in _ABANDONED)
        try:
            return _watched(work, limit, progress)
        except (tf.errors.OpError, ValueError):
            raise BadMzFile("payload does not decode: the range-coded stream is corrupt") from None
        except TimeoutError:
            if held:  # TensorFlow's threads may be spinning on earlier streams: this one cannot be judged
                raise BadMzFile(
                    f"payload does not decode in {limit:.1f} s, while earlier corrupt streams still hold the decoder "
                    "(TensorFlow cannot stop them): decode it in a new process"
                ) from None
            raise BadMzFile(f"payload does not decode in {limit:.1f} s: the range-coded stream is corrupt") from None

    def _warm_up(self, key, decode) -> None:
        """Run a decoder once on an empty stream before any deadline starts; ``key`` names it on the model.

        A model's first call builds its graph (0.5 to 2 s on a busy machine, more
        for the conditional model's decoder), which must not count against the
        corrupt-stream deadline. An empty stream reads as zeros: the first
        symbol of every table, never the escape code, so it cannot spin.
        """
        import tensorflow as tf

        warm = getattr(self._module, "_mnistzip_warm", None)
        if warm is None:
            warm = set()
            self._module._mnistzip_warm = warm
        if key in warm:
            return
        try:
            decode(b"")
        except (tf.errors.OpError, ValueError):
            pass  # the sanity check fails on an empty stream; the graph is built all the same
        warm.add(key)

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
        """
        per_table = self.tables.cheapest
        if not self.conditional:
            return float(per_table.sum())
        _, index = self._module.predict(np.zeros((1, self.latent_dims), np.float32), self._q)
        first = int(index.numpy()[0, 0])
        nearby = per_table[max(0, first - 1) : first + 2]
        return float(nearby.min() + per_table.min() * (self.latent_dims - 1))

    def encode_latents(self, latents: np.ndarray) -> bytes:
        """Quantised latents (N, latent_dims) → one range-coded string."""
        return self._module.compress_latents(np.asarray(latents, np.float32), self._q).numpy()

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
        latents = np.asarray(latents, np.float32)
        if self.conditional:
            coded, index, symbols = (t.numpy() for t in self._module.conditionals(latents, self._q))
            return coded, index.astype(np.int64), symbols.astype(np.int64)
        rows = np.broadcast_to(np.arange(latents.shape[1]), latents.shape)
        return latents, rows, self.symbols(latents)

    @property
    def conditional(self) -> bool:
        """Whether each latent dimension is coded given the ones before it (decoded one dimension at a time)."""
        return self.card.prior == "conditional"

    @property
    def latent_dims(self) -> int:
        return self.card.latent_dims

    def symbols(self, latents: np.ndarray) -> np.ndarray:
        """The integer symbols the range coder sees for quantised latents (the quantisation offset removed)."""
        return np.round(np.asarray(latents, np.float64) - self._offset).astype(np.int64)

    @functools.cached_property
    def _offset(self) -> np.ndarray:
        """Each dimension's quantisation offset: 0 for symmetric priors, a fraction for a learned deep prior."""
        return self.quantize(np.zeros((1, self.latent_dims), np.float32))[0].astype(np.float64)

    def encode_each(self, images: np.ndarray, latents: np.ndarray | None = None) -> list[bytes]:
        """One range-coded string per digit: the payload of a one-digit file for each."""
        if latents is None:
            return list(self._module.compress_each(check_digits(images), self._q).numpy())
        return [self.encode_latents(y[None]) for y in latents]

    def latents(self, images: np.ndarray) -> np.ndarray:
        """The encoder's unquantised latents (N, latent_dims), in the coded domain (times the level's gain)."""
        return self._module.analyse(check_digits(images), self._q).numpy()

    def quantize(self, latents: np.ndarray) -> np.ndarray:
        """Latents rounded the way the entropy coder rounds them."""
        return self._module.quantize(np.asarray(latents, np.float32), self._q).numpy()

    def synthesize(self, latents) -> np.ndarray:
        """Quantised latents → uint8 digits (the decoder alone)."""
        import tensorflow as tf

        return self._module.synthesize(tf.cast(latents, tf.float32), self._q).numpy()

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Decode random bytes into ``n`` new digits (no sanity check), as the seed reports do."""
        import tensorflow as tf

        check_count(n, InputError, "number of samples")
        noise = np.random.default_rng(seed).bytes(SAMPLE_BYTES_PER_DIGIT * n)
        return self._module.sample(tf.constant(noise), tf.constant(n, tf.int32), self._q).numpy()

    def sample_prior(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` digits decoded from latents drawn, dimension by dimension, from the quantised prior."""
        check_count(n, InputError, "number of samples")
        rng = np.random.default_rng(seed)
        pmfs, first = self.tables.pmfs, self.tables.cdf_offset
        if self.conditional:
            return self.synthesize(self._sample_conditional(n, rng, pmfs, first))
        latents = np.stack([rng.choice(len(p), size=n, p=p) + f for p, f in zip(pmfs, first)], axis=1)
        return self.synthesize((latents + self._offset).astype(np.float32))

    def _sample_conditional(self, n: int, rng, pmfs, first) -> np.ndarray:
        """Latents drawn one dimension at a time, each from its table given the dimensions drawn before."""
        latents = np.zeros((n, self.latent_dims), np.float64)
        for d in range(self.latent_dims):
            loc, index = (t.numpy()[:, d] for t in self._module.predict(latents.astype(np.float32), self._q))
            draws = [rng.choice(len(pmfs[i]), p=pmfs[i]) + first[i] for i in index]
            latents[:, d] = np.asarray(draws) + loc
        return latents.astype(np.float32)


_ABANDONED: list = []  # decoding threads cut off by a deadline: TFC's op cannot be stopped and may spin on


def _watched(work, seconds: float, progress=None):
    """Run ``work(report, should_stop)`` and return its result, or raise TimeoutError once ``seconds`` pass
    without it finishing or calling ``report(fraction)`` (which also goes on to ``progress``).

    TFC's range decoder can spin for minutes on some crafted payloads (found by
    benchmarks/robustness.py); it cannot be interrupted, so it runs in a daemon
    thread that is abandoned when the deadline passes, told to stop at its next
    ``should_stop()`` check if it ever gets there.
    """
    import threading
    import time

    outcome: dict = {}
    last = [time.monotonic()]
    cancel = threading.Event()

    def report(fraction: float) -> None:
        last[0] = time.monotonic()
        if progress is not None:
            progress(fraction)

    def target():
        try:
            outcome["value"] = work(report, cancel.is_set)
        except BaseException as e:  # handed to the caller below
            outcome["error"] = e

    worker = threading.Thread(target=target, daemon=True, name="mnistzip-decode")
    worker.start()
    while True:
        worker.join(max(0.0, last[0] + seconds - time.monotonic()))
        if not worker.is_alive():
            break
        if time.monotonic() - last[0] >= seconds:
            cancel.set()
            _ABANDONED[:] = [t for t in _ABANDONED if t.is_alive()] + [worker]
            raise TimeoutError(f"no progress in {seconds:.1f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _verify_files(card: Card) -> None:
    """Refuse a model whose files differ from those it was exported with (before loading them)."""
    from .fileio import tree_digest

    if card.files_sha256 is None or tree_digest(card.path, exclude=UNDIGESTED) != card.files_sha256:
        raise ModelError(f"{card.path}: model files do not match {CARD_FILE} (the model {card.name} was altered)")


def check_digits(images) -> np.ndarray:
    """Validate a digit batch: uint8, shape (N, 28, 28), N >= 1."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or len(images) == 0:
        raise InputError(f"expected digits of shape (N, {SIDE}, {SIDE}), found {images.shape}")
    if images.dtype != np.uint8:
        raise InputError(f"expected uint8 digits, found {images.dtype}")
    return images
