"""Range decoding of large archives a chunk of digits at a time: bounded memory, with progress.

A model's exported ``decompress_latents`` decodes a whole stream in one call.
For the conditional prior that runs the masked network over every digit at
each of the L dimensions, so memory grows like ``count x 256 x 8`` bytes per
activation: a crafted file claiming 2^20 digits decoded at 11 GB. Here the
same stream is decoded with TFC's decoder handle, in TF eager, ``CHUNK`` rows
at a time; memory is the decoded latents (``count x L x 8`` bytes, 256 MiB at
2^20 x 32) plus one chunk's activations.

The result is bit-identical to the one-shot decode (checked for every shipped
model on the test split, and by ``tests/test_codec.py``), because it runs the
same TF kernels in the same order on the same rows, with two cares:

* chunks are multiples of 16 rows: Eigen evaluates element-wise float64 ops
  (log, exp) in SIMD packets and a ragged tail with scalar code, which
  differs in the last bit; aligned chunks leave the same rows to the scalar
  path as the one-shot graph does (the last ``count % 16``);
* no chunk is a single row unless the whole file is: TF's float64 MatMul takes
  a matrix-vector path for one row, which differs in the last bit.

* factorized prior: the stream is digit-major; ``entropy_decode_channel`` on
  ``[k, L]`` slices, then ``+ cdf_offset`` and the quantisation offset, as
  TFC's ``ContinuousBatchedEntropyModel.decompress`` does;
* conditional prior: the stream is dimension-major (see ``conditional``); for
  each dimension, each chunk of rows runs the network on its decoded latents,
  picks the table of that dimension and decodes the chunk's symbols.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from .coding import class_rows
from .container import CLASSES
from .errors import ModelError

CHUNK = 4096  # rows per step: a chunk's activations stay a few MB
PACKET = 16  # Eigen's float64 SIMD packet rows (see the module docstring)


class Cancelled(Exception):
    """Raised between chunks when the caller's ``should_stop()`` says so (a deadline passed)."""


def decode_latents(engine, q: int, payload: bytes, count: int, progress=None, should_stop=None) -> np.ndarray:
    """One range-coded string holding ``count`` digits → their quantised latents (count, L) float32.

    ``engine`` is a ``tfengine.TFEngine``, ``q`` the 0-based level. Exactly
    what the SavedModel's ``decompress_latents`` returns. ``progress(fraction)``
    is called after every chunk; ``should_stop()`` is polled between chunks
    (then :class:`Cancelled`). Raises ``tf.errors.OpError`` from the decoder
    ops and ``ValueError`` when the stream fails TFC's sanity check.
    """
    import tensorflow as tf
    import tensorflow_compression as tfc

    cdf, cdf_offset = engine.tables(q)
    handle = tfc.create_range_decoder(tf.constant(payload), cdf)
    decode = _decode_conditional if engine.conditional else _decode_class if engine.codes_class else _decode_factorized
    latents, handle = decode(engine, q, handle, cdf_offset.astype(np.int32), count, progress, should_stop)
    if not bool(tfc.entropy_decode_finalize(handle)):
        raise ValueError("sanity check failed")
    return latents


def row_ranges(count: int, chunk: int | None = None) -> list[tuple[int, int]]:
    """Row ranges of at most ``chunk`` rows (default CHUNK; a multiple of PACKET), none of one row unless ``count`` is 1."""
    chunk = CHUNK if chunk is None else chunk
    chunk -= chunk % PACKET
    bounds = list(range(0, count, chunk)) + [count]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        bounds[-2] -= PACKET  # the last chunk gets 17 rows
        if bounds[-2] == bounds[-3]:
            del bounds[-2]
    return list(zip(bounds[:-1], bounds[1:]))


def _stop(should_stop) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("decoding cancelled")


def _decode_factorized(engine, q, handle, cdf_offset, count, progress, should_stop):
    """A digit-major stream → (latents, the decoder handle after them)."""
    import tensorflow as tf
    import tensorflow_compression as tfc

    dims = engine.latent_dims
    offset = engine.offset(q).astype(np.float32)  # quantize(0): the quantisation offset, exactly
    out = np.empty((count, dims), np.float32)
    for start, stop in row_ranges(count):
        _stop(should_stop)
        handle, symbols = tfc.entropy_decode_channel(handle, tf.constant([stop - start, dims], tf.int32), tf.int32)
        out[start:stop] = (symbols.numpy() + cdf_offset).astype(np.float32) + offset  # TFC's order of operations
        if progress is not None:
            progress(stop / count)
    return out, handle


def _decode_class(engine, q, handle, cdf_offset, count, progress, should_stop):
    """A class-coding model's stream: every digit's class, then a dimension at a time, each in chunks of rows
    → (latents with the class in front, the handle after them)."""
    import tensorflow as tf
    import tensorflow_compression as tfc

    dims = engine.latent_dims
    ranges = row_ranges(count)
    classes = np.empty(count, np.int64)
    for start, stop in ranges:
        _stop(should_stop)
        handle, decoded = tfc.entropy_decode_index(handle, tf.zeros([stop - start], tf.int32), [stop - start], tf.int32)
        classes[start:stop] = decoded.numpy() + cdf_offset[0]
    if classes.min() < 0 or classes.max() >= CLASSES:
        raise ValueError("a class outside 0 to 9")
    rows = class_rows(classes, dims).astype(np.int32)
    symbols = np.empty((count, dims), np.int64)
    done, steps = 0, dims * len(ranges)
    for d in range(dims):
        for start, stop in ranges:
            _stop(should_stop)
            handle, values = tfc.entropy_decode_index(handle, tf.constant(rows[start:stop, d]), [stop - start], tf.int32)
            symbols[start:stop, d] = values.numpy() + cdf_offset[rows[start:stop, d]]
            done += 1
            if progress is not None:
                progress(done / steps)
    latents = symbols.astype(np.float32) + engine.class_offsets(q)[classes]
    return np.concatenate([classes[:, None].astype(np.float32), latents], axis=1), handle


def _decode_conditional(engine, q, handle, cdf_offset, count, progress, should_stop):
    """A dimension-major stream, a dimension at a time, each in chunks of rows → (latents, the handle after them)."""
    import tensorflow as tf

    step = _conditional_step(engine, q, cdf_offset)
    dims = engine.latent_dims
    y_hat = np.zeros((count, dims), np.float64)
    ranges = row_ranges(count)
    done, steps = 0, dims * len(ranges)
    for d in range(dims):
        column = tf.constant(d, tf.int32)
        for start, stop in ranges:
            _stop(should_stop)
            handle, decoded = step(handle, y_hat[start:stop], column)
            y_hat[start:stop, d] = decoded.numpy()
            done += 1
            if progress is not None:
                progress(done / steps)
    out = np.empty((count, dims), np.float32)
    for start in range(0, count, 65536):  # float64 → float32 (round to nearest, as tf.cast) without a full copy
        out[start : start + 65536] = y_hat[start : start + 65536]
    return out, handle


def _conditional_step(engine, q, cdf_offset):
    """The traced step (once per loaded model and level): (handle, rows' latents, d) → (handle, their column d).

    The prior's parameters come from ``conditional.parameters`` and
    ``MaskedAutoregressive.call`` themselves, on the weights the SavedModel
    restores, exactly as ``ConditionalExportedCodec._parameters`` computes them
    in float64; then the chunk's symbols are decoded with the table each row's
    scale selects.
    """
    cache = getattr(engine.module, "_mnistzip_chunked_steps", None)  # on the model: every Codec of it shares them
    if cache is None:
        cache = engine.module._mnistzip_chunked_steps = {}
    if q in cache:
        return cache[q]
    import tensorflow as tf
    import tensorflow_compression as tfc

    from . import conditional

    module, dims = engine.module, engine.latent_dims
    weights = getattr(module, "conditional_net", None)
    if weights is None or not all(hasattr(weights, w) for w in ("w1", "w2", "w3", "b1", "b2", "b3")):
        raise ModelError(f"{engine.card.path}: the SavedModel does not expose its conditional network; "
                         "decode its files on the runtime (unset MNISTZIP_ENGINE)")
    net = SimpleNamespace(latent_dims=dims, **{w: getattr(weights, w) for w in ("w1", "w2", "w3", "b1", "b2", "b3")})
    net._masks = lambda: conditional.MaskedAutoregressive._masks(net)
    network = lambda y_unit, level: conditional.MaskedAutoregressive.call(net, y_unit, level)  # noqa: E731
    gains_row = tf.cast(module.gains[q], tf.float64)
    offsets = tf.constant(cdf_offset)

    def step(handle, y_hat, d):
        gains = tf.broadcast_to(gains_row, tf.shape(y_hat))
        loc, scale = conditional.parameters(network, y_hat, gains, tf.fill([tf.shape(y_hat)[0]], q))
        index = conditional.table_index(scale[:, d])
        handle, symbols = tfc.entropy_decode_index(handle, index, tf.shape(index), tf.int32)
        return handle, tf.cast(symbols + tf.gather(offsets, index), tf.float64) + loc[:, d]

    spec = [tf.TensorSpec([], tf.variant), tf.TensorSpec([None, dims], tf.float64), tf.TensorSpec([], tf.int32)]
    cache[q] = tf.function(step, input_signature=spec)
    return cache[q]
