"""The encoder's search: fewer bits + λ·MSE than rounding, the same decoder, and a digit's code its own."""

from __future__ import annotations

import numpy as np
import pytest

from mnistzip import mnist, search
from mnistzip.search import Effort, Search


def _cost(codec, images, coded, rows, symbols, lmbda):
    """bits + λ·MSE of what the decoder gives back (grey levels, as a user sees them)."""
    recon = codec.synthesize(coded).astype(np.float64) / 255
    mse = ((recon - images / 255.0) ** 2).reshape(len(images), -1).mean(axis=1)
    return codec.tables.bits(rows, symbols) + lmbda * mse


@pytest.mark.parametrize("fixture", ["tiny_codec", "deep_codec", "cond_codec", "class_codec"])
def test_the_search_lowers_bits_plus_lambda_mse_and_decodes_with_the_same_decoder(fixture, request):
    """Under every prior (a class-coding model's class never moves): the searched symbols cost less in all, cost
    on disk what the tables say, and decode to what the decoder makes of them."""
    codec = request.getfixturevalue(fixture)
    digits = mnist.images("test")[:120]
    plain = codec.coding_of(digits)[1:]
    coded, rows, symbols = Search(codec, lmbda=1000.0).coding(digits)
    before, after = _cost(codec, digits, *plain, 1000.0), _cost(codec, digits, coded, rows, symbols, 1000.0)
    assert after.sum() < before.sum()
    assert np.mean(after <= before + 1e-3) > 0.95  # the search's MSE is the decoder's before rounding to grey levels
    if codec.codes_class:
        np.testing.assert_array_equal(symbols[:, 0], plain[2][:, 0])
    payload = codec.encode_coded(coded, rows, symbols)
    assert 8 * len(payload) / len(digits) == pytest.approx(codec.tables.bits(rows, symbols).mean(), abs=0.5)
    np.testing.assert_array_equal(codec.decode(payload, len(digits)), codec.synthesize(coded))
    np.testing.assert_array_equal(codec.coding(coded)[2], symbols)  # the coder re-quantises them as they are


def test_fast_is_plain_rounding_and_the_default_searches(cond_codec):
    digits = mnist.images("test")[:40]
    assert search.compress(cond_codec, digits, fast=True) == cond_codec.compress(digits)
    searched = search.compress(cond_codec, digits)
    assert searched.payload != cond_codec.compress(digits).payload
    np.testing.assert_array_equal(cond_codec.decompress(searched),
                                  cond_codec.synthesize(Search(cond_codec).coding(digits)[0]))


def _batched(codec, digits, size, shift):
    starts = [0, *range(shift, len(digits), size)]
    return np.concatenate([Search(codec).coding(digits[a:b])[2] for a, b in zip(starts, [*starts[1:], len(digits)])
                           if b > a])


def test_a_digit_gets_the_same_searched_symbols_alone_and_in_any_batch():
    """At the shipped default: alone, and in batches of 2, 3, 7 and 60 at several shifts."""
    from mnistzip import zoo

    codec = zoo.load()
    digits = mnist.images("test", rows=slice(6940, 7000))
    alone = np.stack([Search(codec).coding(digits[i : i + 1])[2][0] for i in range(len(digits))])
    for size, shift in ((2, 1), (3, 0), (3, 2), (7, 4), (60, 0)):
        np.testing.assert_array_equal(_batched(codec, digits, size, shift), alone, err_msg=f"{size}, {shift}")


def test_the_guard_sends_close_calls_to_sums_that_do_not_depend_on_the_batch(monkeypatch):
    """float32 scores move with a digit's place in its call and with the values beside it. Here that noise is
    played, large (up to 0.1 bits), with MARGIN widened to match: a digit gets one code alone and in any batch,
    where without the guard (MARGIN 0) some digits get two."""
    from mnistzip import zoo

    codec = zoo.load()
    digits = mnist.images("test")[:48]
    exact_mse = search._mse

    def noisy_mse(out, target):
        where = np.arange(len(out)) * 1.7 + len(out) * 0.9 + 1e3 * out.reshape(len(out), -1).sum(axis=1)
        played = 0.1 / codec.level.lmbda * np.sin(where)
        return exact_mse(out, target) + (played if out.dtype == np.float32 else 0.0)

    monkeypatch.setattr(search, "_mse", noisy_mse)

    def codes(size):
        return np.concatenate([Search(codec).coding(digits[i : i + size])[2] for i in range(0, len(digits), size)])

    monkeypatch.setattr(search, "MARGIN", 0.0)
    assert not np.array_equal(codes(1), codes(48))  # the premise: unguarded, the noise moves some digit's code
    monkeypatch.setattr(search, "MARGIN", 0.5)
    alone = codes(1)
    np.testing.assert_array_equal(codes(48), alone)
    np.testing.assert_array_equal(codes(5), alone)


def test_what_the_guard_keeps_in_float32_is_what_float64_gives(cond_codec, monkeypatch):
    """A decision float32 leaves wider than MARGIN is the one the exact sums take: sending every digit to the
    float64 search changes no symbol."""
    digits = mnist.images("test")[:100]
    guarded = Search(cond_codec, lmbda=1000.0).coding(digits)[2]
    monkeypatch.setattr(search, "MARGIN", np.inf)
    np.testing.assert_array_equal(Search(cond_codec, lmbda=1000.0).coding(digits)[2], guarded)


def test_more_effort_finds_at_least_as_much(cond_codec):
    digits = mnist.images("test")[:100]
    light = Search(cond_codec, lmbda=1000.0, effort=Effort(moves=1, threshold=0.0, rounds=1)).coding(digits)
    heavy = Search(cond_codec, lmbda=1000.0).coding(digits)
    plain = cond_codec.coding_of(digits)[1:]
    costs = [_cost(cond_codec, digits, *c, 1000.0).sum() for c in (plain, light, heavy)]
    assert costs[0] > costs[1] > costs[2]
