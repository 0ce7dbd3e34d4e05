"""The conditional entropy model: each latent dimension coded given the ones before it."""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip import mnist
from mnistzip.errors import BadMzFile


def test_each_output_depends_only_on_earlier_dimensions():
    import tensorflow as tf

    from mnistzip.conditional import MaskedAutoregressive

    net = MaskedAutoregressive(6, levels=2)
    net.build()
    net.w3.assign(tf.random.normal(net.w3.shape, seed=1))  # zero at start: make every path count
    y = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    loc, log_scale = (t.numpy() for t in net(y, tf.constant([0, 1, 0, 1])))
    for i in range(6):
        changed = y.copy()
        changed[:, i:] += 3.0
        loc2, log_scale2 = (t.numpy() for t in net(changed, tf.constant([0, 1, 0, 1])))
        np.testing.assert_allclose(loc2[:, : i + 1], loc[:, : i + 1], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(log_scale2[:, : i + 1], log_scale[:, : i + 1], rtol=1e-6, atol=1e-6)
        if i < 5:
            assert not np.allclose(loc2[:, i + 1 :], loc[:, i + 1 :])


def test_an_archive_decodes_to_the_digits_its_latents_give(cond_codec):
    digits = mnist.images("test")[:60]
    mz = cond_codec.compress(digits)
    expected = cond_codec.synthesize(cond_codec.quantize(cond_codec.latents(digits)))
    np.testing.assert_array_equal(cond_codec.decompress(mz), expected)


def test_one_digit_files_decode_like_the_archive(cond_codec):
    digits = mnist.images("test")[:5]
    archive = cond_codec.decompress(cond_codec.compress(digits))
    for i, payload in enumerate(cond_codec.encode_each(digits)):
        np.testing.assert_array_equal(cond_codec.decode(payload, 1)[0], archive[i])


def test_table_bits_match_the_range_coder(cond_codec):
    digits = mnist.images("test")[:200]
    latents = cond_codec.quantize(cond_codec.latents(digits))
    payload, entropy = cond_codec.encode(digits)
    on_disk = 8 * len(payload) / 200
    assert on_disk == pytest.approx(cond_codec.latent_bits(latents).mean(), abs=0.5)
    assert on_disk == pytest.approx(entropy.mean(), abs=1.0)  # the tables bin the predicted distributions


def test_each_level_codes_with_its_own_id(cond_model, cond_codec):
    from mnistzip.codec import Codec
    from mnistzip.errors import UnknownModel

    low = Codec.load(cond_model, level=1)
    assert low.id != cond_codec.id
    digits = mnist.images("test")[:20]
    assert len(low.compress(digits).payload) < len(cond_codec.compress(digits).payload)
    with pytest.raises(UnknownModel):
        cond_codec.decompress(low.compress(digits))


def test_garbage_payloads_decode_or_are_reported_corrupt(cond_codec):
    """Behind a valid CRC any bytes can reach the sequential decoder: digits or BadMzFile, nothing else."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        count = int(rng.integers(1, 40))
        payload = rng.bytes(int(rng.integers(0, 200)))
        try:
            digits = cond_codec.decode(payload, count)
        except BadMzFile as error:
            assert str(error).startswith("payload ")
        else:
            assert digits.shape == (count, 28, 28) and digits.dtype == np.uint8


def test_sampling_makes_digits(cond_codec):
    assert cond_codec.sample(5, seed=1).shape == (5, 28, 28)
    first, again = cond_codec.sample_prior(4, seed=2), cond_codec.sample_prior(4, seed=2)
    assert first.shape == (4, 28, 28) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)


def test_cli_round_trip_with_a_conditional_model(cli, cond_model):
    result = cli("compress", "mnist:test:0-9", "-o", "ten.mz", "-m", str(cond_model), "--level", "1")
    assert result.exit_code == 0, result.output
    result = cli("decompress", "ten.mz", "-m", str(cond_model), "-o", "ten.npy")
    assert result.exit_code == 0, result.output
    decoded = np.load("ten.npy")
    assert decoded.shape == (10, 28, 28)
