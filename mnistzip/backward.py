"""The decoder's and the prior's derivatives, for the encoder's search (``search``).

The search ranks the moves it could make to a digit's symbols by a first-order
prediction of how bits + λ·MSE would change, before it scores a few of them
exactly. That takes the gradient of the MSE through the synthesis (one backward
pass) and, with a conditional prior, how a latent moves the later dimensions'
scales and locations (vector-Jacobian products through the masked network).
A prediction only orders the moves: nothing is kept without an exact score.

Adjoints, as TensorFlow defines conv2d_transpose as conv2d's gradient:

* Dense(W): ``g @ Wᵀ``;
* ConvTranspose (kernel (k, k, out, in), stride s, "same"): the strided "same"
  Conv2D with the same kernel, read as (k, k, in, out);
* Conv (kernel (k, k, in, out), stride s, "same"): the ConvTranspose with the
  same kernel, read as (k, k, out, in);
* leaky ReLU: times 1 where its input was > 0, else the slope.

Everything runs in the dtype it is built with: float32 for speed, float64 for
sums that do not depend on the batch (``layers._product``: the digits along
GEMM's N; never a lone digit, :func:`dot`).
"""

from __future__ import annotations

import numpy as np

from .blas import map_batches
from .container import CLASSES, SIDE
from .layers import LEAKY_SLOPE, RESHAPE, Conv, ConvTranspose, Dense, _product, leaky, synthesis_layers
from .runtime import BATCH

ADJOINTS = {"deconv": lambda k, s: Conv(k, np.zeros(k.shape[3], k.dtype), s),
            "conv": lambda k, s: ConvTranspose(k, np.zeros(k.shape[2], k.dtype), s)}


class _DenseT:
    """The adjoint of Dense(W): ``g @ Wᵀ``, in the layout of ``layers._product``."""

    def __init__(self, kernel: np.ndarray):
        self.matrix = kernel.T if kernel.dtype != np.float64 else np.ascontiguousarray(kernel.T)

    def __call__(self, g: np.ndarray) -> np.ndarray:
        return dot(g.reshape(len(g), -1), self.matrix)


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``; in float64 as ``layers._product`` lays it out, a lone row given a blank partner (one row alone
    goes to gemv, which sums in another order)."""
    if a.dtype != np.float64:
        return a @ b
    if len(a) == 1:
        return _product(np.concatenate([a, np.zeros_like(a)]), b)[:1]
    return _product(a, b)


class Synthesis:
    """The decoder at one level: unit-scale output (no rounding) with the leaky ReLUs' masks, and its gradient."""

    def __init__(self, runtime, q: int, dtype=np.float32):
        self.runtime, self.q, self.dtype = runtime, q, dtype
        self.ops = runtime.synthesis_ops(dtype)
        self.adjoints = [_DenseT(op.matrix) if isinstance(op, Dense)  # a dense op holds its kernel as it is
                         else ADJOINTS[layer.kind](runtime.kernel("synthesis", layer.name, dtype), layer.stride)
                         for layer, (op, _) in zip(synthesis_layers(runtime.recipe), self.ops)]
        gains = runtime.gains[q].astype(dtype)
        self.inv_gains = (dtype(1) / gains).astype(dtype)
        self.codes_class = runtime.codes_class

    def forward(self, latents: np.ndarray, keep: bool = False):
        """Coded latents (N, coded_dims) → (output (N, 28, 28), unit scale, unclipped; per batch of ``BATCH``
        digits, the masks if ``keep``), the batches side by side (``blas.map_batches``)."""
        x = self.runtime.decoder_input(np.asarray(latents, self.dtype), self.q)
        chunks = map_batches(lambda i: self._forward(x[i : i + BATCH], keep), range(0, len(x), BATCH))
        out = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros((0, SIDE, SIDE), self.dtype)
        return out, [c[1] for c in chunks]

    def _forward(self, x: np.ndarray, keep: bool):
        n = len(x)
        if n == 1:  # a blank partner: see dot
            x = np.concatenate([x, np.zeros_like(x)])
        masks = []
        for op, activation in self.ops:
            if not isinstance(op, Dense) and x.ndim == 2:
                x = x.reshape(len(x), *RESHAPE)
            x = op(x)
            masks.append(x[:n] > 0 if keep and activation else None)
            if activation:
                x = leaky(x)
        return x[:n].reshape(n, SIDE, SIDE), masks

    def gradient(self, masks: list, residual: np.ndarray) -> np.ndarray:
        """d/d(coded latents) of Σ residual · output, with ``masks`` from :meth:`forward` (the class column of a
        class-coding model gets 0)."""
        starts = range(0, len(residual), BATCH)
        parts = map_batches(lambda j: self._backward(masks[j], residual[starts[j] : starts[j] + BATCH]),
                            range(len(starts)))
        du = np.concatenate(parts) if parts else np.zeros((0, len(self.inv_gains)), self.dtype)
        if self.codes_class:
            return np.concatenate([np.zeros((len(du), 1), self.dtype), du[:, :-CLASSES] * self.inv_gains], axis=1)
        return du * self.inv_gains

    def _backward(self, masks: list, residual: np.ndarray) -> np.ndarray:
        n, slope = len(residual), self.dtype(LEAKY_SLOPE)
        g = residual.reshape(n, SIDE, SIDE, 1).astype(self.dtype)
        if n == 1:  # as in forward; the partner's gradient is zero whatever its masks
            g = np.concatenate([g, np.zeros_like(g)])
            masks = [None if m is None else np.concatenate([m, m]) for m in masks]
        for adjoint, mask in zip(reversed(self.adjoints), reversed(masks)):
            if mask is not None:
                g = np.where(mask.reshape(g.shape), g, g * slope)
            g = adjoint(g)
        return g.reshape(len(g), -1)[:n]


class PriorGradient:
    """The conditional prior's masked network at one level, all dimensions at once, with its vector-Jacobian
    products: how the later dimensions' locations and log-scales move with each coded latent."""

    def __init__(self, entropy, q: int, dtype=np.float32):
        net = entropy.network
        self.dtype, self.L = dtype, net.latent_dims
        L = self.L
        self.w1, self.w2 = net.w1.astype(dtype), net.w2.astype(dtype)
        self.w3loc, self.w3ls = (np.ascontiguousarray(net.w3[:, :L].astype(dtype)),
                                 np.ascontiguousarray(net.w3[:, L:].astype(dtype)))
        self.b1, self.b2, self.b3 = net.b1[q].astype(dtype), net.b2.astype(dtype), net.b3[q].astype(dtype)
        self.w1T, self.w2T = np.ascontiguousarray(self.w1.T), np.ascontiguousarray(self.w2.T)
        self.w3locT, self.w3lsT = np.ascontiguousarray(self.w3loc.T), np.ascontiguousarray(self.w3ls.T)
        gains = entropy.gains[q].astype(np.float64)
        self.gains, self.inv_gains = gains.astype(dtype), (1 / gains).astype(dtype)

    def slopes(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The leaky ReLUs' slopes at coded latents ``y`` (N, L): what :meth:`vjp` differentiates through."""
        one, slope = self.dtype(1), self.dtype(LEAKY_SLOPE)
        a1 = dot(y.astype(self.dtype) * self.inv_gains, self.w1) + self.b1
        s1 = np.where(a1 > 0, one, slope)
        a2 = dot(a1 * s1, self.w2) + self.b2
        return s1, np.where(a2 > 0, one, slope)

    def vjp(self, slopes, location=None, log_scale=None) -> np.ndarray:
        """d/dy of ``location · loc(y) + log_scale · log_scale(y)`` (loc in the coded domain, log-scale unit)."""
        s1, s2 = slopes
        h = 0
        if location is not None:
            h = dot(location * self.gains, self.w3locT)
        if log_scale is not None:
            h = h + dot(log_scale, self.w3lsT)
        h = dot(h * s2, self.w2T) * s1
        return dot(h, self.w1T) * self.inv_gains

    def cascade(self, slopes, v: np.ndarray, iterations: int) -> np.ndarray:
        """u = v + Mᵀu (M = d loc / d y, strictly lower triangular), ``iterations`` times from u = v: the first
        order effect of a unit step when the later dimensions keep their symbols and follow their locations."""
        u = v
        for _ in range(iterations):
            u = v + self.vjp(slopes, location=u)
        return u
