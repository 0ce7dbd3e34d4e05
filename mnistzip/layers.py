"""The transforms' layers in NumPy: what a model's encoder and decoder are, and how to run them on a batch.

A recipe (``recipe``) fixes the layers of both transforms: :func:`analysis_layers`
and :func:`synthesis_layers` list them as ``transforms`` builds them in Keras,
and the weights file (``runtime``) stores each as Keras does
(``{transform}.{layer}.kernel`` / ``.bias``). Each layer runs in float32 as
one matrix product, as TensorFlow's: a different summation order can still move
a pixel by a grey level, or a latent across a rounding edge (``runtime`` says
how closely the two engines agree).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# tf.nn.leaky_relu's 0.2 is a float32 attribute: in float64 it is 0.20000000298023224, not 0.2, and the
# conditional prior's table choice must match TensorFlow's to the last bit.
LEAKY_SLOPE = float(np.float32(0.2))
RESHAPE = (7, 7, 50)  # the synthesis's first dense output, as a feature map


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


def leaky(x: np.ndarray) -> np.ndarray:
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


def _product(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``rows @ matrix``, one row per digit or window.

    In float32, for long windows (hundreds of values) as ``(matrix.T @ rows.T).T``, the same sums, which OpenBLAS
    runs 1.2 to 1.3 times faster; for short ones (the first layer's 25) the other way round. In float64 (the exact
    analysis, ``runtime.Runtime.analyse_exact``) always with the rows along GEMM's N: OpenBLAS's dgemm then gives
    a row the same bits whatever the rows beside it and wherever it sits, which its sgemm does not.
    """
    if matrix.shape[0] < 100 and matrix.dtype != np.float64:
        return rows @ matrix
    return np.ascontiguousarray((matrix.T @ rows.T).T)


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
        x = x.reshape(len(x), -1)
        return (_product(x, self.matrix) if self.matrix.dtype == np.float64 else x @ self.matrix) + self.bias


OPS = {"conv": Conv, "deconv": ConvTranspose, "dense": Dense}


def build(layers, weights, prefix: str, dtype=np.float32) -> list:
    """A transform's layers as (op, activation) pairs, ready to run in ``dtype`` (float32 as TensorFlow runs them;
    half-precision weights widened exactly)."""
    return [(OPS[layer.kind](np.asarray(weights[f"{prefix}.{layer.name}.kernel"], dtype),
                             np.asarray(weights[f"{prefix}.{layer.name}.bias"], dtype), layer.stride),
             layer.activation) for layer in layers]


def run(ops, x: np.ndarray) -> np.ndarray:
    """A built transform on a batch (a feature map after a dense layer is the seed's 7x7x50)."""
    for op, activation in ops:
        if not isinstance(op, Dense) and x.ndim == 2:
            x = x.reshape(len(x), *RESHAPE)
        x = op(x)
        if activation:
            x = leaky(x)
    return x
