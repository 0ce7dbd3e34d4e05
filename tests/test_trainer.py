"""The trainer: what the decoder sees in training, and the choices it is told."""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip.trainer import ClassCodingTrainer, CompressionTrainer, gathered_noisy_log_prob


@pytest.mark.parametrize("prior", ["deep", "conditional"])
def test_mixed_quantization_trains_the_decoder_on_rounded_latents_straight_through(prior):
    """With "mixed", the decoder trains on the latents the codec would decode (noise only for the rate)."""
    import tensorflow as tf

    tf.random.set_seed(1)
    z = tf.random.normal((50, 2, 6)) * 3  # (digits, levels, latents), in the coded domain
    seen = {}
    for quantization in ("noise", "mixed"):
        trainer = CompressionTrainer(6, prior, "mse", (300, 3000), width=16, quantization=quantization)
        if prior == "conditional":  # predictions that do not move with the noise: loc 0 for every dimension
            for v in trainer.conditional_net.variables:
                v.assign(tf.zeros_like(v))
        with tf.GradientTape() as tape:
            tape.watch(z)
            seen[quantization], bits = trainer._perturb(z, training=True)
        assert bits.shape == (50, 2)
        np.testing.assert_allclose(tape.gradient(seen[quantization], z), np.ones(z.shape))  # the encoder still learns
    decoded = trainer._perturb(z, training=False)[0]
    np.testing.assert_allclose(seen["mixed"], decoded, atol=1e-6)
    assert np.abs(seen["noise"] - decoded).max() > 0.1


@pytest.mark.parametrize("choice, message", [
    (dict(prior="flat"), "prior must be one of logistic, normal, deep, conditional, not 'flat'"),
    (dict(distortion="l3"), "distortion must be one of mae, mse, not 'l3'"),
    (dict(quantization="soft"), "quantization must be one of noise, mixed, not 'soft'"),
    (dict(synthesis="gdn"), "synthesis must be one of seed, conv3, not 'gdn'"),
])
def test_a_python_caller_is_told_the_choices(choice, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        CompressionTrainer(latent_dims=4, **choice)


def test_gathered_log_prob_is_tfcs_own_at_each_digits_level_and_class():
    """The class-coding trainer evaluates only the densities each value meets; TFC's log_prob of every value under
    every (level, class, dimension), picked afterwards, gives the same figures."""
    import tensorflow as tf

    trainer = ClassCodingTrainer(6, "deep", "mse", (300, 3000), width=16)
    prior = trainer.prior
    for v in prior.trainable_variables:  # away from the initialisation, where every channel is the same density
        v.assign(v + tf.random.stateless_normal(v.shape, (1, 2), stddev=0.3))
    rng = np.random.default_rng(0)
    n, q, dims = 64, 2, 6
    z = rng.normal(0, 4, (n, dims)).astype(np.float32)
    level, cls = rng.integers(0, q, n), rng.integers(0, 10, n)
    every = prior.log_prob(np.broadcast_to(z[:, None, None, :], (n, q, 10, dims))).numpy()  # (n, Q, 10, L)
    expected = every[np.arange(n), level, cls]
    channel = ((level * 10 + cls) * dims)[:, None] + np.arange(dims)
    got = gathered_noisy_log_prob(prior, tf.constant(z.reshape(-1)), tf.constant(channel.reshape(-1)))
    np.testing.assert_allclose(got.numpy().reshape(n, dims), expected, rtol=1e-5, atol=1e-5)


def test_a_class_coding_trainer_decodes_given_the_class():
    """The synthesis takes the class: the same latents decoded as two classes give two digits."""
    trainer = ClassCodingTrainer(6, "deep", "mse", (300,), width=16)
    assert trainer.synthesis_transform.layers[0].kernel.shape[0] == 6 + 10
    y = np.zeros((2, 6), np.float32)
    out = trainer.decode(y, np.array([3, 8])).numpy()
    assert out.shape == (2, 28, 28, 1) and np.abs(out[0] - out[1]).max() > 0
    rate = trainer((np.zeros((4, 28, 28), np.uint8), np.array([0, 1, 2, 3])), training=True)["rate"]
    assert rate.shape == (1,) and np.isfinite(rate.numpy()).all()
