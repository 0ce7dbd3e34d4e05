"""Distortion and rate figures on uint8 digits (NumPy only).

Two PSNRs, both with a 255 peak, and they differ: ``psnr_mean`` averages each
digit's PSNR; ``psnr_of_mean_mse`` is the PSNR of the MSE over all digits
(what rate-distortion papers usually report). The second is never above the first.
"""

from __future__ import annotations

import numpy as np

PEAK = 255.0
PSNR_CAP = 99.0  # a perfectly reconstructed digit has infinite PSNR; count it as this


def per_digit_mse(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Mean squared error of each digit, pixels on the 0..255 scale."""
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(reconstruction, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return ((a - b) ** 2).reshape(len(a), -1).mean(axis=1)


def psnr_from_mse(mse) -> np.ndarray:
    """PSNR in dB with a 255 peak, capped at PSNR_CAP for exact reconstructions."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(PEAK**2 / mse)
    return np.minimum(psnr, PSNR_CAP)


def psnr_mean(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean over digits of each digit's PSNR (dB)."""
    return float(psnr_from_mse(per_digit_mse(original, reconstruction)).mean())


def psnr_of_mean_mse(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """PSNR (dB) of the MSE over all digits together."""
    return float(psnr_from_mse(per_digit_mse(original, reconstruction).mean()))


def mae(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean absolute error on the 0..255 scale."""
    return float(np.abs(np.asarray(original, np.float64) - np.asarray(reconstruction, np.float64)).mean())


def bits_per_digit(n_bytes: int, digits: int) -> float:
    """Bits on disk per digit."""
    return 8.0 * n_bytes / digits


SSIM_SIGMA = 1.5  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03
SSIM_RADIUS = 5


def _gaussian_filter_valid(x: np.ndarray) -> np.ndarray:
    """Separable 11x11 Gaussian filter over the last two axes, 'valid' region only (as ssim.m)."""
    t = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-(t**2) / (2 * SSIM_SIGMA**2))
    w /= w.sum()
    n = len(w)
    rows = sum(w[k] * x[..., k : x.shape[-2] - n + 1 + k, :] for k in range(n))
    return sum(w[k] * rows[..., :, k : x.shape[-1] - n + 1 + k] for k in range(n))


def per_digit_ssim(original: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """Structural similarity of each digit (Wang et al. 2004, 255 peak, Gaussian window)."""
    a = np.asarray(original, dtype=np.float64)
    b = np.asarray(reconstruction, dtype=np.float64)
    c1, c2 = (0.01 * PEAK) ** 2, (0.03 * PEAK) ** 2
    mu_a, mu_b = _gaussian_filter_valid(a), _gaussian_filter_valid(b)
    var_a = _gaussian_filter_valid(a * a) - mu_a**2
    var_b = _gaussian_filter_valid(b * b) - mu_b**2
    cov = _gaussian_filter_valid(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.reshape(len(a), -1).mean(axis=1)


def ssim(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean SSIM over digits."""
    return float(per_digit_ssim(original, reconstruction).mean())


def _log_rate_curve(rate, psnr):
    """Log-rate as a function of PSNR through a curve's points (PCHIP), and the PSNR range it covers.

    None when the curve has fewer than two points of distinct PSNR.
    """
    from .errors import require

    require("scipy", "eval", "BD-rate")
    from scipy.interpolate import PchipInterpolator

    rate, psnr = np.asarray(rate, np.float64), np.asarray(psnr, np.float64)
    order = np.argsort(psnr)
    psnr, log_rate = psnr[order], np.log(rate[order])
    keep = np.concatenate([[True], np.diff(psnr) > 0])  # PCHIP needs increasing abscissae
    if keep.sum() < 2:
        return None
    return PchipInterpolator(psnr[keep], log_rate[keep]), psnr[keep][0], psnr[keep][-1]


def _common_curves(ref_rate, ref_psnr, test_rate, test_psnr):
    """Both curves and the PSNR range they share, or None when they do not overlap."""
    curves = [_log_rate_curve(ref_rate, ref_psnr), _log_rate_curve(test_rate, test_psnr)]
    if None in curves:
        return None
    (ref, ref_low, ref_high), (test, test_low, test_high) = curves
    low, high = max(ref_low, test_low), min(ref_high, test_high)
    return (ref, test, low, high) if low < high else None


def bd_rate(ref_rate, ref_psnr, test_rate, test_psnr) -> float:
    """Bjøntegaard delta rate (%) of a test curve against a reference curve.

    Log-rate is interpolated as a function of PSNR with piecewise cubic Hermite
    (PCHIP) interpolation and averaged over the PSNR range both curves cover;
    negative means the test curve needs fewer bits for the same quality. NaN
    when the curves have fewer than two points or do not overlap.
    """
    common = _common_curves(ref_rate, ref_psnr, test_rate, test_psnr)
    if common is None:
        return float("nan")
    ref, test, low, high = common
    mean_log_ratio = (test.integrate(low, high) - ref.integrate(low, high)) / (high - low)
    return float((np.exp(mean_log_ratio) - 1.0) * 100.0)


def rate_savings(ref_rate, ref_psnr, test_rate, test_psnr, points: int = 8) -> list[tuple[float, float]]:
    """(PSNR, rate difference in %) at ``points`` evenly spaced PSNRs of the common range: where a
    BD-rate is won or lost (its mean, in log-rate). Empty when the curves do not overlap."""
    common = _common_curves(ref_rate, ref_psnr, test_rate, test_psnr)
    if common is None:
        return []
    ref, test, low, high = common
    return [(float(p), float((np.exp(test(p) - ref(p)) - 1.0) * 100.0)) for p in np.linspace(low, high, points)]
