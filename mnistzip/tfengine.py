"""The reference engine: a model's SavedModel run by TensorFlow (``MNISTZIP_ENGINE=tf``; needs ``mnistzip[train]``).

The same entry points as ``runtime.Runtime``, NumPy in and out, so a ``Codec``
runs on either. This is the path ``train`` exports and the tests cross-check
the runtime against; everyday commands do not use it.

TFC's range decoder can spin for minutes on some crafted payloads (found by
benchmarks/robustness.py) and cannot be interrupted, so decoding here runs in
a daemon thread under a deadline on progress (:func:`watched`); archives over
``ONE_SHOT_DIGITS`` are decoded a chunk at a time (``chunked``) for bounded
memory. The runtime's own decoder is bounded and needs neither.
"""

from __future__ import annotations

import numpy as np

from . import chunked
from .card import CARD_FILE, UNDIGESTED
from .container import CLASSES
from .errors import BadMzFile, ModelError, require
from .fileio import tree_digest

ONE_SHOT_DIGITS = 16384  # decoded in one call up to this count (a conditional model's takes ~10 KB a digit)
DECODE_SECONDS = 2.0  # range decoding of honest files runs at > 10,000 digits/s; garbage may not end
DECODE_DIGITS_PER_SECOND = 2000

_ABANDONED: list = []  # decoding threads cut off by a deadline: TFC's op cannot be stopped and may spin on


class TFEngine:
    """A loaded SavedModel (``export.ExportedCodec``); ``q`` is the 0-based level."""

    def __init__(self, module, card):
        self.module = module
        self.latent_dims = card.latent_dims
        self.conditional, self.codes_class, self.dimension_major = card.conditional, card.codes_class, card.dimension_major
        self.card = card

    @classmethod
    def load(cls, card, verify: bool = True) -> "TFEngine":
        if verify:
            verify_files(card)
        for module in ("tensorflow", "tensorflow_compression"):
            require(module, "train", "the TensorFlow engine")
        import tensorflow as tf
        import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

        try:
            module = tf.saved_model.load(str(card.path))
        except Exception as e:  # TF raises OSError, ValueError, DataLossError, ...
            raise ModelError(f"{card.path}: cannot load the SavedModel ({type(e).__name__})") from None
        return cls(module, card)

    def tables(self, q: int):
        return tuple(t.numpy() for t in self.module.tables(np.int32(q)))

    def analyse(self, images, q: int) -> np.ndarray:
        return self.module.analyse(images, np.int32(q)).numpy()

    def analyse_exact(self, images, q: int) -> np.ndarray:
        """The reference has no exact mode: its sums are TensorFlow's float32, as trained."""
        return self.analyse(images, q)

    def quantize(self, latents, q: int) -> np.ndarray:
        return self.module.quantize(np.asarray(latents, np.float32), np.int32(q)).numpy()

    def offset(self, q: int) -> np.ndarray:
        """Each dimension's quantisation offset (factorized priors): quantize(0)."""
        return self.quantize(np.zeros((1, self.latent_dims), np.float32), q)[0]

    def class_offsets(self, q: int) -> np.ndarray:
        """A class-coding model's quantisation offsets (classes, L) at level ``q``: quantize(class, 0)."""
        zeros = np.zeros((CLASSES, 1 + self.latent_dims), np.float32)
        zeros[:, 0] = np.arange(CLASSES)
        return self.quantize(zeros, q)[:, 1:]

    def conditionals(self, latents, q: int):
        latents = np.asarray(latents, np.float32)
        if self.dimension_major:
            coded, index, symbols = (t.numpy() for t in self.module.conditionals(latents, np.int32(q)))
            return coded, index.astype(np.int64), symbols.astype(np.int64)
        rows = np.broadcast_to(np.arange(latents.shape[1]), latents.shape)
        symbols = np.round(latents - self.offset(q)).astype(np.int64)  # float32, as TFC's compress rounds
        return self.quantize(latents, q), rows, symbols

    def predict(self, y_hat, q: int):
        loc, index = self.module.predict(np.asarray(y_hat, np.float32), np.int32(q))
        return loc.numpy(), index.numpy().astype(np.int64)

    def compress(self, images, q: int) -> tuple[bytes, np.ndarray]:
        """Digits → (one string, entropy bits per digit under the trained prior), as the SavedModel codes them."""
        string, bits = self.module.compress(images, np.int32(q))
        return string.numpy(), bits.numpy()

    def encode(self, latents, q: int) -> bytes:
        return self.module.compress_latents(np.asarray(latents, np.float32), np.int32(q)).numpy()

    def encode_coded(self, coded, rows, symbols, q: int) -> bytes:
        """The SavedModel quantises the coded latents again, which gives the same symbols."""
        return self.encode(coded, q)

    def synthesize(self, latents, q: int) -> np.ndarray:
        return self.module.synthesize(np.asarray(latents, np.float32), np.int32(q)).numpy()

    def sample(self, noise: bytes, n: int, q: int) -> np.ndarray:
        import tensorflow as tf

        return self.module.sample(tf.constant(noise), tf.constant(n, tf.int32), np.int32(q)).numpy()

    def decode(self, payload: bytes, count: int, q: int, progress=None) -> np.ndarray:
        """One string → (count, L) quantised latents, under a deadline; ``BadMzFile`` if it does not decode."""
        import tensorflow as tf

        if count <= ONE_SHOT_DIGITS:
            one_shot = self.module.decompress_latents
            self._warm_up("one call", lambda empty: one_shot(tf.constant(empty), tf.constant(1, tf.int32), np.int32(q)))
            limit = DECODE_SECONDS + count / DECODE_DIGITS_PER_SECOND
            string, n = tf.constant(payload), tf.constant(count, tf.int32)
            work = lambda report, stop: one_shot(string, n, np.int32(q)).numpy()  # noqa: E731
        else:
            self._warm_up(("chunked", q), lambda empty: chunked.decode_latents(self, q, empty, chunked.PACKET))
            limit = DECODE_SECONDS + chunked.CHUNK / DECODE_DIGITS_PER_SECOND  # per chunk, not per file
            work = lambda report, stop: chunked.decode_latents(self, q, payload, count, report, stop)  # noqa: E731
        held = any(t.is_alive() for t in _ABANDONED)
        try:
            return watched(work, limit, progress)
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

        warm = getattr(self.module, "_mnistzip_warm", None)
        if warm is None:
            warm = set()
            self.module._mnistzip_warm = warm
        if key in warm:
            return
        try:
            decode(b"")
        except (tf.errors.OpError, ValueError):
            pass  # the sanity check fails on an empty stream; the graph is built all the same
        warm.add(key)


def watched(work, seconds: float, progress=None):
    """Run ``work(report, should_stop)`` and return its result, or raise TimeoutError once ``seconds`` pass
    without it finishing or calling ``report(fraction)`` (which also goes on to ``progress``).

    The work runs in a daemon thread that is abandoned when the deadline
    passes, told to stop at its next ``should_stop()`` check if it ever gets there.
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


def verify_files(card) -> None:
    """Refuse a model whose files differ from those it was exported with (before loading them)."""
    if card.files_sha256 is None or tree_digest(card.path, exclude=UNDIGESTED) != card.files_sha256:
        raise ModelError(f"{card.path}: model files do not match {CARD_FILE} (the model {card.name} was altered)")
