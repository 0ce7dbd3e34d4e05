"""A conditional entropy model across latent dimensions: each one's distribution predicted from those before it.

A factorized prior codes every latent dimension on its own, so what the
dimensions share (the digit's class, its slant, its stroke) is paid for
several times. Here a masked network (MADE, Germain et al. 2015) predicts a
logistic location and scale for dimension ``i`` from the quantised dimensions
``0 .. i-1`` and the quality level, so each dimension costs only what the
earlier ones did not already say.

Latents are quantised on the integer grid (as a factorized prior with no
offset does), so encoding is one pass of the network. Range coding uses TFC's
indexed tables: a table per (scale bin, sub-integer location bin), built once
at export and saved in the model, shifted by the integer part of the
location. Decoding is sequential: dimension ``i`` is decoded, then the
network runs again to give dimension ``i+1`` its table; all digits of an
archive advance together, the stream holds dimension 0 of every digit, then
dimension 1, and so on.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

HIDDEN = 256  # units in each of the network's two hidden layers
SCALE_MIN = 0.11  # smallest logistic scale a table exists for (coded domain)
SCALE_MAX = 64.0  # largest; beyond it a scale is clipped (costs bits, never fails)
SCALE_BINS = 64  # log-spaced scale levels between the two
LOC_BINS = 8  # sub-integer location levels: a table's centre is within 1/16 of the prediction
TAIL_MASS = 2.0**-8  # probability left to TFC's escape code, as its models default to


def _degrees(latent_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """MADE degrees: inputs 1..L; hidden units cycle through 1..L-1 (deterministic, so every run builds the same net)."""
    inputs = np.arange(1, latent_dims + 1)
    hidden = np.arange(HIDDEN) % max(latent_dims - 1, 1) + 1
    return inputs, hidden


class MaskedAutoregressive(tf.keras.layers.Layer):
    """(latents in the unit domain, quality one-hot) → location and log-scale of every dimension.

    Output ``i`` depends only on inputs ``0 .. i-1`` (and the quality), by masks on the weights.
    """

    def __init__(self, latent_dims: int, qualities: int, **kwargs):
        super().__init__(**kwargs)
        self.latent_dims, self.qualities = latent_dims, qualities
        inputs, hidden = _degrees(latent_dims)
        self._m1 = tf.constant(hidden[None, :] >= inputs[:, None], tf.float32)
        self._m2 = tf.constant(hidden[None, :] >= hidden[:, None], tf.float32)
        self._m3 = tf.constant(np.tile(inputs[None, :] > hidden[:, None], (1, 2)), tf.float32)

    def build(self, input_shape=None):
        """Weights: two masked hidden layers, a masked output, and the quality's own biases."""
        L, H, Q = self.latent_dims, HIDDEN, self.qualities
        glorot = tf.keras.initializers.GlorotUniform(seed=0)
        self.w1 = self.add_weight(name="w1", shape=(L, H), initializer=glorot)
        self.w2 = self.add_weight(name="w2", shape=(H, H), initializer=glorot)
        self.w3 = self.add_weight(name="w3", shape=(H, 2 * L), initializer="zeros")
        self.b1 = self.add_weight(name="b1", shape=(Q, H), initializer="zeros")
        self.b2 = self.add_weight(name="b2", shape=(H,), initializer="zeros")
        self.b3 = self.add_weight(name="b3", shape=(Q, 2 * L), initializer="zeros")
        super().build(input_shape)

    def call(self, y_unit, quality):
        """``y_unit`` (N, L), ``quality`` (N,) int → (loc, log_scale), each (N, L), in the unit domain."""
        h = tf.nn.leaky_relu(y_unit @ (self.w1 * self._m1) + tf.gather(self.b1, quality))
        h = tf.nn.leaky_relu(h @ (self.w2 * self._m2) + self.b2)
        out = h @ (self.w3 * self._m3) + tf.gather(self.b3, quality)
        return out[:, : self.latent_dims], out[:, self.latent_dims :]


def parameters(net: MaskedAutoregressive, y_coded, gains, quality):
    """(loc, scale) of every dimension's conditional logistic, in the coded domain (latents times the gains).

    ``y_coded`` (N, L) noisy or quantised latents; ``gains`` (N, L); ``quality`` (N,).
    The network sees the unit domain, so one network serves every quality.
    """
    loc, log_scale = net(y_coded / gains, quality)
    return gains * loc, tfc.lower_bound(gains * tf.exp(log_scale), SCALE_MIN)


def bits(loc, scale, y_coded):
    """Bits per digit of latents under their conditional priors (noisy: a density; integers: exact)."""
    return tf.reduce_sum(tfc.NoisyLogistic(loc=loc, scale=scale).log_prob(y_coded), axis=-1) / -tf.math.log(2.0)


def _log_scale_step() -> float:
    return float(np.log(SCALE_MAX / SCALE_MIN) / (SCALE_BINS - 1))


def table_model() -> tfc.ContinuousIndexedEntropyModel:
    """The range-coding tables: one per (scale bin, location bin), built once, saved as variables."""
    step = _log_scale_step()
    return tfc.ContinuousIndexedEntropyModel(
        prior_fn=tfc.NoisyLogistic,
        index_ranges=(SCALE_BINS, LOC_BINS),
        parameter_fns=dict(
            scale=lambda i: tf.exp(np.log(SCALE_MIN) + step * i[..., 0]),
            loc=lambda i: (i[..., 1] + 0.5) / LOC_BINS - 0.5,
        ),
        coding_rank=2,
        compression=True,
        tail_mass=TAIL_MASS,
    )


def table_indexes(loc, scale):
    """(flat table index, integer shift) of every element: the shifted table that codes it."""
    shift = tf.floor(loc + 0.5)
    frac = loc - shift  # in [-0.5, 0.5)
    loc_bin = tf.clip_by_value(tf.floor((frac + 0.5) * LOC_BINS), 0, LOC_BINS - 1)
    scale_bin = tf.clip_by_value(
        tf.round((tf.math.log(scale) - np.log(SCALE_MIN)) / _log_scale_step()), 0, SCALE_BINS - 1
    )
    return tf.cast(scale_bin * LOC_BINS + loc_bin, tf.int32), tf.cast(shift, tf.int32)


def encode(tables, y_hat, index, shift, per_digit: bool):
    """Integer latents (N, L) → one string holding all digits (dimension-major), or one string per digit."""
    symbols = tf.cast(y_hat, tf.int32) - shift - tf.gather(tables.cdf_offset, index)
    if per_digit:
        handle = tfc.create_range_encoder(tf.shape(index)[:1], tables.cdf)
        handle = tfc.entropy_encode_index(handle, index, symbols)
    else:
        handle = tfc.create_range_encoder([], tables.cdf)
        handle = tfc.entropy_encode_index(handle, tf.transpose(index), tf.transpose(symbols))
    return tfc.entropy_encode_finalize(handle)


def decode(tables, string, n, latent_dims: int, parameters_of, sanity_check: bool = True):
    """One string → the (n, L) integer latents it holds, one dimension at a time.

    ``parameters_of(y_hat)`` gives (loc, scale) for partly decoded latents
    (zeros where not yet decoded; the masks make them irrelevant).
    """
    handle = tfc.create_range_decoder(string, tables.cdf)
    columns = []
    for i in range(latent_dims):
        known = tf.stack(columns + [tf.zeros([n])] * (latent_dims - i), axis=1)
        index, shift = table_indexes(*parameters_of(known))
        handle, symbols = tfc.entropy_decode_index(handle, index[:, i], tf.reshape(n, [1]), tf.int32)
        value = symbols + tf.gather(tables.cdf_offset, index[:, i]) + shift[:, i]
        columns.append(tf.cast(value, tf.float32))
    sane = tfc.entropy_decode_finalize(handle)
    y_hat = tf.stack(columns, axis=1)
    if sanity_check:
        with tf.control_dependencies([tf.debugging.assert_equal(sane, True, message="Sanity check failed.")]):
            y_hat = tf.identity(y_hat)
    return y_hat
