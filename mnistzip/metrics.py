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


def rate_of(row: dict) -> float:
    """The rate an eval row's curve uses: bits on disk inside one archive for mnistzip models, per file for
    classical codecs."""
    return row.get("bits_archive") or row["bits_single_file"]


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


class Pchip:
    """A monotone piecewise cubic through points (Fritsch and Carlson's PCHIP, as ``scipy.interpolate``'s
    ``PchipInterpolator`` builds it, end slopes included), evaluated and integrated exactly: BD-rate's curve.

    Each slope inside is the weighted harmonic mean of the two secants around
    it (0 where they differ in sign or one is 0); an end's is the one-sided
    three-point estimate, held to the secant's sign and to three times it.
    """

    def __init__(self, x, y):
        self.x, self.y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        h = np.diff(self.x)
        m = np.diff(self.y) / h
        d = np.zeros_like(self.y)
        if len(self.x) == 2:
            d[:] = m[0]
        else:
            w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
            flat = (np.sign(m[1:]) != np.sign(m[:-1])) | (m[1:] == 0) | (m[:-1] == 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                d[1:-1] = np.where(flat, 0.0, (w1 + w2) / (w1 / m[:-1] + w2 / m[1:]))
            d[0], d[-1] = self._end(h[0], h[1], m[0], m[1]), self._end(h[-1], h[-2], m[-1], m[-2])
        # p(t) = y + d t + c2 t^2 + c3 t^3 on each segment, t from its start
        self.d, self.c2, self.c3 = d[:-1], (3 * m - 2 * d[:-1] - d[1:]) / h, (d[:-1] + d[1:] - 2 * m) / h**2

    @staticmethod
    def _end(h0, h1, m0, m1) -> float:
        d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(d) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(d) > 3 * abs(m0):
            return 3 * m0
        return d

    def _segment(self, p):
        k = np.clip(np.searchsorted(self.x, p, side="right") - 1, 0, len(self.x) - 2)
        return k, np.asarray(p, np.float64) - self.x[k]

    def __call__(self, p):
        k, t = self._segment(p)
        return self.y[k] + t * (self.d[k] + t * (self.c2[k] + t * self.c3[k]))

    def _primitive(self, p) -> float:
        """The integral from the first point to ``p`` (within the points' range)."""
        k, t = self._segment(p)
        whole = self.x[1:] - self.x[:-1]
        areas = self.y[:-1] * whole + self.d * whole**2 / 2 + self.c2 * whole**3 / 3 + self.c3 * whole**4 / 4
        part = self.y[k] * t + self.d[k] * t**2 / 2 + self.c2[k] * t**3 / 3 + self.c3[k] * t**4 / 4
        return float(areas[:k].sum() + part)

    def integrate(self, a: float, b: float) -> float:
        return self._primitive(b) - self._primitive(a)


def _log_rate_curve(rate, psnr):
    """Log-rate as a function of PSNR through a curve's points (PCHIP), and the PSNR range it covers.

    None when the curve has fewer than two points of distinct PSNR.
    """
    rate, psnr = np.asarray(rate, np.float64), np.asarray(psnr, np.float64)
    order = np.argsort(psnr)
    psnr, log_rate = psnr[order], np.log(rate[order])
    keep = np.concatenate([[True], np.diff(psnr) > 0])  # PCHIP needs increasing abscissae
    if keep.sum() < 2:
        return None
    return Pchip(psnr[keep], log_rate[keep]), psnr[keep][0], psnr[keep][-1]


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
