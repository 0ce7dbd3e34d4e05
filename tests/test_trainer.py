"""The trainer: what the decoder sees in training, and the choices it is told."""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip.trainer import CompressionTrainer


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
