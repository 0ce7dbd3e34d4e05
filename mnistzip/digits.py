"""A batch of digits as every part of mnistzip takes it: uint8 pixels, shape (N, 28, 28), white ink on black."""

from __future__ import annotations

import numpy as np

from .container import SIDE
from .errors import InputError


def check_digits(images) -> np.ndarray:
    """Validate a digit batch: uint8, shape (N, 28, 28), N >= 1 (one 28 x 28 digit is a batch of one)."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or len(images) == 0:
        raise InputError(f"expected digits of shape (N, {SIDE}, {SIDE}), found {images.shape}")
    if images.dtype != np.uint8:
        raise InputError(f"expected uint8 digits, found {images.dtype}")
    return images
