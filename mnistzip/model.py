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

SIDE = 28
PRIORS = ("logistic", "normal", "deep")
DISTORTIONS = ("mae", "mse")


class AnalysisTransform(tf.keras.Sequential):
    """Encoder: 28x28 digit in [0, 1] → latent vector."""

    def __init__(self, latent_dims: int):
        super().__init__(name="analysis_transform")
        conv = dict(kernel_size=5, strides=2, padding="same", activation="leaky_relu")
        self.add(tf.keras.layers.Conv2D(20, name="conv_1", **conv))
        self.add(tf.keras.layers.Conv2D(50, name="conv_2", **conv))
        self.add(tf.keras.layers.Flatten())
        self.add(tf.keras.layers.Dense(500, activation="leaky_relu", name="fc_1"))
        self.add(tf.keras.layers.Dense(latent_dims, activation=None, name="fc_2"))


class SynthesisTransform(tf.keras.Sequential):
    """Decoder: latent vector → 28x28 digit in [0, 1] (before rounding)."""

    def __init__(self):
        super().__init__(name="synthesis_transform")
        conv = dict(kernel_size=5, strides=2, padding="same", activation="leaky_relu")
        self.add(tf.keras.layers.Dense(500, activation="leaky_relu", name="fc_1"))
        self.add(tf.keras.layers.Dense(2450, activation="leaky_relu", name="fc_2"))
        self.add(tf.keras.layers.Reshape((7, 7, 50)))
        self.add(tf.keras.layers.Conv2DTranspose(20, name="conv_1", **conv))
        self.add(tf.keras.layers.Conv2DTranspose(1, name="conv_2", **conv))


def to_unit(x: tf.Tensor) -> tf.Tensor:
    """uint8 digits (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]."""
    return tf.reshape(tf.cast(x, tf.float32) / 255.0, (-1, SIDE, SIDE, 1))


def to_uint8(x_unit: tf.Tensor) -> tf.Tensor:
    """Decoder output in [0, 1] → uint8 (N, 28, 28), rounded and saturated."""
    return tf.saturate_cast(tf.round(tf.reshape(x_unit, (-1, SIDE, SIDE)) * 255.0), tf.uint8)


class CompressionTrainer(tf.keras.Model):
    """Transforms plus the prior; ``call`` returns rate (bits/digit) and distortion."""

    def __init__(self, latent_dims: int = 50, prior: str = "logistic", distortion: str = "mae"):
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, not {prior!r}")
        if distortion not in DISTORTIONS:
            raise ValueError(f"distortion must be one of {DISTORTIONS}, not {distortion!r}")
        self.latent_dims = latent_dims
        self.prior_name = prior
        self.distortion_name = distortion
        self.analysis_transform = AnalysisTransform(latent_dims)
        self.synthesis_transform = SynthesisTransform()
        if prior == "deep":
            self._deep_prior = tfc.NoisyDeepFactorized(batch_shape=(latent_dims,))
        else:
            self.prior_log_scales = tf.Variable(tf.zeros((latent_dims,)), name="prior_log_scales")
        self.build((None, SIDE, SIDE))

    def build(self, input_shape):
        """Create every weight up front so checkpoints and exports see them all."""
        self.analysis_transform.build((None, SIDE, SIDE, 1))
        self.synthesis_transform.build((None, self.latent_dims))
        super().build(input_shape)

    @property
    def prior(self):
        """The learned per-dimension prior on the noisy latents."""
        if self.prior_name == "deep":
            return self._deep_prior
        scale = tf.exp(self.prior_log_scales)
        if self.prior_name == "normal":
            return tfc.NoisyNormal(loc=0.0, scale=scale)
        return tfc.NoisyLogistic(loc=0.0, scale=scale)

    def call(self, x, training=False):
        """Rate (mean bits per digit) and distortion (mean |x - x~| or squared, pixels in [0, 1])."""
        x = to_unit(x)
        y = self.analysis_transform(x)
        entropy_model = tfc.ContinuousBatchedEntropyModel(self.prior, coding_rank=1, compression=False)
        y_tilde, bits = entropy_model(y, training=training)
        x_tilde = self.synthesis_transform(y_tilde)
        err = x - x_tilde
        distortion = tf.reduce_mean(tf.abs(err) if self.distortion_name == "mae" else tf.square(err))
        return dict(rate=tf.reduce_mean(bits), distortion=distortion, mse255=tf.reduce_mean(tf.square(err * 255.0)))


class ExportedCodec(tf.Module):
    """What a SavedModel holds: both transforms and range-coding tables built once.

    One range-coded string carries all digits of a batch (``coding_rank=2``):
    an archive costs its entropy plus a few bits, not a few bits per digit.
    """

    def __init__(self, trainer: CompressionTrainer):
        super().__init__(name="mnistzip_codec")
        latent = trainer.latent_dims
        self.analysis_transform = trainer.analysis_transform
        self.synthesis_transform = trainer.synthesis_transform
        self.latent_dims = tf.Variable(latent, trainable=False, dtype=tf.int32, name="latent_dims")
        self.entropy_model = tfc.ContinuousBatchedEntropyModel(trainer.prior, coding_rank=2, compression=True)
        # Per-digit information content, from the same prior (no tables needed).
        self._estimator = tfc.ContinuousBatchedEntropyModel(
            trainer.prior, coding_rank=1, compression=False
        )
        # For `sample`: the same tables, but random bytes must decode without the sanity check.
        self._lenient = self._sharing_tables(coding_rank=2, decode_sanity_check=False)
        # For one-digit files: one string per digit, same tables, same bytes as a 1-digit batch.
        self._each = self._sharing_tables(coding_rank=1)
        self._define_functions(latent)

    def _sharing_tables(self, coding_rank: int, decode_sanity_check: bool = True):
        """Another view of ``self.entropy_model``'s range-coding tables (no new tables are built)."""
        em = self.entropy_model
        return tfc.ContinuousBatchedEntropyModel(
            prior_shape=em.prior_shape,
            coding_rank=coding_rank,
            compression=True,
            stateless=True,
            cdf=em.cdf,
            cdf_offset=em.cdf_offset,
            quantization_offset=em.quantization_offset,
            offset_heuristic=False,
            decode_sanity_check=decode_sanity_check,
        )

    def _define_functions(self, latent: int):
        """Wrap the entry points as tf.functions with fixed signatures (for the SavedModel)."""
        digits = tf.TensorSpec([None, SIDE, SIDE], tf.uint8)
        latents = tf.TensorSpec([None, latent], tf.float32)
        string_n = [tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32)]
        self.analyse = tf.function(self._analyse, input_signature=[digits])
        self.compress = tf.function(self._compress, input_signature=[digits])
        self.compress_latents = tf.function(self._compress_latents, input_signature=[latents])
        self.compress_each = tf.function(self._compress_each, input_signature=[digits])
        self.quantize = tf.function(self.entropy_model.quantize, input_signature=[latents])
        self.decompress = tf.function(self._decompress, input_signature=string_n)
        self.decompress_latents = tf.function(self._decompress_latents, input_signature=string_n)
        self.synthesize = tf.function(self._synthesize, input_signature=[latents])
        self.sample = tf.function(self._sample, input_signature=string_n)
        self.tables = tf.function(self._tables, input_signature=[])

    def _analyse(self, x):
        """uint8 digits → unquantised latents."""
        return self.analysis_transform(to_unit(x))

    def _compress(self, x):
        """uint8 digits → (one range-coded string for all, entropy bits per digit)."""
        y = self._analyse(x)
        _, bits = self._estimator(y, training=False)
        return self.entropy_model.compress(y), bits

    def _compress_latents(self, y):
        """Latents (quantised here) → one range-coded string."""
        return self.entropy_model.compress(y)

    def _compress_each(self, x):
        """uint8 digits → one range-coded string per digit (what a one-digit file holds)."""
        return self._each.compress(self._analyse(x))

    def _decompress_latents(self, string, n):
        """One string → the n quantised latent vectors it holds."""
        return self.entropy_model.decompress(string, tf.reshape(n, [1]))

    def _decompress(self, string, n):
        """One string → n uint8 digits."""
        return self._synthesize(self._decompress_latents(string, n))

    def _synthesize(self, y_hat):
        """Quantised latents → uint8 digits."""
        return to_uint8(self.synthesis_transform(y_hat))

    def _sample(self, string, n):
        """Any bytes → n digits: the decoder as a generative model."""
        return self._synthesize(self._lenient.decompress(string, tf.reshape(n, [1])))

    def _tables(self):
        """The range-coding tables, for hashing."""
        return self.entropy_model.cdf, self.entropy_model.cdf_offset


def weights_digest(codec: ExportedCodec) -> str:
    """SHA-256 over the codec's weights and range-coding tables (in a fixed order)."""
    h = hashlib.sha256()
    parts = [*codec.analysis_transform.weights, *codec.synthesis_transform.weights, *codec.tables()]
    for t in parts:
        a = np.ascontiguousarray(np.asarray(t))
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def tables_digest(cdf, cdf_offset) -> str:
    """SHA-256 of the range-coding tables alone, checked again at load."""
    h = hashlib.sha256()
    for t in (cdf, cdf_offset):
        h.update(np.ascontiguousarray(np.asarray(t, dtype=np.int32)).tobytes())
    return h.hexdigest()


def export(trainer: CompressionTrainer, directory, metadata: dict) -> dict:
    """Write the codec as a SavedModel plus ``model.json`` into ``directory`` (which must not exist).

    Returns the metadata as written, completed with the model id and digests.
    """
    import json
    from pathlib import Path

    from .fileio import tree_digest

    codec = ExportedCodec(trainer)
    cdf, cdf_offset = codec.tables()
    digest = weights_digest(codec)
    meta = dict(metadata)
    meta.update(
        id=digest[:4],
        weights_sha256=digest,
        tables_sha256=tables_digest(cdf, cdf_offset),
        latent_dims=trainer.latent_dims,
        prior=trainer.prior_name,
        distortion=trainer.distortion_name,
        tensorflow=tf.__version__,
        tensorflow_compression=tfc.__version__ if hasattr(tfc, "__version__") else "2.14.1",
    )
    directory = Path(directory)
    tf.saved_model.save(codec, str(directory))
    meta["files_sha256"] = tree_digest(directory, exclude=("model.json",))
    (directory / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta
