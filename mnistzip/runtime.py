"""The runtime: an exported model run with NumPy alone, writing and reading the same .mz files as TensorFlow.

Everyday commands (compress, decompress, sample, info, eval) load a model's
*portable weights* (``weights.npz``, written beside the SavedModel at export)
and run here; TensorFlow is needed only to train, and for the reference engine
(``MNISTZIP_ENGINE=tf``, see ``tfengine``) that the tests cross-check against.
Both satisfy ``engine.Engine``.

What must match the SavedModel, and how closely (docs/format.md, "A second implementation"):

* **The range coder and its tables: exactly.** ``rangecoder`` is TFC 2.14.1's
  coder integer for integer, and the tables are the exported ones, never
  rebuilt from floats.
* **The conditional prior's table choice: exactly** (``entropy``, in float64).
* **The transforms: closely** (``layers``). They run in float32 like
  TensorFlow's; a different summation order can move a latent across a
  rounding boundary (a different but valid symbol, on a few digits in ten
  thousand) or a pixel by one grey level.

Weights file
    ``weights.npz`` (NumPy's format, read with ``allow_pickle=False``, only
    after its SHA-256 matched ``portable_sha256`` in the card): each layer's
    ``{transform}.{layer}.kernel`` / ``.bias`` as Keras stores them (float16
    for a model exported with ``half``, widened to float32 to compute), the
    per-level ``gains`` (levels, L), and per level ``level{n}.cdf`` /
    ``level{n}.cdf_offset`` (the range-coding tables). A factorized model adds
    ``offset`` (levels, L), each level's quantisation offset; a conditional one
    the masked network's ``conditional.w1`` .. ``conditional.b3``; a
    class-coding one ``offset`` (levels, 10, L), per level and class.

Class-coding models (``recipe["code_class"]``) exchange latents with the
class in front: column 0 is the class, the others the latents. The synthesis
takes the class's one-hot vector after the latents.
"""

from __future__ import annotations

import zipfile

import numpy as np

from .coding import classes_of
from .container import CLASSES, SIDE
from .entropy import EntropyModel
from .errors import ModelError
from .fileio import file_digest
from .layers import analysis_layers, build, run, synthesis_layers

WEIGHTS_FILE = "weights.npz"
BATCH = 128  # digits per transform call: the convolutions' patch matrices (~12 MB) stay near the caches


class Runtime:
    """A model's portable weights: its transforms and its entropy model, with the entry points of ``engine.Engine``
    (NumPy in and out; ``q`` is the level, from 0)."""

    def __init__(self, weights: dict, card):
        weights = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in weights.items()}
        self.entropy = EntropyModel(weights, card)
        self.latent_dims, self.codes_class, self.coded_dims = card.latent_dims, card.codes_class, card.coded_dims
        self.dimension_major = card.dimension_major
        self.gains = self.entropy.gains
        self._analysis = build(analysis_layers(card.recipe), weights, "analysis")
        self._synthesis = build(synthesis_layers(card.recipe), weights, "synthesis")

    @classmethod
    def load(cls, card, verify: bool = True) -> "Runtime":
        """The portable weights of a model card's directory, once their digest matched the card's (``verify``)."""
        path = card.path / WEIGHTS_FILE
        expected = card.portable_sha256
        if not path.is_file() or not expected:
            raise ModelError(f"{card.path}: no portable weights ({WEIGHTS_FILE}) for the NumPy runtime; "
                             "run it on TensorFlow with MNISTZIP_ENGINE=tf (pip install 'mnistzip[train]')")
        if verify and file_digest(path) != expected:
            raise ModelError(f"{card.path}: {WEIGHTS_FILE} does not match its digest in {card.path.name}/model.json "
                             f"(the model {card.name} was altered)")
        try:
            with np.load(path, allow_pickle=False) as npz:
                weights = {k: npz[k] for k in npz.files}
            runtime = cls(weights, card)
            runtime._check_shapes()
        except (OSError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as e:
            raise ModelError(f"{path}: unreadable portable weights ({type(e).__name__}: {e})") from None
        return runtime

    def _check_shapes(self) -> None:
        """Refuse weights that are not the recipe's model (raised as ValueError, reported by ``load``)."""
        self.entropy.check_shapes()
        x = self.analyse(np.zeros((1, SIDE, SIDE), np.uint8), 0)
        if x.shape != (1, self.latent_dims):
            raise ValueError(f"latents {x.shape} do not fit latent_dims {self.latent_dims}")
        if self.synthesize(np.zeros((1, self.coded_dims), np.float32), 0).shape != (1, SIDE, SIDE):
            raise ValueError("the synthesis does not give 28x28 digits")

    # -------------------------------------------------------------- transforms

    def analyse(self, images: np.ndarray, q: int) -> np.ndarray:
        """uint8 digits (N, 28, 28) → unquantised latents in level ``q``'s coded domain, float32."""
        out = np.empty((len(images), self.latent_dims), np.float32)
        for i in range(0, len(images), BATCH):
            x = images[i : i + BATCH].astype(np.float32).reshape(-1, SIDE, SIDE, 1) / np.float32(255.0)
            out[i : i + BATCH] = run(self._analysis, x) * self.gains[q]
        return out

    def synthesize(self, latents: np.ndarray, q: int) -> np.ndarray:
        """Quantised latents → uint8 digits: the decoder, then rounding and saturation."""
        latents = np.asarray(latents, np.float32)
        out = np.empty((len(latents), SIDE, SIDE), np.uint8)
        for i in range(0, len(latents), BATCH):
            batch = latents[i : i + BATCH]
            if self.codes_class:  # the latents, then the class's one-hot vector
                onehot = np.eye(CLASSES, dtype=np.float32)[classes_of(batch)]
                x = run(self._synthesis, np.concatenate([batch[:, 1:] / self.gains[q], onehot], axis=1))
            else:
                x = run(self._synthesis, batch / self.gains[q])
            out[i : i + BATCH] = np.clip(np.round(x.reshape(-1, SIDE, SIDE) * np.float32(255.0)), 0, 255)
        return out

    # -------------------------------------------------------------- the entropy model's, as the engine's

    def tables(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        return self.entropy.tables(q)

    def quantize(self, latents: np.ndarray, q: int) -> np.ndarray:
        return self.entropy.quantize(latents, q)

    def offset(self, q: int) -> np.ndarray:
        return self.entropy.offset(q)

    def conditionals(self, latents: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.entropy.conditionals(latents, q)

    def predict(self, y_hat: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
        return self.entropy.predict(y_hat, q)

    def encode(self, latents: np.ndarray, q: int) -> bytes:
        return self.entropy.encode(latents, q)

    def decode(self, payload: bytes, count: int, q: int, check: bool = True, progress=None) -> np.ndarray:
        return self.entropy.decode(payload, count, q, check, progress)

    # -------------------------------------------------------------- whole digits

    def compress(self, images: np.ndarray, q: int) -> tuple[bytes, np.ndarray]:
        """Digits → (one range-coded string, bits per digit: the ideal code length under the tables)."""
        _, rows, symbols = self.entropy.conditionals(self.analyse(images, q), q)
        return self.entropy.encode_symbols(rows, symbols, q), self.entropy.bits(rows, symbols, q)

    def compress_each(self, images: np.ndarray, q: int) -> list[bytes]:
        """Digits → one range-coded string per digit."""
        return self.entropy.encode_each(self.analyse(images, q), q)

    def sample(self, noise: bytes, n: int, q: int) -> np.ndarray:
        """Any bytes → ``n`` digits: the decoder as a generative model (no sanity check)."""
        return self.synthesize(self.entropy.decode(noise, n, q, check=False), q)
