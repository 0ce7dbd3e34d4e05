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
