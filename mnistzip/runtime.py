"""The runtime: an exported model run with NumPy alone, writing and reading the same .mz files as TensorFlow.

Everyday commands (compress, decompress, sample, info, eval) load a model's
*portable weights* (``weights.npz``, written beside the SavedModel at export)
and run here; TensorFlow is needed only to train, and for the reference path
(``MNISTZIP_ENGINE=tf``, see ``tfengine``) that the tests cross-check against.

What must match the SavedModel, and how closely (docs/format.md, "A second implementation"):

* **The range coder and its tables: exactly.** ``rangecoder`` is TFC 2.14.1's
  coder integer for integer, and the tables are the exported ones, never
  rebuilt from floats.
* **The conditional prior's table choice: exactly.** Each element's scale
  bin decides which table codes it; encoder and decoder must agree on it or
  the rest of the stream is lost. The masked network runs in float64, as the
  SavedModel's does, so the two differ by ~1e-14 bins (summation order),
  while the closest scale to a bin boundary is 1.9e-7 bins away on the test
  split and 1.3e-9 on the training split (``benchmarks/runtime_parity.py``).
* **The transforms: closely.** They run in float32 like TensorFlow's; a
  different summation order can move a latent across a rounding boundary
  (a different but valid symbol, on a few digits in ten thousand) or a pixel
  by one grey level.

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
class in front: column 0 is the class, the others the latents. Level ``q``'s
tables code the class with row 0 and dimension ``d`` of a class-``c`` digit
with row ``1 + c * L + d``; the synthesis takes the class's one-hot vector
after the latents.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np

from . import rangecoder
from .container import CLASSES, SIDE
from .errors import ModelError
from .fileio import file_digest
from .tables import Tables

WEIGHTS_FILE = "weights.npz"
# tf.nn.leaky_relu's 0.2 is a float32 attribute: in float64 it is 0.20000000298023224, not 0.2, and the
# conditional prior's table choice must match TensorFlow's to the last bit.
LEAKY_SLOPE = float(np.float32(0.2))
BATCH = 128  # digits per transform call: the convolutions' patch matrices (~12 MB) stay near the caches
ROWS = 2048  # digits per masked-network call (float64 activations: 4 MB a layer)
RESHAPE = (7, 7, 50)  # the synthesis's first dense output, as a feature map

# The conditional prior (see ``conditional``, which trains it): one table per scale bin.
HIDDEN = 256  # units in each of the masked network's two hidden layers
SCALE_MIN = 0.11  # smallest logistic scale a table exists for (coded domain)
SCALE_MAX = 64.0  # largest; beyond it a scale is clipped (costs bits, never fails)
SCALE_BINS = 64  # log-spaced scale levels between the two (one table each)
LOG_SCALE_STEP = float(np.log(SCALE_MAX / SCALE_MIN) / (SCALE_BINS - 1))
NET_WEIGHTS = ("w1", "w2", "w3", "b1", "b2", "b3")


@dataclass(frozen=True)
class Layer:
    """One layer of a transform: what it is, its output channels or units, and whether leaky ReLU follows."""

    name: str
    kind: str  # "conv" (Conv2D), "deconv" (Conv2DTranspose) or "dense"
    units: int
    kernel: int = 5
    stride: int = 2
    activation: bool = True


def analysis_layers(recipe: dict) -> tuple[Layer, ...]:
    """The encoder ``transforms.AnalysisTransform`` builds for a recipe."""
    return (Layer("conv_1", "conv", 20), Layer("conv_2", "conv", 50),
            Layer("fc_1", "dense", int(recipe["width"])),
            Layer("fc_2", "dense", int(recipe["latent_dims"]), activation=False))


def synthesis_layers(recipe: dict) -> tuple[Layer, ...]:
    """The decoder ``transforms.SynthesisTransform`` builds for a recipe."""
    dense = (Layer("fc_1", "dense", int(recipe["width"])), Layer("fc_2", "dense", int(np.prod(RESHAPE))))
    if recipe["synthesis"] == "seed":
        return dense + (Layer("conv_1", "deconv", 20), Layer("conv_2", "deconv", 1))
    return dense + (Layer("conv_1", "deconv", 40), Layer("conv_2", "deconv", 16),
                    Layer("conv_3", "conv", 1, kernel=3, stride=1))


def transform_keys(recipe: dict) -> list[str]:
    """The weights file's transform arrays, in the order Keras lists the weights (kernel, bias per layer)."""
    return [f"{name}.{layer.name}.{attr}"
            for name, layers in (("analysis", analysis_layers(recipe)), ("synthesis", synthesis_layers(recipe)))
            for layer in layers for attr in ("kernel", "bias")]


# ------------------------------------------------------------------ layers


def _leaky(x: np.ndarray) -> np.ndarray:
    """Leaky ReLU in place (``x`` is always a fresh intermediate): max(x, slope * x), as TensorFlow computes it."""
    return np.maximum(x, x * x.dtype.type(LEAKY_SLOPE), out=x)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int, int]:
    """(output size, padding before, padding after) of TensorFlow's "same" convolution."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def _patches(x: np.ndarray, k: int, stride: int, before: int, after: int, out: int) -> np.ndarray:
    """(N * out * out, k * k * C): every output position's k x k window, rows contiguous in (x, channel)."""
    n, _, _, c = x.shape
    xp = np.pad(x, ((0, 0), (before, after), (before, after), (0, 0)))
    s = xp.strides
    windows = np.lib.stride_tricks.as_strided(
        xp, (n, out, out, k, k * c), (s[0], s[1] * stride, s[2] * stride, s[1], s[3]), writeable=False)
    return windows.reshape(n * out * out, k * k * c)


class Conv:
    """Conv2D with TensorFlow's "same" padding (NHWC, square): one matrix product over the windows."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, stride: int):
        self.k, self.stride = kernel.shape[0], stride
        self.matrix, self.bias = kernel.reshape(-1, kernel.shape[3]), bias

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n, size = len(x), x.shape[1]
        out, before, after = _same_padding(size, self.k, self.stride)
        y = _product(_patches(x, self.k, self.stride, before, after, out), self.matrix)
        return y.reshape(n, out, out, -1) + self.bias


def _product(patches: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``patches @ matrix``: for long windows (hundreds of values) as ``(matrix.T @ patches.T).T``, the same sums,
    which OpenBLAS runs 1.2 to 1.3 times faster; for short ones (the first layer's 25) the other way round."""
    if matrix.shape[0] < 100:
        return patches @ matrix
    return np.ascontiguousarray((matrix.T @ patches.T).T)


class ConvTranspose:
    """Conv2DTranspose with "same" padding (kernel (k, k, out, in)): input pixel ``i`` reaches output pixel
    ``s*i + j - top`` through tap ``j``. Two ways to compute it, the cheaper chosen per layer:

    * *phases* (many output channels): output pixel ``s*m + a`` gathers input
      pixels ``m + d`` through taps ``a + top - s*d``, so each phase ``a`` is an
      ordinary convolution over a small window of the input; all ``s x s``
      phases are one convolution with ``s*s*out`` channels, then a pixel shuffle.
    * *taps* (few output channels): one product gives every tap's contribution
      of every input pixel, and each tap's is added into the output pixels it reaches.
    """

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, stride: int, phases: bool | None = None):
        k, _, out_c, in_c = kernel.shape
        self.k, self.stride, self.bias, self.out_c = k, stride, bias, out_c
        _, self.top, _ = _same_padding(k * stride, k, stride)  # the same for any input size
        tap = lambda phase, d: phase + self.top - stride * d  # noqa: E731
        offsets = [d for d in range(-k, k + 1) if any(0 <= tap(a, d) < k for a in range(stride))]
        self.first, self.span = offsets[0], offsets[-1] - offsets[0] + 1
        if phases is None:  # fewer values copied into windows than added tap by tap
            phases = self.span * self.span * in_c < k * k * out_c
        self.phases = phases
        if not self.phases:
            self.matrix = kernel.transpose(3, 0, 1, 2).reshape(in_c, k * k * out_c)
            return
        g = np.zeros((self.span, self.span, in_c, stride, stride, out_c), kernel.dtype)
        for a in range(stride):
            for b in range(stride):
                for dy in offsets:
                    for dx in offsets:
                        jy, jx = tap(a, dy), tap(b, dx)
                        if 0 <= jy < k and 0 <= jx < k:
                            g[dy - self.first, dx - self.first, :, a, b, :] = kernel[jy, jx].T
        self.matrix = g.reshape(-1, stride * stride * out_c)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n, size, s, k = len(x), x.shape[1], self.stride, self.k
        if self.phases:
            before, after = -self.first, self.first + self.span - 1
            y = _product(_patches(x, self.span, 1, before, after, size), self.matrix)
            y = y.reshape(n, size, size, s, s, self.out_c).transpose(0, 1, 3, 2, 4, 5)
            return y.reshape(n, size * s, size * s, self.out_c) + self.bias
        # Each tap's contribution of every input pixel, contiguous: (k, k, out, n, size, size).
        taps = (self.matrix.T @ x.reshape(n * size * size, -1).T).reshape(k, k, self.out_c, n, size, size)
        phases = np.zeros((s, s, self.out_c, n, size, size), x.dtype)
        for jy in range(k):
            a, dy = (jy - self.top) % s, (jy - self.top) // s  # output pixel s*m + a gets input pixel m - dy
            for jx in range(k):
                b, dx = (jx - self.top) % s, (jx - self.top) // s
                phases[a, b, :, :, max(0, dy) : size + min(0, dy), max(0, dx) : size + min(0, dx)] += \
                    taps[jy, jx, :, :, max(0, -dy) : size - max(0, dy), max(0, -dx) : size - max(0, dx)]
        out = phases.transpose(3, 4, 0, 5, 1, 2).reshape(n, size * s, size * s, self.out_c)
        return out + self.bias


class Dense:
    def __init__(self, kernel: np.ndarray, bias: np.ndarray, stride: int = 1):
        self.matrix, self.bias = kernel, bias

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1) @ self.matrix + self.bias


OPS = {"conv": Conv, "deconv": ConvTranspose, "dense": Dense}


def build(layers, weights: dict, prefix: str) -> list:
    """A transform's layers as (op, activation) pairs, float32, ready to run."""
    return [(OPS[layer.kind](weights[f"{prefix}.{layer.name}.kernel"], weights[f"{prefix}.{layer.name}.bias"],
                             layer.stride), layer.activation) for layer in layers]


def run(ops, x: np.ndarray) -> np.ndarray:
    """A built transform on a batch (a feature map after a dense layer is the seed's 7x7x50)."""
    for op, activation in ops:
        if not isinstance(op, Dense) and x.ndim == 2:
            x = x.reshape(len(x), *RESHAPE)
        x = op(x)
        if activation:
            x = _leaky(x)
    return x


# ------------------------------------------------------------------ conditional prior


def degrees(latent_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """MADE degrees: inputs 1..L; hidden units cycle through 1..L-1 (``conditional._degrees``)."""
    return np.arange(1, latent_dims + 1), np.arange(HIDDEN) % max(latent_dims - 1, 1) + 1


def masks(latent_dims: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which weight connects to what: output i sees inputs 0 .. i-1 only (through the hidden layers)."""
    inputs, hidden = degrees(latent_dims)
    return (hidden[None, :] >= inputs[:, None], hidden[None, :] >= hidden[:, None],
            np.tile(inputs[None, :] > hidden[:, None], (1, 2)))


def table_index(scale: np.ndarray) -> np.ndarray:
    """The table (scale bin) that codes each element: the nearest log-spaced scale, clipped to the tables'."""
    bins = np.round((np.log(scale) - np.log(SCALE_MIN)) / LOG_SCALE_STEP)
    return np.clip(bins, 0, SCALE_BINS - 1).astype(np.int64)


class MaskedNetwork:
    """The conditional prior's masked network (``conditional.MaskedAutoregressive``) in float64.

    ``column(y_unit, d, q)`` gives dimension ``d``'s location and log-scale
    from the dimensions before it. Only the hidden units that can reach
    output ``d`` are computed (degree <= d): the others meet zero weights, so
    the sums are the same and a step costs a third of the whole network on
    average. The hidden units are stored sorted by degree, so those are the
    first ``reach[d]`` of each layer: plain slices, no copies.
    """

    def __init__(self, weights: dict, latent_dims: int):
        m1, m2, m3 = masks(latent_dims)
        w = {k: weights[f"conditional.{k}"].astype(np.float64) for k in NET_WEIGHTS}
        _, hidden = degrees(latent_dims)
        order = np.argsort(hidden, kind="stable")
        self.w1 = np.ascontiguousarray((w["w1"] * m1)[:, order])
        self.w2 = np.ascontiguousarray((w["w2"] * m2)[np.ix_(order, order)])
        self.w3 = np.ascontiguousarray((w["w3"] * m3)[order])
        self.b1, self.b2, self.b3 = np.ascontiguousarray(w["b1"][:, order]), w["b2"][order], w["b3"]
        self.latent_dims = latent_dims
        self.reach = np.searchsorted(hidden[order], np.arange(latent_dims), side="right")  # units of degree <= d

    def column(self, y_unit: np.ndarray, d: int, q: int) -> tuple[np.ndarray, np.ndarray]:
        """(loc, log_scale) of dimension ``d`` in the unit domain, for latents ``y_unit`` (N, L) float64."""
        n, L = self.reach[d], self.latent_dims
        h = _leaky(y_unit[:, :d] @ self.w1[:d, :n] + self.b1[q, :n])
        h = _leaky(h @ self.w2[:n, :n] + self.b2[:n])
        out = h @ self.w3[:n, [d, L + d]] + self.b3[q, [d, L + d]]
        return out[:, 0], out[:, 1]


# ------------------------------------------------------------------ the model


def classes_of(latents: np.ndarray) -> np.ndarray:
    """A class-coding model's classes: column 0 of its latents, rounded and held to 0..9."""
    return np.clip(np.round(latents[:, 0]), 0, CLASSES - 1).astype(np.int64)


def class_rows(classes: np.ndarray, latent_dims: int) -> np.ndarray:
    """(N, L): a class-coding model's table row for each latent dimension of digits of ``classes`` (row 0 codes
    the class; docs/format.md, "Payload")."""
    return 1 + np.asarray(classes)[:, None] * latent_dims + np.arange(latent_dims)


class Runtime:
    """A model's portable weights, with the entry points the SavedModel has (NumPy in and out; ``q`` from 0)."""

    def __init__(self, weights: dict, recipe: dict, levels: int):
        self.recipe = recipe
        self.latent_dims = int(recipe["latent_dims"])
        self.conditional = recipe["prior"] == "conditional"
        self.codes_class = bool(recipe.get("code_class"))
        self.coded_dims = self.latent_dims + self.codes_class  # columns of the latents exchanged: the class first
        self.dimension_major = self.conditional or self.codes_class  # the stream's order (``Codec.dimension_major``)
        self._w = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in weights.items()}
        self._analysis = build(analysis_layers(recipe), self._w, "analysis")
        self._synthesis = build(synthesis_layers(recipe), self._w, "synthesis")
        self.gains = self._w["gains"].astype(np.float32)
        self._tables = [(self._w[f"level{q + 1}.cdf"].astype(np.int32), self._w[f"level{q + 1}.cdf_offset"].astype(np.int32))
                        for q in range(levels)]
        self._parsed: dict = {}  # per level, on first use: (rangecoder.Tables, tables.Tables)
        if self.conditional:
            self._net = MaskedNetwork(self._w, self.latent_dims)
            self._gains64 = self.gains.astype(np.float64)
            self._offsets = np.zeros_like(self.gains)
        else:
            self._offsets = self._w["offset"].astype(np.float32)

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
            runtime = cls(weights, card.recipe, len(card.levels))
            runtime._check_shapes()
        except (OSError, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as e:
            raise ModelError(f"{path}: unreadable portable weights ({type(e).__name__}: {e})") from None
        return runtime

    def _check_shapes(self) -> None:
        """Refuse weights that are not the recipe's model (raised as ValueError, reported by ``load``)."""
        x = self.analyse(np.zeros((1, SIDE, SIDE), np.uint8), 0)
        if x.shape != (1, self.latent_dims) or self.gains.shape[1] != self.latent_dims:
            raise ValueError(f"latents {x.shape} and gains {self.gains.shape} do not fit latent_dims {self.latent_dims}")
        if self._offsets.shape[1:] != self.gains.shape[1:] and self._offsets.shape[1:] != (CLASSES, self.latent_dims):
            raise ValueError(f"quantisation offsets {self._offsets.shape} do not fit latent_dims {self.latent_dims}")
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

    # -------------------------------------------------------------- quantisation and tables

    def tables(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Level ``q``'s range-coding tables (cdf, cdf_offset), as exported."""
        return self._tables[q]

    def _level_tables(self, q: int):
        """Level ``q``'s tables parsed for the range coder and for symbol costs (once, when first needed)."""
        if q not in self._parsed:
            self._parsed[q] = (rangecoder.Tables(self._tables[q][0]), Tables(*self._tables[q]))
        return self._parsed[q]

    def quantize(self, latents: np.ndarray, q: int) -> np.ndarray:
        """Latents rounded the way level ``q``'s range coder rounds them."""
        return self.conditionals(latents, q)[0] if self.dimension_major else self._round(latents, q)

    def offset(self, q: int) -> np.ndarray:
        """Each dimension's quantisation offset at level ``q`` (0 for a conditional prior: it centres on predictions)."""
        return self._offsets[q]

    def _round(self, latents, q) -> np.ndarray:
        offset = self._offsets[q]
        return np.round(np.asarray(latents, np.float32) - offset) + offset

    def _parameters(self, y_hat: np.ndarray, d: int, q: int) -> tuple[np.ndarray, np.ndarray]:
        """(loc, table index) of dimension ``d`` in the coded domain, given the dimensions before it (float64).

        ``ROWS`` digits at a time: the hidden activations stay a few MB whatever the count.
        """
        gains = self._gains64[q]
        loc = np.empty(len(y_hat), np.float64)
        log_scale = np.empty(len(y_hat), np.float64)
        for i in range(0, len(y_hat), ROWS):
            loc[i : i + ROWS], log_scale[i : i + ROWS] = self._net.column(y_hat[i : i + ROWS] / gains, d, q)
        scale = np.maximum(gains[d] * np.exp(log_scale), SCALE_MIN)
        return gains[d] * loc, table_index(scale)

    def conditionals(self, latents: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(quantised latents float32, table row, symbol) of every element: what the range coder sees.

        Factorized: row ``d`` for dimension ``d``, symbols relative to the
        quantisation offset. Conditional: mean-centred rounding one dimension
        at a time, ``round(z_d - loc_d) + loc_d`` with loc from the dimensions
        before (see ``conditional``), each element's row its scale bin.
        """
        z = np.asarray(latents, np.float32)
        if self.codes_class:
            return self._class_conditionals(z, q)
        if not self.conditional:
            rows = np.broadcast_to(np.arange(self.latent_dims), z.shape)
            return self._round(z, q), rows, np.round(z - self._offsets[q]).astype(np.int64)
        z = z.astype(np.float64)
        y_hat = np.zeros_like(z)
        index = np.empty(z.shape, np.int64)
        symbols = np.empty(z.shape, np.int64)
        for d in range(self.latent_dims):
            loc, index[:, d] = self._parameters(y_hat, d, q)
            symbol = np.round(z[:, d] - loc)
            y_hat[:, d] = symbol + loc
            symbols[:, d] = symbol
        return y_hat.astype(np.float32), index, symbols

    def _class_conditionals(self, z: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``conditionals`` of a class-coding model: the class with row 0, then each dimension rounded to its
        class's grid and coded with its class's row."""
        classes = classes_of(z)
        offset = self._offsets[q][classes]  # (N, L)
        symbols = np.round(z[:, 1:] - offset)
        coded = np.concatenate([classes[:, None].astype(np.float32), symbols + offset], axis=1)
        rows = np.concatenate([np.zeros((len(z), 1), np.int64), class_rows(classes, self.latent_dims)], axis=1)
        return coded, rows, np.concatenate([classes[:, None], symbols.astype(np.int64)], axis=1)

    def predict(self, y_hat: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
        """Quantised latents → (loc float64, table index) of every element given the ones before it."""
        y = np.asarray(y_hat, np.float32).astype(np.float64)
        pairs = [self._parameters(y, d, q) for d in range(self.latent_dims)]
        return np.stack([p[0] for p in pairs], axis=1), np.stack([p[1] for p in pairs], axis=1)

    # -------------------------------------------------------------- range coding

    def compress(self, images: np.ndarray, q: int) -> tuple[bytes, np.ndarray]:
        """Digits → (one range-coded string, bits per digit: the ideal code length under the tables)."""
        _, rows, symbols = self.conditionals(self.analyse(images, q), q)
        return self._encode(rows, symbols, q), self._level_tables(q)[1].bits(rows, symbols)

    def compress_each(self, images: np.ndarray, q: int) -> list[bytes]:
        """Digits → one range-coded string per digit."""
        return self.encode_each(self.analyse(images, q), q)

    def encode(self, latents: np.ndarray, q: int) -> bytes:
        """Latents (quantised here) → one range-coded string for all digits."""
        _, rows, symbols = self.conditionals(latents, q)
        return self._encode(rows, symbols, q)

    def encode_each(self, latents: np.ndarray, q: int) -> list[bytes]:
        """Latents → one string per digit (what a one-digit file holds)."""
        _, rows, symbols = self.conditionals(latents, q)
        return [self._encode(r[None], s[None], q) for r, s in zip(rows, symbols)]

    def _encode(self, rows, symbols, q) -> bytes:
        cdf, cdf_offset = self._tables[q]
        values = symbols - cdf_offset[rows]
        encoder = rangecoder.Encoder(self._level_tables(q)[0])
        if self.dimension_major:  # dimension 0 of every digit, then dimension 1, ...
            encoder.encode_index(rows.T, values.T)
        else:
            encoder.encode_channel(values)
        return encoder.finalize()

    def decode(self, payload: bytes, count: int, q: int, check: bool = True, progress=None) -> np.ndarray:
        """One string → the (count, L) quantised latents it holds, float32.

        ``check``: raise ``ValueError`` when the stream fails TFC's sanity
        check or an escape code runs away (``rangecoder``); without it (sampling),
        whatever the bytes say. ``progress(fraction)`` after each dimension.
        """
        decoder = rangecoder.Decoder(payload, self._level_tables(q)[0])
        cdf_offset = self._tables[q][1]
        dims = self.latent_dims
        if self.codes_class:
            decoded = decoder.decode_index(np.zeros(count, np.int64)) + cdf_offset[0]
            classes = np.clip(decoded, 0, CLASSES - 1)  # outside 0..9: a corrupt stream (or noise, sampling)
            rows = class_rows(classes, dims)
            symbols = decoder.decode_index(rows.T).T + cdf_offset[rows]
            y_hat = np.concatenate([classes[:, None].astype(np.float32),
                                    symbols.astype(np.float32) + self._offsets[q][classes]], axis=1)
            if check and np.any(decoded != classes):
                raise ValueError("a class outside 0 to 9")
        elif not self.conditional:
            values = decoder.decode_channel((count, dims)).astype(np.int64)
            y_hat = (values + cdf_offset[:dims]).astype(np.float32) + self._offsets[q]
        else:
            y = np.zeros((count, dims), np.float64)
            for d in range(dims):
                loc, index = self._parameters(y, d, q)
                y[:, d] = (decoder.decode_index(index) + cdf_offset[index]).astype(np.float64) + loc
                if decoder.corrupt and check:
                    break
                if progress is not None:
                    progress((d + 1) / dims)
            y_hat = y.astype(np.float32)
        if check and not decoder.finalize():
            raise ValueError("sanity check failed")
        return y_hat

    def sample(self, noise: bytes, n: int, q: int) -> np.ndarray:
        """Any bytes → ``n`` digits: the decoder as a generative model (no sanity check)."""
        return self.synthesize(self.decode(noise, n, q, check=False), q)
