"""Distortion metrics against hand-computed values."""

import math

import numpy as np
import pytest

from mnistzip import metrics


def test_psnr_of_known_mse():
    a = np.zeros((1, 28, 28), np.uint8)
    b = np.full((1, 28, 28), 10, np.uint8)  # MSE 100
    assert metrics.psnr_mean(a, b) == pytest.approx(10 * math.log10(255**2 / 100))


def test_two_psnr_forms_differ_as_defined():
    a = np.zeros((2, 28, 28), np.uint8)
    b = a.copy()
    b[0] += 10  # MSE 100
    b[1] += 20  # MSE 400
    per_digit = [10 * math.log10(255**2 / 100), 10 * math.log10(255**2 / 400)]
    assert metrics.psnr_mean(a, b) == pytest.approx(sum(per_digit) / 2)
    assert metrics.psnr_of_mean_mse(a, b) == pytest.approx(10 * math.log10(255**2 / 250))
    assert metrics.psnr_of_mean_mse(a, b) < metrics.psnr_mean(a, b)


def test_exact_reconstruction_is_capped():
    a = np.arange(784, dtype=np.uint8).reshape(1, 28, 28)
    assert metrics.psnr_mean(a, a) == metrics.PSNR_CAP


def test_mae_and_bits():
    a = np.zeros((1, 28, 28), np.uint8)
    b = a.copy()
    b[0, 0, :14] = 56  # 14 pixels off by 56 → total 784 → mean 1
    assert metrics.mae(a, b) == pytest.approx(1.0)
    assert metrics.bits_per_digit(100, 10) == 80.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        metrics.per_digit_mse(np.zeros((1, 28, 28)), np.zeros((2, 28, 28)))


def test_ssim_identical_and_hand_computed_constant_shift():
    a = np.full((1, 28, 28), 100, np.uint8)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    b = np.full((1, 28, 28), 110, np.uint8)
    # flat images: only the luminance term remains, (2*100*110 + C1) / (100^2 + 110^2 + C1)
    c1 = (0.01 * 255) ** 2
    assert metrics.ssim(a, b) == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1))


def test_ssim_drops_with_noise():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 28, 28)).astype(np.uint8)
    noisy = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert 0 < metrics.ssim(a, noisy) < 0.9


def test_bd_rate_identical_curves_is_zero():
    rate, psnr = [10, 20, 40, 80], [14, 17, 19.5, 22]
    assert metrics.bd_rate(rate, psnr, rate, psnr) == pytest.approx(0.0, abs=1e-9)


def test_bd_rate_half_the_rate_everywhere_is_minus_50():
    rate, psnr = [10, 20, 40, 80], [14, 17, 19.5, 22]
    assert metrics.bd_rate(rate, psnr, [r / 2 for r in rate], psnr) == pytest.approx(-50.0)
    assert metrics.bd_rate(rate, psnr, [r * 2 for r in rate], psnr) == pytest.approx(100.0)


def test_bd_rate_only_over_the_common_range():
    # log-rate linear in PSNR (one doubling per 3 dB); the test curve covers only 17..23 dB, at half the rate
    ref = ([10, 20, 40, 80], [14, 17, 20, 23])
    test = ([10, 20, 40], [17, 20, 23])
    assert metrics.bd_rate(*ref, *test) == pytest.approx(-50.0)
    assert metrics.bd_rate(*test, *ref) == pytest.approx(100.0)


def test_bd_rate_without_overlap_is_nan():
    assert math.isnan(metrics.bd_rate([1, 2], [10, 11], [1, 2], [20, 21]))
    assert math.isnan(metrics.bd_rate([1], [10], [1, 2], [10, 11]))


def test_rate_savings_say_where_a_bd_rate_is_won():
    # the test curve needs half the rate at 14 dB and the same rate at 22 dB, log-linearly in between
    ref = ([10, 20, 40, 80], [14, 17, 19.5, 22])
    test = ([5, 20 * 2 ** -0.625, 40 * 2 ** -0.3125, 80], [14, 17, 19.5, 22])
    savings = metrics.rate_savings(*ref, *test, points=3)
    assert [p for p, _ in savings] == pytest.approx([14, 18, 22])
    assert [s for _, s in savings] == pytest.approx([-50.0, (2 ** -0.5 - 1) * 100, 0.0], abs=1.0)
    assert metrics.rate_savings([1, 2], [10, 11], [1, 2], [20, 21]) == []


def test_the_bd_rate_curve_is_scipys_pchip():
    """BD-rate needs no extra: its curve is PCHIP written out (metrics.Pchip), checked against scipy's on random
    curves, flat runs and sign changes included."""
    scipy = pytest.importorskip("scipy.interpolate")
    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(2, 9))
        x = np.sort(rng.choice(np.linspace(0, 30, 301), n, replace=False))
        y = rng.normal(size=n) if trial % 2 else np.sort(rng.normal(size=n))
        y[1:3] = y[1] if trial % 7 == 0 else y[1:3]
        ours, theirs = metrics.Pchip(x, y), scipy.PchipInterpolator(x, y)
        points = rng.uniform(x[0], x[-1], 20)
        a, b = np.sort(rng.uniform(x[0], x[-1], 2))
        np.testing.assert_allclose(ours(points), theirs(points), rtol=0, atol=1e-12)
        assert ours.integrate(a, b) == pytest.approx(theirs.integrate(a, b), abs=1e-12)
