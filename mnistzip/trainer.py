"""The trainer: the transforms plus the entropy model they are trained with (rate + λ·distortion).

As TFC's ``models/bmshj2018.py``: the trainer owns the prior; ``export`` bakes
its range-coding tables into the model that codes files.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from . import conditional
from .container import SIDE
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
        if prior == "deep":
            self._deep_prior = tfc.NoisyDeepFactorized(batch_shape=shape)
        elif prior == "conditional":
            self.conditional_net = conditional.MaskedAutoregressive(latent_dims, levels, name="conditional_prior")
            self.conditional_net.build()
        else:
            self.prior_log_scales = tf.Variable(tf.zeros(shape), name="prior_log_scales")
        self.build((None, SIDE, SIDE))

    @property
    def levels(self) -> int:
        return len(self.lmbdas)

    def build(self, input_shape):
        """Create every weight up front so checkpoints and exports see them all."""
        self.analysis_transform.build((None, SIDE, SIDE, 1))
        self.synthesis_transform.build((None, self.latent_dims))
        super().build(input_shape)

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

        axes = (-3, -2, -1)
        distortion = tf.reduce_mean(tf.abs(err) if self.distortion_name == "mae" else tf.square(err), axis=axes)
        mse255 = tf.reduce_mean(tf.square(err * 255.0), axis=axes)
        return dict(rate=per_level(bits), distortion=per_level(distortion), mse255=per_level(mse255))
