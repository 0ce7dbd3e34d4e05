"""Encode-time refinement: fewer bits + λ·MSE, the same decoder, exact bit accounting under every prior."""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip import mnist
from mnistzip.refine import refine


@pytest.fixture(scope="module")
def digits():
    return mnist.images("test")[:64]


def test_refine_lowers_the_rd_cost_and_decodes_with_the_same_decoder(tiny_codec, digits):
    x = digits[:16]
    lmbda = 500.0
    base = tiny_codec.quantize(tiny_codec.latents(x))
    refined = refine(tiny_codec, x, lmbda, rounds=1)

    def cost(latents):
        recon = tiny_codec.synthesize(latents).astype(np.float64) / 255
        mse = ((recon - x / 255.0) ** 2).reshape(len(x), -1).mean(axis=1)
        return tiny_codec.latent_bits(latents) + lmbda * mse

    assert np.all(cost(refined) <= cost(base) + 1e-9) and cost(refined).sum() < cost(base).sum()
    assert np.array_equal(refined, np.round(refined))  # still on the quantisation grid
    reported = []
    mz = tiny_codec.compress_latents(refine(tiny_codec, x, lmbda, progress=reported.append))  # default rounds
    np.testing.assert_array_equal(tiny_codec.decompress(mz), tiny_codec.synthesize(refine(tiny_codec, x, lmbda)))
    assert reported == sorted(reported) and reported[0] > 0 and reported[-1] == 1.0  # the search's progress


@pytest.mark.parametrize("fixture", ["deep_codec", "cond_codec", "class_codec"])
def test_refined_latents_cost_what_the_tables_say_and_decode_as_synthesized(fixture, request):
    """A deep prior's latents sit off the integers (offsets); a conditional prior re-quantises the dimensions
    after a moved one: either way the refined latents cost on disk what the tables say, and decode to the
    digits the decoder makes of them."""
    codec = request.getfixturevalue(fixture)
    digits = mnist.images("test")[:200]
    payload, _ = codec.encode(digits)
    refined = refine(codec, digits, 1000.0, rounds=1)
    refined_payload = codec.encode_latents(refined)
    bits = 8 * len(refined_payload) / 200
    assert bits == pytest.approx(codec.latent_bits(refined).mean(), abs=0.5)
    assert bits <= 8 * len(payload) / 200 + 0.5
    np.testing.assert_array_equal(codec.decode(refined_payload, 200), codec.synthesize(refined))


def test_a_guarded_search_keeps_the_class_the_guard_reads(cond_codec):
    """With a guard, no refined digit is read as another class than its original where the encoder's was not,
    and refined digits the unguarded search moved off their class are brought back."""
    from mnistzip import classify

    digits = mnist.images("test")[:200]
    guard = classify.load(classify.GUARD)
    wanted = guard.predict(digits)
    plain = cond_codec.quantize(cond_codec.latents(digits))
    kept_before = guard.predict(cond_codec.synthesize(plain)) == wanted
    guarded = refine(cond_codec, digits, 1000.0, rounds=1, guard=guard)
    kept_after = guard.predict(cond_codec.synthesize(guarded)) == wanted
    assert kept_after[kept_before].all()
    assert kept_after.sum() >= kept_before.sum()
    np.testing.assert_array_equal(cond_codec.decode(cond_codec.encode_latents(guarded), 200),
                                  cond_codec.synthesize(guarded))


def test_refinement_leaves_a_class_coding_models_class_alone(class_codec):
    """The class in front of the latents is the guard's reading: the search moves only the latents."""
    digits = mnist.images("test")[:100]
    refined = refine(class_codec, digits, 1000.0, rounds=1)
    np.testing.assert_array_equal(refined[:, 0], class_codec.class_reader.predict(digits))
    assert (refined[:, 1:] != class_codec.quantize(class_codec.latents(digits))[:, 1:]).any()
