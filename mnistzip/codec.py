"""A loaded model as a codec: NumPy digits in, .mz contents out, and back.

    >>> from mnistzip.codec import Codec
    >>> codec = Codec.load("models/seed-2000")
    >>> mz = codec.compress(digits)          # digits: uint8 (N, 28, 28)
    >>> codec.decompress(mz)                 # the reconstructions, uint8 (N, 28, 28)
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from .container import MAX_DIGITS, MzFile
from .errors import BadMzFile, InputError, ModelError, UnknownModel

SIDE = 28
SAMPLE_BYTES_PER_DIGIT = 16  # random bytes fed to the decoder per generated digit
SYNTHESIS_BATCH = 4096  # digits per decoder call: bounds memory whatever the count
ONE_SHOT_DIGITS = 16384  # decoded in one call up to this count (a conditional model's takes ~10 KB a digit)
DECODE_SECONDS = 2.0  # range decoding of honest files runs at > 10,000 digits/s; garbage may not end
DECODE_DIGITS_PER_SECOND = 2000
OVERFLOW_WIDTH = 4  # bits per chunk of TFC's escape code for values outside a table (its default)
META_FILE = "model.json"


class Codec:
    """Compress and decompress digits with one exported model at one quality level.

    A variable-rate model holds several quality levels (``model.json``'s
    "qualities", 1 = smallest files), each with its own .mz id; a model exported
    before quality levels existed has one level and no quality argument.
    """

    def __init__(self, module, meta: dict, path: Path, quality: int | None = None, name: str | None = None):
        self._module = module
        self.meta = meta
        self.path = path
        self.levels: list[dict] | None = meta.get("qualities")
        self.quality = quality if quality is not None else int(meta.get("default_quality", 1))
        count = len(self.levels) if self.levels else 1
        if not 1 <= self.quality <= count:
            raise ModelError(f"{self.base_name} has quality levels 1 to {count}, not {self.quality}")
        self._q = () if self.levels is None else (np.int32(self.quality - 1),)
        self._name = name

    @property
    def level(self) -> dict:
        """This quality level's card: id, λ, table digest and test figures."""
        return self.levels[self.quality - 1] if self.levels else self.meta

    @property
    def id(self) -> str:
        """The 4-hex-digit model id written into every .mz file."""
        return self.level["id"]

    @property
    def base_name(self) -> str:
        """The model directory's name (unless model.json says otherwise)."""
        return self.meta.get("name") or self.path.name

    @property
    def name(self) -> str:
        """The name to show: a registry name, or the model's name with the quality level if it has several."""
        if self._name:
            return self._name
        return f"{self.base_name} q{self.quality}" if self.levels and len(self.levels) > 1 else self.base_name

    def with_quality(self, quality: int, name: str | None = None) -> "Codec":
        """The same loaded model at another quality level (nothing is reloaded)."""
        return Codec(self._module, self.meta, self.path, quality, name)

    def with_id(self, model_id: str) -> "Codec | None":
        """The quality level of this model that writes ``model_id`` into its files, if any."""
        for level in self.levels or [self.meta]:
            if level["id"] == model_id:
                return self.with_quality(level.get("quality", 1)) if self.levels else self
        return None

    @classmethod
    def load(cls, path: str | os.PathLike, verify: bool = True, quality: int | None = None) -> "Codec":
        """Load a SavedModel directory written by ``mnistzip train``; check its tables against model.json."""
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise ModelError(f"{path}: not a mnistzip model (no {META_FILE})")
        try:
            meta = json.loads(meta_path.read_text())
            for level in meta.get("qualities") or [meta]:
                level["id"], level["tables_sha256"]
        except (ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{meta_path}: malformed model card ({e})") from None
        if verify:
            _verify_files(path, meta)
        import tensorflow as tf
        import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

        try:
            module = tf.saved_model.load(str(path))
        except Exception as e:  # TF raises OSError, ValueError, DataLossError, ...
            raise ModelError(f"{path}: cannot load the SavedModel ({type(e).__name__})") from None
        codec = cls(module, meta, path, quality)
        if verify:
            codec.verify_tables()
        return codec

    def verify_tables(self) -> None:
        """Refuse a model whose range-coding tables (of any quality) differ from those it was exported with."""
        from .model import tables_digest

        for level in self.levels or [self.meta]:
            q = () if self.levels is None else (np.int32(level["quality"] - 1),)
            cdf, cdf_offset = self._module.tables(*q)
            if tables_digest(cdf.numpy(), cdf_offset.numpy()) != level["tables_sha256"]:
                raise ModelError(f"{self.path}: range-coding tables do not match model.json (the model was altered)")

    # ------------------------------------------------------------------ coding

    def compress(self, images: np.ndarray, refine: float | None = None, progress=None) -> MzFile:
        """Digits → the contents of one .mz file (one range-coded stream for all).

        ``refine=λ`` searches each digit's quantised latents for a lower
        rate + λ·MSE before coding (see :meth:`refine`, which reports to ``progress``);
        the decoder is unchanged.
        """
        if refine is None:
            payload, _ = self.encode(images)
        else:
            payload = self.encode_latents(self.refine(images, refine, progress=progress))
        return MzFile(model_id=self.id, count=len(images), payload=payload)

    def refine(self, images: np.ndarray, lmbda: float, rounds: int = 2, progress=None) -> np.ndarray:
        """Encode-time optimisation: quantised latents with a lower bits + λ·MSE (pixels in [0, 1]).

        Greedy coordinate search: each round tries one step up and one step
        down in every latent dimension of every digit, and keeps a step when
        the exact coded cost (from the range-coding tables) plus λ times the
        decoded digit's MSE goes down. The decoder and the file format stay
        the same; only the encoder works harder (two decodes per dimension).
        With a conditional prior a step moves the predictions of the later
        dimensions, which are re-quantised around them before the trial is scored.

        ``progress``, if given, is called with the fraction of the search done
        (0 to 1) after every trial: refining thousands of digits takes minutes.
        """
        images = check_digits(images)
        target = images.astype(np.float64) / 255.0
        y = self.quantize(self.latents(images)).astype(np.float32)
        dims = np.arange(y.shape[1])

        def coded_loss(latents, which):
            """(the latents as coded, their bits + λ·MSE): one pass gives a conditional prior's both."""
            latents, rows, symbols = self._coding(latents)
            recon = self.synthesize(latents).astype(np.float64) / 255.0
            mse = ((recon - target[which]) ** 2).reshape(len(latents), -1).mean(axis=1)
            return latents, self._bits(rows, symbols) + lmbda * mse

        active = np.arange(len(y))
        current = coded_loss(y, active)[1]
        steps = (-1.0, 1.0)
        trials, done = rounds * len(dims) * len(steps), 0
        for _ in range(rounds):
            # A digit that did not move in a round had every step tried at its final latents
            # and rejected: another round would reject them again, so only movers go on.
            moved = np.zeros(len(y), bool)
            for d in dims:
                for step in steps:
                    trial = y[active]
                    trial[:, d] += step
                    trial, trial_loss = coded_loss(trial, active)  # conditional: later dimensions re-quantised
                    better = trial_loss < current[active] - 1e-9
                    won = active[better]
                    y[won], current[won], moved[won] = trial[better], trial_loss[better], True
                    done += 1
                    if progress is not None:
                        progress(done / trials)
            active = np.flatnonzero(moved)
            if not len(active):
                break
        if progress is not None and done < trials:
            progress(1.0)  # the search settled before its last round
        return y

    @functools.cached_property
    def _symbol_costs(self) -> tuple[np.ndarray, np.ndarray]:
        """Bits the range coder spends on each symbol of each dimension (inf where a table has none),
        and each dimension's first symbol value."""
        pmfs, first = self.prior_pmfs()
        table = np.full((len(pmfs), max(len(p) for p in pmfs)), np.inf)
        for d, p in enumerate(pmfs):
            with np.errstate(divide="ignore"):
                table[d, : len(p)] = -np.log2(p)
        return table, first

    def _require_encoder(self) -> None:
        """A decode-only model (one kept so that its old files decode) cannot compress."""
        if self.meta.get("decode_only"):
            raise ModelError(f"{self.name} only decodes the files it made; compress with the quality ladder (--quality)")

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
        images = check_digits(images)
        self._require_encoder()
        string, bits = self._module.compress(images, *self._q)
        return string.numpy(), bits.numpy()

    def decompress_batches(self, mz: MzFile, progress=None):
        """Like :meth:`decompress`, as batches of at most ``SYNTHESIS_BATCH`` digits: memory stays bounded
        whatever the count. The whole stream is decoded (and checked) before the first batch comes;
        ``progress``, if given, is called with the fraction done (0 to 1)."""
        self._check_id(mz)
        return self.decode_batches(mz.payload, mz.count, progress)

    def decode(self, payload: bytes, count: int) -> np.ndarray:
        """One range-coded string holding ``count`` digits → uint8 digits (filled batch by batch: one copy)."""
        digits = np.empty((count, SIDE, SIDE), np.uint8)
        done = 0
        for batch in self.decode_batches(payload, count):
            digits[done : done + len(batch)] = batch
            done += len(batch)
        return digits

    def decode_batches(self, payload: bytes, count: int, progress=None):
        """One range-coded string holding ``count`` digits → uint8 digits, a batch at a time (see
        :meth:`decompress_batches`). Decoding the latents counts as the first half of the progress."""
        latents = self.decode_latents(payload, count, progress=None if progress is None else lambda f: progress(f / 2))
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

        if not 1 <= count <= MAX_DIGITS:
            raise BadMzFile(f"bad digit count: expected 1 to {MAX_DIGITS}, found {count}")
        need = self.min_payload_bytes(count)
        if len(payload) < need:
            raise BadMzFile(f"payload too short: {count} digits need at least {need} bytes, found {len(payload)}")
        if count <= ONE_SHOT_DIGITS:
            one_shot = self._module.decompress_latents
            self._warm_up("one call", lambda empty: one_shot(tf.constant(empty), tf.constant(1, tf.int32), *self._q))
            limit = DECODE_SECONDS + count / DECODE_DIGITS_PER_SECOND
            string, n = tf.constant(payload), tf.constant(count, tf.int32)
            work = lambda report, stop: one_shot(string, n, *self._q).numpy()  # noqa: E731
        else:
            from . import chunked

            self._warm_up(("chunked", self.quality), lambda empty: chunked.decode_latents(self, empty, chunked.PACKET))
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
        per_table = self._symbol_costs[0].min(axis=1)
        if not self.conditional:
            return float(per_table.sum())
        _, index = self._module.predict(np.zeros((1, self.latent_dims), np.float32), *self._q)
        first = int(index.numpy()[0, 0])
        nearby = per_table[max(0, first - 1) : first + 2]
        return float(nearby.min() + per_table.min() * (self.latent_dims - 1))

    def encode_latents(self, latents: np.ndarray) -> bytes:
        """Quantised latents (N, latent_dims) → one range-coded string."""
        self._require_encoder()
        return self._module.compress_latents(np.asarray(latents, np.float32), *self._q).numpy()

    def latent_bits(self, latents: np.ndarray) -> np.ndarray:
        """Bits per digit that the range coder spends on quantised latents.

        Symbols inside a dimension's table cost -log2 of their probability. One
        outside it costs the table's overflow symbol plus TFC's escape code for
        the excess, estimated as two chunks of ``OVERFLOW_WIDTH`` bits per chunk
        of its magnitude (rare: a few digits in ten thousand).
        """
        return self._bits(*self._coding(latents)[1:])

    def _bits(self, rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Bits per digit of symbols coded with the given table rows (see :meth:`latent_bits`)."""
        table, first = self._symbol_costs
        lengths, overflow = self._table_extents
        idx = symbols - first[rows]
        inside = (idx >= 0) & (idx < lengths[rows])
        costs = table[rows, np.clip(idx, 0, table.shape[1] - 1)]
        excess = np.where(idx < 0, -idx, idx - lengths[rows] + 1)
        chunks = np.maximum(1, np.ceil(np.log2(2 * np.maximum(excess, 1) + 1) / OVERFLOW_WIDTH))
        return np.where(inside, costs, overflow[rows] + 2 * OVERFLOW_WIDTH * chunks).sum(axis=1)

    def _coding(self, latents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(latents as coded, table row, symbol relative to that table's zero) of every element.

        A factorized prior codes dimension ``d`` with table ``d``, and latents on
        its grid as they are. A conditional one picks each element's table and
        integer shift from the dimensions before it, re-quantising each
        dimension around its prediction: latents off the grid come back on it.
        """
        latents = np.asarray(latents, np.float32)
        if self.conditional:
            coded, index, symbols = (t.numpy() for t in self._module.conditionals(latents, *self._q))
            return coded, index.astype(np.int64), symbols.astype(np.int64)
        rows = np.broadcast_to(np.arange(latents.shape[1]), latents.shape)
        return latents, rows, self.symbols(latents)

    @property
    def conditional(self) -> bool:
        """Whether each latent dimension is coded given the ones before it (decoded one dimension at a time)."""
        return self.meta.get("prior") == "conditional"

    @property
    def latent_dims(self) -> int:
        return int(self.meta["latent_dims"])

    @functools.cached_property
    def _table_extents(self) -> tuple[np.ndarray, np.ndarray]:
        """Each dimension's table length (symbols it codes directly) and the bits of its overflow symbol."""
        cdf, _ = (t.numpy() for t in self._module.tables(*self._q))
        rows = np.split(cdf, np.flatnonzero(cdf < 0)[1:])
        counts = [np.diff(row[1:]) for row in rows]  # the last symbol of each row is the overflow one
        lengths = np.array([len(c) - 1 for c in counts])
        overflow = np.array([-row[0] - np.log2(max(c[-1], 1)) for row, c in zip(rows, counts)], np.float64)
        return lengths, overflow

    def symbols(self, latents: np.ndarray) -> np.ndarray:
        """The integer symbols the range coder sees for quantised latents (the quantisation offset removed)."""
        return np.round(np.asarray(latents, np.float64) - self._offset).astype(np.int64)

    @functools.cached_property
    def _offset(self) -> np.ndarray:
        """Each dimension's quantisation offset: 0 for symmetric priors, a fraction for a learned deep prior."""
        return self.quantize(np.zeros((1, self.latent_dims), np.float32))[0].astype(np.float64)

    def encode_each(self, images: np.ndarray, latents: np.ndarray | None = None) -> list[bytes]:
        """One range-coded string per digit: the payload of a one-digit file for each."""
        self._require_encoder()
        if latents is None:
            return list(self._module.compress_each(check_digits(images), *self._q).numpy())
        return [self.encode_latents(y[None]) for y in latents]

    def latents(self, images: np.ndarray) -> np.ndarray:
        """The encoder's unquantised latents (N, latent_dims), in the coded domain (times the quality's gain)."""
        self._require_encoder()
        return self._module.analyse(check_digits(images), *self._q).numpy()

    def quantize(self, latents: np.ndarray) -> np.ndarray:
        """Latents rounded the way the entropy coder rounds them."""
        return self._module.quantize(np.asarray(latents, np.float32), *self._q).numpy()

    def synthesize(self, latents) -> np.ndarray:
        """Quantised latents → uint8 digits (the decoder alone)."""
        import tensorflow as tf

        return self._module.synthesize(tf.cast(latents, tf.float32), *self._q).numpy()

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Decode random bytes into ``n`` new digits (no sanity check), as the seed reports do."""
        import tensorflow as tf

        if not 1 <= n <= MAX_DIGITS:
            raise InputError(f"number of samples must be 1 to {MAX_DIGITS}, not {n}")
        noise = np.random.default_rng(seed).bytes(SAMPLE_BYTES_PER_DIGIT * n)
        return self._module.sample(tf.constant(noise), tf.constant(n, tf.int32), *self._q).numpy()

    def prior_pmfs(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Each latent dimension's quantised prior as the range coder sees it: (pmfs, first symbol value).

        The CDF table holds, per dimension, ``-precision`` followed by the
        cumulative counts of every symbol and a final overflow symbol.
        """
        cdf, cdf_offset = (t.numpy() for t in self._module.tables(*self._q))
        starts = np.flatnonzero(cdf < 0)
        rows = np.split(cdf, starts[1:])
        pmfs = [np.diff(row[1:])[:-1].astype(np.float64) for row in rows]  # drop the overflow symbol
        return [p / p.sum() for p in pmfs], cdf_offset

    def sample_prior(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` digits decoded from latents drawn, dimension by dimension, from the quantised prior."""
        if not 1 <= n <= MAX_DIGITS:
            raise InputError(f"number of samples must be 1 to {MAX_DIGITS}, not {n}")
        rng = np.random.default_rng(seed)
        pmfs, first = self.prior_pmfs()
        if self.conditional:
            return self.synthesize(self._sample_conditional(n, rng, pmfs, first))
        latents = np.stack([rng.choice(len(p), size=n, p=p) + f for p, f in zip(pmfs, first)], axis=1)
        return self.synthesize((latents + self._offset).astype(np.float32))


    def _sample_conditional(self, n: int, rng, pmfs, first) -> np.ndarray:
        """Latents drawn one dimension at a time, each from its table given the dimensions drawn before."""
        latents = np.zeros((n, self.latent_dims), np.float64)
        for d in range(self.latent_dims):
            loc, index = (t.numpy()[:, d] for t in self._module.predict(latents.astype(np.float32), *self._q))
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


def _verify_files(path: Path, meta: dict) -> None:
    """Refuse a model whose SavedModel files differ from those it was exported with (before loading them)."""
    from .fileio import tree_digest

    expected = meta.get("files_sha256")
    if expected and tree_digest(path, exclude=(META_FILE,)) != expected:
        name = meta.get("name") or path.name
        raise ModelError(f"{path}: model files do not match model.json (the model {name} ({meta['id']}) was altered)")


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
