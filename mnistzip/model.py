"""The learned codec: transforms, the trainer that owns the entropy model, the export.

The seed architecture (the TFC "learned data compression" tutorial): a small
convolutional encoder to a ``latent_dims`` vector, a mirrored decoder, and a
per-dimension prior for the entropy model. Training adds uniform noise; the
exported codec quantises and range-codes with tables baked into the SavedModel.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from . import conditional
from .recipe import SEED_RECIPE, check_choice, complete

SIDE = 28
WIDTH = SEED_RECIPE["width"]  # units of the fully connected hidden layer on each side (the seed's)


class AnalysisTransform(tf.keras.Sequential):
    """Encoder: 28x28 digit in [0, 1] → latent vector."""

    def __init__(self, latent_dims: int, width: int = WIDTH):
        super().__init__(name="analysis_transform")
        conv = dict(kernel_size=5, strides=2, padding="same", activation="leaky_relu")
        self.add(tf.keras.layers.Conv2D(20, name="conv_1", **conv))
        self.add(tf.keras.layers.Conv2D(50, name="conv_2", **conv))
        self.add(tf.keras.layers.Flatten())
        self.add(tf.keras.layers.Dense(width, activation="leaky_relu", name="fc_1"))
        self.add(tf.keras.layers.Dense(latent_dims, activation=None, name="fc_2"))


class SynthesisTransform(tf.keras.Sequential):
    """Decoder: latent vector → 28x28 digit in [0, 1] (before rounding).

    "seed": the seed's two transposed convolutions (20 channels, then the digit).
    "conv3": twice the channels at 14x14 (40), a second upsampling to 16
    channels and a 3x3 convolution to the digit: the strokes are drawn by more
    than one channel at full resolution (41 k more weights; decoding ~30% slower,
    measured in docs/results/levers.md).
    """

    def __init__(self, width: int = WIDTH, synthesis: str = SEED_RECIPE["synthesis"]):
        super().__init__(name="synthesis_transform")
        check_choice("synthesis", synthesis)
        conv = dict(kernel_size=5, strides=2, padding="same", activation="leaky_relu")
        self.add(tf.keras.layers.Dense(width, activation="leaky_relu", name="fc_1"))
        self.add(tf.keras.layers.Dense(2450, activation="leaky_relu", name="fc_2"))
        self.add(tf.keras.layers.Reshape((7, 7, 50)))
        if synthesis == "seed":
            self.add(tf.keras.layers.Conv2DTranspose(20, name="conv_1", **conv))
            self.add(tf.keras.layers.Conv2DTranspose(1, name="conv_2", **conv))
        else:
            self.add(tf.keras.layers.Conv2DTranspose(40, name="conv_1", **conv))
            self.add(tf.keras.layers.Conv2DTranspose(16, name="conv_2", **conv))
            self.add(tf.keras.layers.Conv2D(1, 3, padding="same", activation="leaky_relu", name="conv_3"))

    @classmethod
    def of(cls, recipe: dict) -> "SynthesisTransform":
        """The decoder a model card's recipe describes (an older card's missing choices are the seed's)."""
        recipe = complete(recipe)
        return cls(recipe["width"], recipe["synthesis"])


def to_unit(x: tf.Tensor) -> tf.Tensor:
    """uint8 digits (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]."""
    return tf.reshape(tf.cast(x, tf.float32) / 255.0, (-1, SIDE, SIDE, 1))


def to_uint8(x_unit: tf.Tensor) -> tf.Tensor:
    """Decoder output in [0, 1] → uint8 (N, 28, 28), rounded and saturated."""
    return tf.saturate_cast(tf.round(tf.reshape(x_unit, (-1, SIDE, SIDE)) * 255.0), tf.uint8)


class CompressionTrainer(tf.keras.Model):
    """Transforms plus the prior; ``call`` returns rate (bits/digit) and distortion per quality.

    With one λ this is the seed's single-rate codec. With several (``lmbdas``,
    one per quality level) it is a variable-rate codec in the manner of Cui et
    al. (2021): the transforms are shared, and each quality has its own gain
    vector on the latents (the decoder divides by it, so a gain is a learned
    quantisation step per dimension) and its own prior. A training batch is
    split evenly between the qualities, each term weighted by its own λ.
    """

    def __init__(self, latent_dims: int = 50, prior: str = "logistic", distortion: str = "mae", lmbdas=(2000.0,),
                 width: int = WIDTH, quantization: str = "noise", synthesis: str = SEED_RECIPE["synthesis"]):
        super().__init__()
        for name, value in (("prior", prior), ("distortion", distortion), ("quantization", quantization)):
            check_choice(name, value)
        self.quantization = quantization
        self.latent_dims = latent_dims
        self.prior_name = prior
        self.distortion_name = distortion
        self.lmbdas = tuple(float(v) for v in lmbdas)
        qualities = len(self.lmbdas)
        self.analysis_transform = AnalysisTransform(latent_dims, width)
        self.synthesis_transform = SynthesisTransform(width, synthesis)
        shape = (qualities, latent_dims)
        # Gains start at sqrt(λ / geometric mean of the λs): at high rate the best step size
        # for squared error shrinks as 1/sqrt(λ). One quality: a constant gain of 1.
        log_lmbdas = np.log(np.asarray(self.lmbdas))
        start = np.repeat((0.5 * (log_lmbdas - log_lmbdas.mean()))[:, None], latent_dims, axis=1)
        self.log_gains = tf.Variable(start.astype(np.float32), trainable=qualities > 1, name="log_gains")
        if prior == "deep":
            self._deep_prior = tfc.NoisyDeepFactorized(batch_shape=shape)
        elif prior == "conditional":
            self.conditional_net = conditional.MaskedAutoregressive(latent_dims, qualities, name="conditional_prior")
            self.conditional_net.build()
        else:
            self.prior_log_scales = tf.Variable(tf.zeros(shape), name="prior_log_scales")
        self.build((None, SIDE, SIDE))

    @property
    def qualities(self) -> int:
        return len(self.lmbdas)

    def build(self, input_shape):
        """Create every weight up front so checkpoints and exports see them all."""
        self.analysis_transform.build((None, SIDE, SIDE, 1))
        self.synthesis_transform.build((None, self.latent_dims))
        super().build(input_shape)

    @property
    def gains(self) -> tf.Tensor:
        """(qualities, latent_dims): what each quality multiplies the latents by before rounding."""
        return tf.exp(self.log_gains)

    @property
    def prior(self):
        """The learned prior on the noisy scaled latents, batch shape (qualities, latent_dims)."""
        if self.prior_name == "deep":
            return self._deep_prior
        scale = tf.exp(self.prior_log_scales)
        if self.prior_name == "normal":
            return tfc.NoisyNormal(loc=0.0, scale=scale)
        return tfc.NoisyLogistic(loc=0.0, scale=scale)

    def _perturb(self, z, training: bool):
        """What ``ContinuousBatchedEntropyModel.__call__`` does, with bits per (digit, quality): the
        latents the decoder sees, and their bits. Training: uniform noise and the noisy prior's density
        (the decoder sees the noisy latents, or with "mixed" quantisation the rounded ones); evaluation:
        rounding and the exact discrete probability."""
        if self.prior_name == "conditional":
            return self._perturb_conditional(z, training)
        prior = self.prior

        def rounded():
            return tfc.ContinuousBatchedEntropyModel(prior, coding_rank=2, compression=False).quantize(z)

        if training:
            coded = z + tf.random.uniform(tf.shape(z), -0.5, 0.5)
            seen = self._straight_through(z, rounded()) if self.quantization == "mixed" else coded
        else:
            coded = seen = rounded()
        return seen, tf.reduce_sum(prior.log_prob(coded), axis=-1) / -tf.math.log(2.0)

    def _perturb_conditional(self, z, training: bool):
        """``_perturb`` for the conditional prior: each dimension's density given the (noisy or quantised)
        dimensions before it, at every quality; quantisation is centred on the predictions, as the codec's.
        "mixed" training centres on the predictions from the noisy latents (one pass, not one per dimension)."""
        n, q, dims = tf.shape(z)[0], self.qualities, self.latent_dims
        flat = tf.reshape(z, (-1, dims))
        gains = tf.reshape(tf.broadcast_to(self.gains, tf.shape(z)), (-1, dims))
        quality = tf.tile(tf.range(q), [n])

        def parameters_of(y):
            return conditional.parameters(self.conditional_net, y, gains, quality)

        if training:
            coded = flat + tf.random.uniform(tf.shape(flat), -0.5, 0.5)
            loc, scale = parameters_of(coded)
            seen = self._straight_through(flat, tf.round(flat - loc) + loc) if self.quantization == "mixed" else coded
        else:
            coded, _, loc, scale = conditional.quantize(flat, parameters_of, dims)
            seen = coded
        return tf.reshape(seen, tf.shape(z)), tf.reshape(conditional.bits(loc, scale, coded), (n, q))

    @staticmethod
    def _straight_through(z, rounded):
        """``rounded`` forward, the identity backward: the encoder learns from the decoder through the rounding."""
        return z + tf.stop_gradient(rounded - z)

    def call(self, x, training=False):
        """Per quality: rate (mean bits per digit), distortion (mean |x - x~| or squared, pixels in
        [0, 1]) and MSE on the 0-255 scale. Training gives each quality an equal share of the batch
        (noisy latents); evaluation runs every digit at every quality (rounded latents)."""
        x = to_unit(x)
        y = self.analysis_transform(x)
        gains = self.gains
        y_tilde, bits = self._perturb(y[:, None, :] * gains, training)  # (N, Q, L), (N, Q)
        q = self.qualities
        if training:
            n = tf.shape(y)[0]
            which = (tf.range(n) * q) // n  # example i trains quality which[i]
            y_tilde = tf.gather(y_tilde, which, batch_dims=1) / tf.gather(gains, which)
            bits = tf.gather(bits, which, batch_dims=1)
            err = x - self.synthesis_transform(y_tilde)

            def per_quality(values):
                return tf.math.unsorted_segment_mean(values, which, q)

        else:
            x_tilde = self.synthesis_transform(tf.reshape(y_tilde / gains, (-1, self.latent_dims)))
            err = x[:, None] - tf.reshape(x_tilde, (-1, q, SIDE, SIDE, 1))

            def per_quality(values):
                return tf.reduce_mean(values, axis=0)

        axes = (-3, -2, -1)
        distortion = tf.reduce_mean(tf.abs(err) if self.distortion_name == "mae" else tf.square(err), axis=axes)
        mse255 = tf.reduce_mean(tf.square(err * 255.0), axis=axes)
        return dict(rate=per_quality(bits), distortion=per_quality(distortion), mse255=per_quality(mse255))


class _Ref:
    """Holds an object without making it part of a SavedModel (tf.Module tracks only trackables)."""

    def __init__(self, value):
        self.value = value


class HalfStoredTransform(tf.Module):
    """A trained Keras transform whose weights are saved in float16 and computed with in float32.

    Halves a model's files. The float32 weights used at every call are the
    float16 ones widened, identical on every machine, so encoder and decoder
    still agree; only the rounding of the weights changes the digits (measured
    in the model card's test figures, which are taken on the exported model).
    """

    WEIGHTS = ("kernel", "bias")

    def __init__(self, transform: tf.keras.Sequential, name: str):
        super().__init__(name=name)
        self._transform = _Ref(transform)
        slots = [(layer, attr) for layer in transform.layers for attr in self.WEIGHTS if hasattr(layer, attr)]
        self._slots = _Ref(slots)  # the layers (and their float32 weights) are not saved
        self.half_weights = [
            tf.Variable(tf.cast(getattr(layer, attr), tf.float16), trainable=False, name=f"{layer.name}_{attr}")
            for layer, attr in slots
        ]

    @property
    def weights(self) -> list:
        return self.half_weights

    def __call__(self, x):
        """Run the Keras layers with the widened float16 weights in place of their own (while tracing)."""
        slots = self._slots.value
        own = [getattr(layer, attr) for layer, attr in slots]
        try:
            for (layer, attr), half in zip(slots, self.half_weights):
                setattr(layer, attr, tf.cast(half, tf.float32))
            return self._transform.value(x)
        finally:
            for (layer, attr), weight in zip(slots, own):
                setattr(layer, attr, weight)


class ExportedCodec(tf.Module):
    """What a SavedModel holds: both transforms, the per-quality gains and range-coding tables built once.

    Every entry point takes the quality level (0-based here; 1-based for users).
    Latents are exchanged in the coded domain: the encoder's output times the
    quality's gain, the values the range coder sees. One range-coded string
    carries all digits of a batch (``coding_rank=2``): an archive costs its
    entropy plus a few bits, not a few bits per digit.
    """

    def __init__(self, trainer: CompressionTrainer, half: bool = False):
        super().__init__(name="mnistzip_codec")
        qualities, latent = trainer.qualities, trainer.latent_dims
        self._shape = (qualities, latent)
        if half:  # transforms saved in float16: half the size
            self.analysis_transform = HalfStoredTransform(trainer.analysis_transform, "analysis_transform")
            self.synthesis_transform = HalfStoredTransform(trainer.synthesis_transform, "synthesis_transform")
        else:
            self.analysis_transform = trainer.analysis_transform
            self.synthesis_transform = trainer.synthesis_transform
        self.latent_dims = tf.Variable(latent, trainable=False, dtype=tf.int32, name="latent_dims")
        self.gains = tf.Variable(trainer.gains, trainable=False, name="gains")
        self._init_entropy_model(trainer)
        self._define_functions(latent)

    def _init_entropy_model(self, trainer: CompressionTrainer) -> None:
        """Tables for every (quality, dimension); each quality codes with its own slice of them."""
        self.entropy_model = tfc.ContinuousBatchedEntropyModel(trainer.prior, coding_rank=2, compression=True)
        self.prior = trainer.prior  # for entropy figures (no tables needed)
        cdf = self.entropy_model.cdf.numpy()
        rows = np.append(np.flatnonzero(cdf < 0), len(cdf))  # each table row starts with -precision
        self.cdf_bounds = tf.constant(rows[:: trainer.latent_dims].astype(np.int32), name="cdf_bounds")  # per quality

    def _view(self, q, coding_rank: int = 2, decode_sanity_check: bool = True):
        """Quality ``q``'s slice of the range-coding tables as an entropy model (no new tables are built)."""
        em = self.entropy_model
        offset = em.quantization_offset
        return tfc.ContinuousBatchedEntropyModel(
            prior_shape=self._shape[1:],
            coding_rank=coding_rank,
            compression=True,
            stateless=True,
            cdf=em.cdf[self.cdf_bounds[q] : self.cdf_bounds[q + 1]],
            cdf_offset=tf.reshape(em.cdf_offset, self._shape)[q],
            quantization_offset=None if offset is None else tf.broadcast_to(offset, self._shape)[q],
            offset_heuristic=False,
            decode_sanity_check=decode_sanity_check,
        )

    def _define_functions(self, latent: int):
        """Wrap the entry points as tf.functions with fixed signatures (for the SavedModel)."""
        digits = tf.TensorSpec([None, SIDE, SIDE], tf.uint8)
        latents = tf.TensorSpec([None, latent], tf.float32)
        quality = tf.TensorSpec([], tf.int32)
        string_n = [tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32)]
        self.analyse = tf.function(self._analyse, input_signature=[digits, quality])
        self.compress = tf.function(self._compress, input_signature=[digits, quality])
        self.compress_latents = tf.function(self._compress_latents, input_signature=[latents, quality])
        self.compress_each = tf.function(self._compress_each, input_signature=[digits, quality])
        self.quantize = tf.function(self._quantize, input_signature=[latents, quality])
        self.decompress = tf.function(self._decompress, input_signature=[*string_n, quality])
        self.decompress_latents = tf.function(self._decompress_latents, input_signature=[*string_n, quality])
        self.synthesize = tf.function(self._synthesize, input_signature=[latents, quality])
        self.sample = tf.function(self._sample, input_signature=[*string_n, quality])
        self.tables = tf.function(self._tables, input_signature=[quality])

    def _analyse(self, x, q):
        """uint8 digits → unquantised latents in quality ``q``'s coded domain."""
        return self.analysis_transform(to_unit(x)) * self.gains[q]

    def _quantize(self, y, q):
        """Latents rounded the way quality ``q``'s range coder rounds them."""
        return self._view(q).quantize(y)

    def _compress(self, x, q):
        """uint8 digits → (one range-coded string for all, entropy bits per digit)."""
        y = self._analyse(x, q)
        view = self._view(q)
        every = tf.repeat(view.quantize(y)[:, None, :], self._shape[0], axis=1)  # under every quality's prior
        bits = tf.reduce_sum(self.prior.log_prob(every)[:, q], axis=-1) / -tf.math.log(2.0)
        return view.compress(y), bits

    def _compress_latents(self, y, q):
        """Latents (quantised here) → one range-coded string."""
        return self._view(q).compress(y)

    def _compress_each(self, x, q):
        """uint8 digits → one range-coded string per digit (what a one-digit file holds)."""
        return self._view(q, coding_rank=1).compress(self._analyse(x, q))

    def _decompress_latents(self, string, n, q):
        """One string → the n quantised latent vectors it holds."""
        return self._view(q).decompress(string, tf.reshape(n, [1]))

    def _decompress(self, string, n, q):
        """One string → n uint8 digits."""
        return self._synthesize(self._decompress_latents(string, n, q), q)

    def _synthesize(self, y_hat, q):
        """Quantised latents → uint8 digits."""
        return to_uint8(self.synthesis_transform(y_hat / self.gains[q]))

    def _sample(self, string, n, q):
        """Any bytes → n digits: the decoder as a generative model (no sanity check)."""
        latents = self._view(q, decode_sanity_check=False).decompress(string, tf.reshape(n, [1]))
        return self._synthesize(latents, q)

    def _tables(self, q):
        """Quality ``q``'s range-coding tables, for hashing and for exact symbol costs."""
        view = self._view(q)
        return view.cdf, view.cdf_offset


class ConditionalExportedCodec(ExportedCodec):
    """An exported codec whose entropy model is conditional across dimensions (see ``conditional``).

    Same entry points and signatures as :class:`ExportedCodec`, plus
    ``conditionals`` (the quantised latents, table index and symbol of every
    element, from which the codec reads exact symbol costs) and ``predict``
    (each element's location and table given the ones before, for sampling).
    """

    def _init_entropy_model(self, trainer: CompressionTrainer) -> None:
        """The network predicting each dimension's distribution, and one set of tables shared by every quality."""
        self.conditional_net = trainer.conditional_net
        self.entropy_model = conditional.table_model()

    def _define_functions(self, latent: int):
        super()._define_functions(latent)
        spec = [tf.TensorSpec([None, latent], tf.float32), tf.TensorSpec([], tf.int32)]
        self.conditionals = tf.function(self._conditionals, input_signature=spec)
        self.predict = tf.function(self._predict, input_signature=spec)

    def _parameters(self, y_hat, q):
        """(loc, scale) of each element's conditional logistic at quality ``q``, computed in float64."""
        y_hat = tf.cast(y_hat, tf.float64)
        gains = tf.broadcast_to(tf.cast(self.gains[q], tf.float64), tf.shape(y_hat))
        return conditional.parameters(self.conditional_net, y_hat, gains, tf.fill([tf.shape(y_hat)[0]], q))

    def _quantise(self, y, q):
        """Latents → (quantised latents float64, symbols, loc, scale), one dimension at a time."""
        return conditional.quantize(tf.cast(y, tf.float64), lambda v: self._parameters(v, q), self._shape[1])

    def _conditionals(self, y, q):
        """Latents → (quantised latents, table index, symbol) of every element: what the range coder sees."""
        y_hat, symbols, _, scale = self._quantise(y, q)
        return tf.cast(y_hat, tf.float32), conditional.table_index(scale), symbols

    def _quantize(self, y, q):
        return tf.cast(self._quantise(y, q)[0], tf.float32)

    def _encode(self, y, q, per_digit: bool):
        """Latents → (string(s), entropy bits per digit)."""
        y_hat, symbols, loc, scale = self._quantise(y, q)
        strings = conditional.encode(self.entropy_model, symbols, conditional.table_index(scale), per_digit)
        return strings, tf.cast(conditional.bits(loc, scale, y_hat), tf.float32)

    def _compress(self, x, q):
        return self._encode(self._analyse(x, q), q, per_digit=False)

    def _compress_latents(self, y, q):
        return self._encode(y, q, per_digit=False)[0]

    def _compress_each(self, x, q):
        return self._encode(self._analyse(x, q), q, per_digit=True)[0]

    def _decompress_latents(self, string, n, q):
        return self._decode(string, n, q, sanity_check=True)

    def _decode(self, string, n, q, sanity_check: bool):
        """One string → n quantised latent vectors, decoded dimension by dimension."""
        y_hat = conditional.decode(
            self.entropy_model, string, n, self._shape[1], lambda y: self._parameters(y, q), sanity_check
        )
        return tf.cast(y_hat, tf.float32)

    def _sample(self, string, n, q):
        return self._synthesize(self._decode(string, n, q, sanity_check=False), q)

    def _predict(self, y_hat, q):
        """Quantised latents → (loc float64, table index) of every element given the ones before it."""
        loc, scale = self._parameters(y_hat, q)
        return loc, conditional.table_index(scale)

    def _tables(self, q):
        """The tables (shared by every quality)."""
        return tf.identity(self.entropy_model.cdf), tf.identity(self.entropy_model.cdf_offset)


def weights_digest(codec: ExportedCodec) -> str:
    """SHA-256 over the codec's weights, gains and range-coding tables (in a fixed order)."""
    h = hashlib.sha256()
    em = codec.entropy_model
    parts = [*codec.analysis_transform.weights, *codec.synthesis_transform.weights, codec.gains, em.cdf, em.cdf_offset]
    if hasattr(codec, "conditional_net"):
        parts += codec.conditional_net.weights
    for t in parts:
        a = np.ascontiguousarray(np.asarray(t))
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def tables_digest(cdf, cdf_offset) -> str:
    """SHA-256 of one quality's range-coding tables, checked again at load."""
    h = hashlib.sha256()
    for t in (cdf, cdf_offset):
        h.update(np.ascontiguousarray(np.asarray(t, dtype=np.int32)).tobytes())
    return h.hexdigest()


def quality_ids(digest: str, qualities: int) -> list[str]:
    """The 4-hex-digit id each quality level writes into .mz files.

    A single-rate model keeps the weights digest's first 4 hex digits; the
    levels of a variable-rate model hash the digest with their number. Distinct
    within a model by construction (a salt is added until they are).
    """
    if qualities == 1:
        return [digest[:4]]
    for salt in range(1000):
        ids = [hashlib.sha256(f"{digest}:{q}:{salt or ''}".encode()).hexdigest()[:4] for q in range(1, qualities + 1)]
        if len(set(ids)) == qualities:
            return ids
    raise RuntimeError("cannot find distinct quality ids")  # pragma: no cover (odds ~1e-3000)


def export(trainer: CompressionTrainer, directory, metadata: dict, half: bool = False) -> dict:
    """Write the codec as a SavedModel plus ``model.json`` into ``directory`` (new or empty).

    ``half`` saves the transforms' weights in float16 (see HalfStoredTransform).

    Returns the metadata as written, completed with each quality's id and table
    digest, the weights digest and the digest of the SavedModel's files.
    """
    import json
    from pathlib import Path

    from .fileio import tree_digest

    codec = (ConditionalExportedCodec if trainer.prior_name == "conditional" else ExportedCodec)(trainer, half)
    digest = weights_digest(codec)
    ids = quality_ids(digest, trainer.qualities)
    levels = []
    for q, (lmbda, model_id) in enumerate(zip(trainer.lmbdas, ids)):
        cdf, cdf_offset = codec.tables(tf.constant(q))
        levels.append(dict(quality=q + 1, lmbda=lmbda, id=model_id, tables_sha256=tables_digest(cdf, cdf_offset)))
    meta = dict(metadata)
    meta.update(
        id=ids[0],
        default_quality=1,
        qualities=levels,
        weights_sha256=digest,
        latent_dims=trainer.latent_dims,
        prior=trainer.prior_name,
        distortion=trainer.distortion_name,
        weights_dtype="float16" if half else "float32",
        tensorflow=tf.__version__,
        tensorflow_compression=tfc.__version__ if hasattr(tfc, "__version__") else "2.14.1",
    )
    directory = Path(directory)
    tf.saved_model.save(codec, str(directory))
    meta["files_sha256"] = tree_digest(directory, exclude=("model.json",))
    (directory / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


DECODER_FUNCTIONS = ("decompress_latents", "decompress", "synthesize", "sample", "tables", "quantize")


def export_decoder(source, destination, note: str, half: bool = False, force: bool = False) -> dict:
    """Re-save a model's decoding half: same id, tables and decoded latents, about half the size.

    Used when a shipped model leaves the ladder: its files must keep decoding,
    but its encoder need not be shipped any more. ``model.json`` gains
    ``decode_only`` (the codec then refuses to compress) and ``note``.
    ``half`` also stores the decoder's weights in float16 (a quarter of the
    full model; see HalfDecoder); otherwise the decoded digits stay identical.
    The copy is written beside ``destination`` and renamed into place, so
    ``destination`` may be ``source`` itself (with ``force``).
    """
    import json
    from pathlib import Path

    from .fileio import atomic_output, tree_digest, written_by_mnistzip

    source, destination = Path(source), Path(destination)
    old = tf.saved_model.load(str(source))
    meta = json.loads((source / "model.json").read_text())
    if half:
        kept = HalfDecoder(old, meta)
        meta["weights_dtype"] = "float16"
    else:
        kept = tf.Module()
        for name in ("synthesis_transform", "entropy_model", "latent_dims", "gains", "conditional_net"):
            if hasattr(old, name):
                setattr(kept, name, getattr(old, name))
        for name in DECODER_FUNCTIONS + ("conditionals", "predict"):
            if hasattr(old, name):
                setattr(kept, name, getattr(old, name))
    meta.update(decode_only=True, note=note)
    with atomic_output(destination, force=force, directory=True, replaceable=written_by_mnistzip) as tmp:
        tf.saved_model.save(kept, str(tmp))
        meta["files_sha256"] = tree_digest(tmp, exclude=("model.json",))
        (tmp / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


class HalfDecoder(ExportedCodec):
    """The decoder of a float32 factorized-prior model, rebuilt with its weights stored in float16.

    The range-coding tables and quantisation offsets are copied as integers and
    floats from the old model (read back through its ``tables`` and ``quantize``),
    so its files decode to exactly the same latents; the synthesis weights are
    rounded to float16, which moves a decoded pixel by a grey level now and
    then (measured in docs/results/levers.md). Single-rate models keep their
    signatures without a quality argument.
    """

    def __init__(self, old, meta: dict):
        if meta.get("prior") == "conditional" or meta.get("weights_dtype") == "float16":
            raise ValueError(f"a float16 decoder is made from a float32 factorized-prior model, not from "
                             f"{meta.get('weights_dtype', 'float32')} weights with the {meta.get('prior')} prior")
        tf.Module.__init__(self, name="mnistzip_codec")
        levels = meta.get("qualities")
        self._single = levels is None
        q_args = [()] if self._single else [(tf.constant(q),) for q in range(len(levels))]
        latent = int(meta["latent_dims"])
        self._shape = (len(q_args), latent)
        tables = [old.tables(*q) for q in q_args]
        offsets = [old.quantize(tf.zeros((1, latent)), *q)[0] for q in q_args]  # round(0 - o) + o = o for |o| < 0.5
        cdfs = [cdf.numpy() for cdf, _ in tables]
        self.cdf_bounds = tf.constant(np.cumsum([0] + [len(c) for c in cdfs]).astype(np.int32), name="cdf_bounds")
        self.entropy_model = tf.Module(name="entropy_model")
        self.entropy_model.cdf = tf.Variable(np.concatenate(cdfs), trainable=False, name="cdf")
        self.entropy_model.cdf_offset = tf.Variable(tf.concat([o for _, o in tables], 0), trainable=False, name="cdf_offset")
        self.entropy_model.quantization_offset = tf.Variable(tf.stack(offsets), trainable=False, name="quantization_offset")
        self.gains = tf.Variable(old.gains if hasattr(old, "gains") else tf.ones(self._shape), trainable=False, name="gains")
        self.latent_dims = tf.Variable(latent, trainable=False, dtype=tf.int32, name="latent_dims")
        synthesis = SynthesisTransform.of(meta.get("recipe", {}))
        synthesis.build((None, latent))
        by_name = {v.name: v for v in old.synthesis_transform.variables}
        for weight in synthesis.weights:
            weight.assign(by_name[weight.name])
        self.synthesis_transform = HalfStoredTransform(synthesis, "synthesis_transform")
        self._define_decoder(latent)

    def _define_decoder(self, latent: int):
        """The decoder's entry points, with the old model's signatures (a single-rate one has no quality)."""
        latents = tf.TensorSpec([None, latent], tf.float32)
        string_n = [tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32)]
        quality = [] if self._single else [tf.TensorSpec([], tf.int32)]

        def entry(method, *spec):
            if self._single:
                return tf.function(lambda *args: method(*args, 0), input_signature=list(spec))
            return tf.function(method, input_signature=[*spec, *quality])

        self.decompress_latents = entry(self._decompress_latents, *string_n)
        self.decompress = entry(self._decompress, *string_n)
        self.synthesize = entry(self._synthesize, latents)
        self.sample = entry(self._sample, *string_n)
        self.tables = entry(self._tables)
        self.quantize = entry(self._quantize, latents)
