"""The decoder's and the prior's derivatives agree with finite differences, in float32 and float64."""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip import mnist
from mnistzip.backward import PriorGradient, Synthesis
from mnistzip.runtime import Runtime


def _runtime(codec) -> Runtime:
    return codec.engine if isinstance(codec.engine, Runtime) else Runtime.load(codec.card)


@pytest.mark.parametrize("fixture", ["tiny_codec", "cond_codec", "class_codec", "vr_codec"])
@pytest.mark.parametrize("count", [1, 3])
def test_the_synthesis_gradient_is_the_finite_difference(fixture, count, request):
    codec = request.getfixturevalue(fixture)
    digits = mnist.images("test")[:count]
    latents = codec.coding_of(digits)[1].astype(np.float64)
    synthesis = Synthesis(_runtime(codec), codec.level.index, np.float64)
    weights = np.random.default_rng(0).normal(size=(count, 28, 28))
    _, masks = synthesis.forward(latents, keep=True)
    gradient = synthesis.gradient(masks, weights)
    first = int(codec.codes_class)
    for d in range(first, latents.shape[1], 3):
        step = np.zeros_like(latents)
        step[:, d] = 1e-5
        up, down = synthesis.forward(latents + step)[0], synthesis.forward(latents - step)[0]
        numeric = ((up - down) * weights).reshape(count, -1).sum(axis=1) / 2e-5
        np.testing.assert_allclose(gradient[:, d], numeric, rtol=1e-4, atol=1e-6)
    if first:
        assert np.all(gradient[:, 0] == 0)  # the class is not a number to move
    synthesis32 = Synthesis(_runtime(codec), codec.level.index)
    _, masks32 = synthesis32.forward(latents, keep=True)
    np.testing.assert_allclose(synthesis32.gradient(masks32, weights), gradient, rtol=1e-3, atol=1e-4)


def test_the_prior_vjp_is_the_finite_difference(cond_codec):
    runtime = _runtime(cond_codec)
    net = runtime.entropy.network
    q = cond_codec.level.index
    latents = cond_codec.coding_of(mnist.images("test")[:4])[1].astype(np.float64)
    prior = PriorGradient(runtime.entropy, q, np.float64)
    rng = np.random.default_rng(1)
    u_loc, u_ls = rng.normal(size=latents.shape), rng.normal(size=latents.shape)
    gains = runtime.entropy.gains[q].astype(np.float64)

    def outputs(y):
        h = np.maximum(a := (y / gains) @ net.w1 + net.b1[q], a * 0.2000000029802322)
        h = np.maximum(a := h @ net.w2 + net.b2, a * 0.2000000029802322)
        out = h @ net.w3 + net.b3[q]
        L = net.latent_dims
        return out[:, :L] * gains, out[:, L:]

    vjp = prior.vjp(prior.slopes(latents), location=u_loc, log_scale=u_ls)
    for d in range(latents.shape[1]):
        step = np.zeros_like(latents)
        step[:, d] = 1e-6
        (lu, su), (ld, sd) = outputs(latents + step), outputs(latents - step)
        numeric = (((lu - ld) * u_loc + (su - sd) * u_ls).sum(axis=1)) / 2e-6
        np.testing.assert_allclose(vjp[:, d], numeric, rtol=1e-5, atol=1e-7)
