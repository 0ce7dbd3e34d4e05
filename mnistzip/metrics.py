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
