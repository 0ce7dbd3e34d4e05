"""The trainer: the transforms plus the entropy model they are trained with (rate + λ·distortion).

As TFC's ``models/bmshj2018.py``: the trainer owns the prior; ``export`` bakes
its range-coding tables into the model that codes files.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from . import conditional
from .container import CLASSES, SIDE
from .recipe import DEFAULT_LMBDA, SEED_RECIPE, check_choice
from .transforms import WIDTH, AnalysisTransform, SynthesisTransform, to_unit


class CompressionTrainer(tf.keras.Model):
    """Transforms plus the prior; ``call`` returns rate (bits/digit) and distortion per level.

    With one λ this is the seed's single-rate codec. With several (``lmbdas``,
    one per level) it is a variable-rate codec in the manner of Cui et
    al. (2021): the transforms are shared, and each level has its own gain
    vector on the latents (the decoder divides by it, so a gain is a learned
    quantisation step per dimension) and its own prior. A training batch is
    split evenly between the levels, each term weighted by its own λ.
    """

    INPUT_SHAPE = (None, SIDE, SIDE)  # what ``call`` takes: uint8 digits
    codes_class = False  # whether the codec sends each digit's class first (``ClassCodingTrainer``)

    def __init__(self, latent_dims: int = SEED_RECIPE["latent_dims"], prior: str = SEED_RECIPE["prior"],
                 distortion: str = SEED_RECIPE["distortion"], lmbdas=(DEFAULT_LMBDA,), width: int = WIDTH,
                 quantization: str = SEED_RECIPE["quantization"], synthesis: str = SEED_RECIPE["synthesis"]):
        super().__init__()
        for name, value in (("prior", prior), ("distortion", distortion), ("quantization", quantization)):
            check_choice(name, value)
        self.quantization = quantization
        self.latent_dims = latent_dims
        self.prior_name = prior
        self.distortion_name = distortion
        self.lmbdas = tuple(float(v) for v in lmbdas)
        levels = len(self.lmbdas)
        self.analysis_transform = AnalysisTransform(latent_dims, width)
        self.synthesis_transform = SynthesisTransform(width, synthesis)
        shape = (levels, latent_dims)
        # Gains start at sqrt(λ / geometric mean of the λs): at high rate the best step size
        # for squared error shrinks as 1/sqrt(λ). One level: a constant gain of 1.
        log_lmbdas = np.log(np.asarray(self.lmbdas))
        start = np.repeat((0.5 * (log_lmbdas - log_lmbdas.mean()))[:, None], latent_dims, axis=1)
        self.log_gains = tf.Variable(start.astype(np.float32), trainable=levels > 1, name="log_gains")
        self._make_prior(prior, shape)
        self.build(self.INPUT_SHAPE)

    def _make_prior(self, prior: str, shape: tuple) -> None:
        """The prior's weights, for (levels, latent_dims)."""
        if prior == "deep":
            self._deep_prior = tfc.NoisyDeepFactorized(batch_shape=shape)
        elif prior == "conditional":
            self.conditional_net = conditional.MaskedAutoregressive(shape[1], shape[0], name="conditional_prior")
            self.conditional_net.build()
        else:
            self.prior_log_scales = tf.Variable(tf.zeros(shape), name="prior_log_scales")

    @property
    def levels(self) -> int:
        return len(self.lmbdas)

    def build(self, input_shape):
        """Create every weight up front so checkpoints and exports see them all."""
        self.analysis_transform.build((None, SIDE, SIDE, 1))
        self.synthesis_transform.build((None, self.synthesis_inputs))
        super().build(input_shape)

    @property
    def synthesis_inputs(self) -> int:
        """What the synthesis transform's first layer takes."""
        return self.latent_dims

    @property
    def gains(self) -> tf.Tensor:
        """(levels, latent_dims): what each level multiplies the latents by before rounding."""
        return tf.exp(self.log_gains)

    @property
    def prior(self):
        """The learned prior on the noisy scaled latents, batch shape (levels, latent_dims)."""
        if self.prior_name == "deep":
            return self._deep_prior
        scale = tf.exp(self.prior_log_scales)
        if self.prior_name == "normal":
            return tfc.NoisyNormal(loc=0.0, scale=scale)
        return tfc.NoisyLogistic(loc=0.0, scale=scale)

    def _perturb(self, z, training: bool):
        """What ``ContinuousBatchedEntropyModel.__call__`` does, with bits per (digit, level): the
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
        dimensions before it, at every level; quantisation is centred on the predictions, as the codec's.
        "mixed" training centres on the predictions from the noisy latents (one pass, not one per dimension)."""
        n, q, dims = tf.shape(z)[0], self.levels, self.latent_dims
        flat = tf.reshape(z, (-1, dims))
        gains = tf.reshape(tf.broadcast_to(self.gains, tf.shape(z)), (-1, dims))
        level = tf.tile(tf.range(q), [n])

        def parameters_of(y):
            return conditional.parameters(self.conditional_net, y, gains, level)

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
        """Per level: rate (mean bits per digit), distortion (mean |x - x~| or squared, pixels in
        [0, 1]) and MSE on the 0-255 scale. Training gives each level an equal share of the batch
        (noisy latents); evaluation runs every digit at every level (rounded latents)."""
        x = to_unit(x)
        y = self.analysis_transform(x)
        gains = self.gains
        y_tilde, bits = self._perturb(y[:, None, :] * gains, training)  # (N, Q, L), (N, Q)
        q = self.levels
        if training:
            n = tf.shape(y)[0]
            which = (tf.range(n) * q) // n  # example i trains level which[i]
            y_tilde = tf.gather(y_tilde, which, batch_dims=1) / tf.gather(gains, which)
            bits = tf.gather(bits, which, batch_dims=1)
            err = x - self.synthesis_transform(y_tilde)

            def per_level(values):
                return tf.math.unsorted_segment_mean(values, which, q)

        else:
            x_tilde = self.synthesis_transform(tf.reshape(y_tilde / gains, (-1, self.latent_dims)))
            err = x[:, None] - tf.reshape(x_tilde, (-1, q, SIDE, SIDE, 1))

            def per_level(values):
                return tf.reduce_mean(values, axis=0)

        return self._figures(err, bits, per_level)


    def _figures(self, err, bits, per_level) -> dict:
        """Per level (``per_level`` of each digit's value): rate, distortion (the loss's) and MSE on 0-255."""
        axes = (-3, -2, -1)
        distortion = tf.reduce_mean(tf.abs(err) if self.distortion_name == "mae" else tf.square(err), axis=axes)
        mse255 = tf.reduce_mean(tf.square(err * 255.0), axis=axes)
        return dict(rate=per_level(bits), distortion=per_level(distortion), mse255=per_level(mse255))


class ClassCodingTrainer(CompressionTrainer):
    """A trainer whose codec sends each digit's class first, then only what the class leaves open.

    At low rates a codec that must say everything in 7 or 8 bits often
    decodes another digit: a 4 comes back as a 9. Telling ten classes apart
    needs only log2(10) = 3.3 bits, so here the class is a symbol of its own
    (with a table fitted to the training split's class frequencies), and the
    rest of the model is conditioned on it:

    * the prior is one deep factorized density per (level, class, latent
      dimension): the latents no longer spend bits saying which digit it is;
    * the synthesis transform takes the class's one-hot vector after the
      latents (divided by the level's gain), before its first dense layer;
    * the analysis transform is unchanged: it sees the digit, not its class.

    Training uses the true labels. The codec's encoder takes the class from
    a classifier (``classify``'s guard), since users' digits come without
    labels; the decoder gets whatever class the file says.
    """

    INPUT_SHAPE = [(None, SIDE, SIDE), (None,)]  # digits and their classes
    codes_class = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # How often each class occurs in the training split: the class symbol's table (set by ``train``).
        self.class_counts = tf.Variable(tf.ones(CLASSES, tf.int64), trainable=False, name="class_counts")

    def _make_prior(self, prior: str, shape: tuple) -> None:
        if prior != "deep":
            raise ValueError(f"a class-coding trainer has a deep prior, not {prior!r}")
        self._deep_prior = tfc.NoisyDeepFactorized(batch_shape=(shape[0], CLASSES, shape[1]))

    @property
    def synthesis_inputs(self) -> int:
        return self.latent_dims + CLASSES

    def decode(self, y_unscaled, classes):
        """The synthesis: latents (divided by the gain) and classes → digits in [0, 1] (before rounding)."""
        onehot = tf.one_hot(tf.cast(classes, tf.int32), CLASSES)
        return self.synthesis_transform(tf.concat([y_unscaled, onehot], axis=-1))

    def call(self, inputs, training=False):
        """``inputs`` = (digits, classes); per level rate, distortion and MSE on 0-255, as the parent's.
        The rate is the latents' bits: the class symbol costs every model the same."""
        x, classes = inputs
        x = to_unit(x)
        classes = tf.cast(classes, tf.int32)
        y = self.analysis_transform(x)
        gains, q = self.gains, self.levels
        if training:
            n = tf.shape(y)[0]
            which = (tf.range(n) * q) // n  # example i trains level which[i]
            level_gains = tf.gather(gains, which)
            y_tilde, bits = self._noisy_bits(y * level_gains, which, classes)
            err = x - self.decode(y_tilde / level_gains, classes)

            def per_level(values):
                return tf.math.unsorted_segment_mean(values, which, q)

        else:
            y_tilde, bits = self._rounded_bits(y[:, None, :] * gains, classes)  # (N, Q, L), (N, Q)
            flat = tf.reshape(y_tilde / gains, (-1, self.latent_dims))
            x_tilde = self.decode(flat, tf.repeat(classes, q))
            err = x[:, None] - tf.reshape(x_tilde, (-1, q, SIDE, SIDE, 1))

            def per_level(values):
                return tf.reduce_mean(values, axis=0)

        return self._figures(err, bits, per_level)

    def _noisy_bits(self, z, level, classes):
        """Training: ``z`` (N, L), each digit's scaled latents at its level, plus uniform noise, and their
        bits (N,) under the noisy densities of that level and class. Only the densities each value meets are
        evaluated (``gathered_noisy_log_prob``): a tenth of the levels' and classes' work, same value and gradient."""
        coded = z + tf.random.uniform(tf.shape(z), -0.5, 0.5)
        channel = ((level * CLASSES + classes) * self.latent_dims)[:, None] + tf.range(self.latent_dims)
        log_probs = gathered_noisy_log_prob(self._deep_prior, tf.reshape(coded, (-1,)), tf.reshape(channel, (-1,)))
        return coded, tf.reduce_sum(tf.reshape(log_probs, tf.shape(z)), axis=-1) / -tf.math.log(2.0)

    def _rounded_bits(self, z, classes):
        """Evaluation: ``z`` (N, Q, L) rounded as the codec rounds them (to the grid its class's densities are
        offset to) and their exact bits (N, Q): -log2 of the probability mass of their quantisation bins."""
        prior = self._deep_prior
        offset = tfc.distributions.helpers.quantization_offset(prior)  # (Q, 10, L)
        offset = tf.transpose(tf.gather(offset, classes, axis=1), (1, 0, 2))  # (N, Q, L)
        coded = tf.round(z - offset) + offset
        log_probs = tf.gather(prior.log_prob(coded[:, :, None, :]), classes, axis=2, batch_dims=1)  # (N, Q, L)
        return coded, tf.reduce_sum(log_probs, axis=-1) / -tf.math.log(2.0)


def gathered_noisy_log_prob(prior: tfc.NoisyDeepFactorized, y, channel):
    """``prior.log_prob`` of values ``y`` (M,), each under its own channel (M,) of the prior's flattened batch.

    TFC's ``DeepFactorized._logits_cumulative`` and
    ``UniformNoiseAdapter._log_prob_with_logsf_and_logcdf``, with each value's
    parameters gathered instead of every value broadcast against every
    channel (tests/test_trainer.py checks it against TFC's own).
    """
    base = prior.base
    logits = tf.stack([y + 0.5, y - 0.5], axis=-1)[:, None, :]  # (M, 1, 2)
    layers = len(base.num_filters) + 1
    for i in range(layers):
        logits = tf.linalg.matmul(tf.nn.softplus(tf.gather(base._matrices[i], channel)), logits)
        logits += tf.gather(base._biases[i], channel)
        if i < layers - 1:
            logits += tf.math.tanh(tf.gather(base._factors[i], channel)) * tf.math.tanh(logits)
    plus, minus = logits[:, 0, 0], logits[:, 0, 1]
    logsf_plus, logsf_minus = tf.math.log_sigmoid(-plus), tf.math.log_sigmoid(-minus)
    logcdf_plus, logcdf_minus = tf.math.log_sigmoid(plus), tf.math.log_sigmoid(minus)
    condition = logsf_plus < logcdf_plus
    big = tf.where(condition, logsf_minus, logcdf_plus)
    small = tf.where(condition, logsf_plus, logcdf_minus)
    return tf.where(tf.math.is_inf(big), big, tf.math.log1p(-tf.exp(small - big)) + big)
