"""Craft an .mz file on which TFC's range decoder spins, for a shipped ladder rung.

Run from the checkout:  python tests/data/make_decoder_spin.py [RUNG] [OUT]
(defaults: ladder-q1, tests/data/decoder-spin.mz). Deterministic: it uses only the
rung's range-coding tables (no data, no randomness). The rung's model has a
factorized prior (digits one after another) or codes the class (every digit's
class, then dimension-major), as the first rungs have had.

Why it spins (tensorflow_compression/cc/kernels/range_coder_kernels.cc,
RangeDecoderInterface::OverflowDecode): when a row's escape (last) symbol is
decoded, the Elias-gamma prefix is read with
    while (decoder.DecodeLinearly(binary_uniform_cdf, 1) == 0) ++n;
A binary-uniform decode yields 0 whenever (value - base + 1) * 2 <= size. If,
right after the escape, value == base and every byte still to come is zero (the
decoder reads zeros past the end), then value - base stays 0 through every
halving and every 16-bit renormalisation, so 0 comes back forever: the loop never
ends (n just wraps). We build exactly that stream with TFC's own encoder: the
digits' symbols, then the escape interval of one row WITHOUT its gamma code
(via a positive-precision copy of the row), then 64 zero bits with precision 1
(the same Encode(0, 1, 1) the gamma prefix uses). Zero bits never move the
encoder's base, and after 64 of them the base has been shifted out to 0, so
Finalize writes nothing more: the decoder's value sits exactly on the base of
the escape interval with only (implicit) zeros behind it.
"""
import hashlib
import os
import sys

import numpy as np

RUNG = sys.argv[1] if len(sys.argv) > 1 else "ladder-q1"
OUT = sys.argv[2] if len(sys.argv) > 2 else "tests/data/decoder-spin.mz"
COUNT = 200  # CLI deadline 2.0 s + COUNT/2000 s = "2.1 s"
ZERO_BITS = 64
sys.path.insert(0, os.getcwd())  # the checkout's mnistzip, not an installed one


def main():
    import tensorflow as tf
    from tensorflow_compression.python.ops import gen_ops

    from mnistzip import container, zoo

    import mnistzip

    print("mnistzip:", mnistzip.__file__)
    codec = zoo.load(RUNG)
    cdf, _ = codec.engine.tables(codec._q)
    starts = list(np.flatnonzero(cdf < 0)) + [len(cdf)]
    rows = [cdf[a:b] for a, b in zip(starts[:-1], starts[1:])]
    dims = codec.latent_dims
    mode = np.array([int(np.argmax(np.diff(r[1:])[:-1])) for r in rows], np.int32)  # each row's likeliest symbol

    # Every digit's most probable symbols, in the stream's order; the row of each.
    if codec.codes_class:
        cls = int(mode[0])
        latent_rows = 1 + cls * dims + np.arange(dims)
        index = np.concatenate([np.zeros(COUNT, np.int32), np.repeat(latent_rows, COUNT)]).astype(np.int32)
    else:
        assert len(rows) == dims and not codec.conditional
        index = np.tile(np.arange(dims, dtype=np.int32), COUNT)
    value = mode[index]
    table_rows = len(rows)

    # The stream's last element: the escape symbol, coded with a positive-precision
    # copy of its row (so no gamma code follows), then ZERO_BITS zero bits of precision 1.
    esc_row = rows[index[-1]].copy()
    esc_row[0] = -esc_row[0]
    binary = np.array([1, 0, 1, 2], np.int32)
    lookup = np.concatenate([cdf, esc_row, binary]).astype(np.int32)
    value[-1] = len(esc_row) - 3  # max_value: the escape symbol
    index[-1] = table_rows
    value = np.concatenate([value, np.zeros(ZERO_BITS, np.int32)])
    index = np.concatenate([index, np.full(ZERO_BITS, table_rows + 1, np.int32)])

    handle = gen_ops.create_range_encoder([1], tf.constant(lookup))
    handle = gen_ops.entropy_encode_index(handle, tf.constant(index[None]), tf.constant(value[None]))
    payload = gen_ops.entropy_encode_finalize(handle).numpy()[0]

    need = codec.min_payload_bytes(COUNT)
    if len(payload) < need:  # explicit zeros read the same as the implicit ones past the end
        payload += b"\0" * (need - len(payload))
    blob = container.dumps(container.MzFile(codec.id, COUNT, payload))
    with open(OUT, "wb") as f:
        f.write(blob)
    print(f"{RUNG} id={codec.id} level-index={codec._q} count={COUNT} payload={len(payload)} B "
          f"file={len(blob)} B sha256={hashlib.sha256(blob).hexdigest()} -> {OUT}")


if __name__ == "__main__":
    main()
