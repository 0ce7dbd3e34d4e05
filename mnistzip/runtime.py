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
  thousand) or a pixel by one grey level. On the runtime itself a digit's
  symbols never depend on its batch: a latent that float32 leaves near a
  rounding edge is computed again exactly (``analyse_exact``,
  ``codec.Codec.coding_of``).

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

import contextlib
import functools
import hashlib
import io
import zipfile

import numpy as np

from .blas import map_batches
from .coding import classes_of
from .container import CLASSES, SIDE
from .entropy import EntropyModel
from .errors import ModelError
from .layers import analysis_layers, build, run, synthesis_layers

WEIGHTS_FILE = "weights.npz"
BATCH = 128  # digits per transform call: the convolutions' patch matrices (~12 MB) stay near the caches


class Runtime:
    """A model's portable weights: its transforms and its entropy model, with the entry points of ``engine.Engine``
    (NumPy in and out; ``q`` is the level, from 0).

    Each transform is built from its arrays when first used, and checked then
    on a blank digit: a compress never reads the decoder's weights, nor a
    decompress the encoder's.
    """

    def __init__(self, weights, card):
        """``weights``: name → array, a dict or a weights file's members (read as asked for)."""
        self._weights, self._recipe, self._where = _Read(weights), card.recipe, card.path / WEIGHTS_FILE
        self.entropy = EntropyModel(weights, card)
        self.latent_dims, self.codes_class, self.coded_dims = card.latent_dims, card.codes_class, card.coded_dims
        self.dimension_major = card.dimension_major
        self.gains = self.entropy.gains
        self._gains64 = self.gains.astype(np.float64)

    @classmethod
    def load(cls, card, verify: bool = True) -> "Runtime":
        """The portable weights of a model card's directory, once their digest matched the card's (``verify``)."""
        path = card.path / WEIGHTS_FILE
        expected = card.portable_sha256
        if not path.is_file() or not expected:
            raise ModelError(f"{card.path}: no portable weights ({WEIGHTS_FILE}) for the NumPy runtime; "
                             "run it on TensorFlow with MNISTZIP_ENGINE=tf (pip install 'mnistzip[train]')")
        try:
            blob = path.read_bytes()  # read once: the bytes checked are the bytes used
        except OSError as e:
            raise ModelError(f"{path}: cannot read it ({e.strerror or e})") from None
        if verify and hashlib.sha256(blob).hexdigest() != expected:
            raise ModelError(f"{card.path}: {WEIGHTS_FILE} does not match its digest in {card.path.name}/model.json "
                             f"(the model {card.name} was altered)")
        with _readable(path):
            runtime = cls(np.load(io.BytesIO(blob), allow_pickle=False), card)
            runtime.entropy.check_shapes()
        return runtime

    @functools.cached_property
    def _analysis(self) -> list:
        with _readable(self._where):
            ops = build(analysis_layers(self._recipe), self._weights, "analysis")
            shape = run(ops, np.zeros((1, SIDE, SIDE, 1), np.float32)).shape
            if shape != (1, self.latent_dims):
                raise ValueError(f"latents {shape} do not fit latent_dims {self.latent_dims}")
        return ops

    @functools.cached_property
    def _analysis64(self) -> list:
        with _readable(self._where):
            return build(analysis_layers(self._recipe), self._weights, "analysis", np.float64)

    @functools.cached_property
    def _synthesis(self) -> list:
        with _readable(self._where):
            ops = build(synthesis_layers(self._recipe), self._weights, "synthesis")
            if run(ops, self.decoder_input(np.zeros((1, self.coded_dims), np.float32), 0)).size != SIDE * SIDE:
                raise ValueError("the synthesis does not give 28x28 digits")
        return ops

    @property
    def recipe(self) -> dict:
        """The training recipe the transforms were built from (``recipe``)."""
        return self._recipe

    def synthesis_ops(self, dtype=np.float32) -> list:
        """The decoder's layers as (op, activation) pairs (``layers.build``): float32 as :meth:`synthesize` runs
        them, float64 for sums that do not depend on the batch (the search's, ``search``)."""
        if dtype == np.float32:
            return self._synthesis
        with _readable(self._where):
            return build(synthesis_layers(self._recipe), self._weights, "synthesis", dtype)

    def kernel(self, transform: str, layer: str, dtype=np.float32) -> np.ndarray:
        """One layer's kernel (``"synthesis"``, ``"conv_1"``), as Keras stores it, widened to ``dtype``."""
        with _readable(self._where):
            return np.asarray(self._weights[f"{transform}.{layer}.kernel"], dtype)

    # -------------------------------------------------------------- transforms

    def analyse(self, images: np.ndarray, q: int) -> np.ndarray:
        """uint8 digits (N, 28, 28) → unquantised latents in level ``q``'s coded domain, float32."""
        out = np.empty((len(images), self.latent_dims), np.float32)
        for i in range(0, len(images), BATCH):
            x = images[i : i + BATCH].astype(np.float32).reshape(-1, SIDE, SIDE, 1) / np.float32(255.0)
            out[i : i + BATCH] = run(self._analysis, x) * self.gains[q]
        return out

    def analyse_exact(self, images: np.ndarray, q: int) -> np.ndarray:
        """Like :meth:`analyse`, in float64 with each digit's sums independent of the digits beside it: the
        latents a digit gets alone and in any batch, to the last bit on OpenBLAS's x86 kernels (and within
        ~1e-16 anywhere), rounded to float32 at the end. Twice as slow: for the few digits float32 leaves too
        close to a rounding edge (``codec.Codec.coding_of``).

        Every product has the digits along GEMM's N (``layers._product``), and a lone digit is paired with a
        blank one: one row alone would go to gemv, which sums in another order.
        """
        n = len(images)
        x = images.astype(np.float64).reshape(-1, SIDE, SIDE, 1) / 255.0
        if n % BATCH == 1:
            x = np.concatenate([x, np.zeros_like(x[:1])])
        out = np.empty((n, self.latent_dims), np.float32)
        for i in range(0, n, BATCH):
            out[i : i + BATCH] = (run(self._analysis64, x[i : i + BATCH]) * self._gains64[q])[: n - i]
        return out

    def synthesize(self, latents: np.ndarray, q: int) -> np.ndarray:
        """Quantised latents → uint8 digits: the decoder, then rounding and saturation."""
        latents = np.asarray(latents, np.float32)
        out = np.empty((len(latents), SIDE, SIDE), np.uint8)
        ops = self._synthesis

        def batch(i: int) -> None:
            x = run(ops, self.decoder_input(latents[i : i + BATCH], q))
            out[i : i + BATCH] = np.clip(np.round(x.reshape(-1, SIDE, SIDE) * np.float32(255.0)), 0, 255)

        map_batches(batch, range(0, len(latents), BATCH))
        return out

    def decoder_input(self, latents: np.ndarray, q: int) -> np.ndarray:
        """Quantised latents as the synthesis takes them: unscaled, and a class's one-hot vector after them."""
        gains = self.gains[q] if latents.dtype == np.float32 else self._gains64[q]
        if not self.codes_class:
            return latents / gains
        onehot = np.eye(CLASSES, dtype=latents.dtype)[classes_of(latents)]
        return np.concatenate([latents[:, 1:] / gains, onehot], axis=1)

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

    def encode_coded(self, coded: np.ndarray, rows: np.ndarray, symbols: np.ndarray, q: int) -> bytes:
        return self.entropy.encode_symbols(rows, symbols, q)

    def decode(self, payload: bytes, count: int, q: int, check: bool = True, progress=None) -> np.ndarray:
        return self.entropy.decode(payload, count, q, check, progress)

    # -------------------------------------------------------------- whole digits

    def sample(self, noise: bytes, n: int, q: int) -> np.ndarray:
        """Any bytes → ``n`` digits: the decoder as a generative model (no sanity check)."""
        return self.synthesize(self.entropy.decode(noise, n, q, check=False), q)


class _Read(dict):
    """A weights file's members, each read from the file once, when first asked for: the decoder's kernels serve
    both the decoder and the search's backward pass (``backward``)."""

    def __init__(self, members):
        super().__init__()
        self._members = members

    def __missing__(self, name: str) -> np.ndarray:
        self[name] = value = self._members[name]
        return value


@contextlib.contextmanager
def _readable(path):
    """Whatever reading or shaping a weights file's arrays raises, as one ModelError naming the file."""
    try:
        yield
    except (OSError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path}: unreadable portable weights ({type(e).__name__}: {e})") from None
