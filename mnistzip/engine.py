"""What a codec needs of the code that runs a model: the ``Engine`` protocol, which two engines satisfy.

* ``runtime.Runtime``: the model's portable weights run with NumPy alone (the
  default, what every everyday command uses);
* ``tfengine.TFEngine``: the exported SavedModel run by TensorFlow
  (``MNISTZIP_ENGINE=tf``), the reference the runtime is checked against.

Both take and give NumPy arrays, and ``q``, the model's level counted from 0.
Latents are in the coded domain (times the level's gains); a class-coding
model's have the class in front (``coding``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Engine(Protocol):
    latent_dims: int
    dimension_major: bool  # the stream holds every digit's first symbol, then every digit's second, ...

    def tables(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Level ``q``'s range-coding tables (cdf, cdf_offset), as exported."""

    def analyse(self, images: np.ndarray, q: int) -> np.ndarray:
        """uint8 digits (N, 28, 28) → unquantised latents (N, L) float32."""

    def analyse_exact(self, images: np.ndarray, q: int) -> np.ndarray:
        """Like ``analyse``, with each digit's sums independent of the batch it is in (the runtime's float64;
        the reference's is its ``analyse``)."""

    def synthesize(self, latents: np.ndarray, q: int) -> np.ndarray:
        """Quantised latents → uint8 digits (N, 28, 28)."""

    def quantize(self, latents: np.ndarray, q: int) -> np.ndarray:
        """Latents rounded as the range coder rounds them."""

    def offset(self, q: int) -> np.ndarray:
        """Each dimension's quantisation offset (a factorized prior's; zeros for a conditional one)."""

    def conditionals(self, latents: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(latents as coded, table row, symbol) of every element."""

    def predict(self, y_hat: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Quantised latents → (location, table row) of every element given the ones before it (conditional)."""

    def encode(self, latents: np.ndarray, q: int) -> bytes:
        """Latents (quantised here) → one range-coded string."""

    def encode_coded(self, coded: np.ndarray, rows: np.ndarray, symbols: np.ndarray, q: int) -> bytes:
        """What ``conditionals`` gave → one range-coded string."""

    def decode(self, payload: bytes, count: int, q: int, progress=None) -> np.ndarray:
        """One string → the (count, L) quantised latents it holds (``ValueError``, or ``BadMzFile``, when corrupt)."""

    def sample(self, noise: bytes, n: int, q: int) -> np.ndarray:
        """Any bytes → ``n`` digits (no sanity check)."""
