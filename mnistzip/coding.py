"""Facts of the coding format that every engine and the trainer share: which table codes which symbol.

docs/format.md, "Payload", specifies three codings; what they share beyond
the range coder (``rangecoder``) and its tables (``tables``) is here, in
NumPy, so that the runtime, the TensorFlow engine and training agree by
construction:

* the **conditional prior**: a masked network (MADE) of ``HIDDEN`` units per
  layer predicts each latent dimension from the ones before it, and the
  predicted scale picks one of ``SCALE_BINS`` tables, log-spaced from
  ``SCALE_MIN`` to ``SCALE_MAX`` (:func:`table_index`);
* the **class-coding models**: row 0 codes the class, row ``1 + c * L + d``
  dimension ``d`` of a class-``c`` digit (:func:`class_rows`); the class is
  column 0 of the latents they exchange (:func:`classes_of`).
"""

from __future__ import annotations

import numpy as np

from .container import CLASSES

HIDDEN = 256  # units in each of the masked network's two hidden layers
SCALE_MIN = 0.11  # smallest logistic scale a table exists for (coded domain)
SCALE_MAX = 64.0  # largest; beyond it a scale is clipped (costs bits, never fails)
SCALE_BINS = 64  # log-spaced scale levels between the two (one table each)
LOG_SCALE_STEP = float(np.log(SCALE_MAX / SCALE_MIN) / (SCALE_BINS - 1))


def table_index(scale: np.ndarray) -> np.ndarray:
    """The table (scale bin) that codes each element: the nearest log-spaced scale, clipped to the tables'."""
    bins = np.round((np.log(scale) - np.log(SCALE_MIN)) / LOG_SCALE_STEP)
    return np.clip(bins, 0, SCALE_BINS - 1).astype(np.int64)


def degrees(latent_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """MADE degrees: inputs 1..L; hidden units cycle through 1..L-1 (deterministic: every run builds the same net)."""
    return np.arange(1, latent_dims + 1), np.arange(HIDDEN) % max(latent_dims - 1, 1) + 1


def masks(latent_dims: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which weight connects to what: output i sees inputs 0 .. i-1 only (through the hidden layers)."""
    inputs, hidden = degrees(latent_dims)
    return (hidden[None, :] >= inputs[:, None], hidden[None, :] >= hidden[:, None],
            np.tile(inputs[None, :] > hidden[:, None], (1, 2)))


def classes_of(latents: np.ndarray) -> np.ndarray:
    """A class-coding model's classes: column 0 of its latents, rounded and held to 0..9."""
    return np.clip(np.round(latents[:, 0]), 0, CLASSES - 1).astype(np.int64)


def class_rows(classes: np.ndarray, latent_dims: int) -> np.ndarray:
    """(N, L): a class-coding model's table row for each latent dimension of digits of ``classes`` (row 0 codes
    the class)."""
    return 1 + np.asarray(classes)[:, None] * latent_dims + np.arange(latent_dims)
