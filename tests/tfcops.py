"""TFC 2.14.1's range-coding ops, as the range coder's tests compare with them (TensorFlow needed: mnistzip[train]).

TFC's decoder is only ever run on damaged strings in a child process with a deadline (``tfc_decode_guarded``): on
some it never returns (tests/data/decoder-spin.mz is one, and is never given to it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc


def tfc_encode(cdf, values, index=None) -> bytes:
    handle = tfc.create_range_encoder([], cdf)
    values = tf.constant(values, tf.int32)
    if index is None:
        handle = tfc.entropy_encode_channel(handle, values)
    else:
        handle = tfc.entropy_encode_index(handle, tf.constant(index, tf.int32), values)
    return tfc.entropy_encode_finalize(handle).numpy()


def tfc_decode(cdf, string: bytes, shape=None, index=None):
    """Only for strings TFC wrote itself, or crafted ones known to end (see ``tfc_decode_guarded``)."""
    handle = tfc.create_range_decoder(string, cdf)
    if index is None:
        handle, values = tfc.entropy_decode_channel(handle, tf.constant(shape, tf.int32), tf.int32)
    else:
        index = np.asarray(index, np.int32)
        handle, values = tfc.entropy_decode_index(handle, tf.constant(index), tf.constant(index.shape, tf.int32),
                                                  tf.int32)
    return values.numpy(), bool(tfc.entropy_decode_finalize(handle))


WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf, tensorflow_compression as tfc
    cases = np.load(sys.argv[1])
    for i in range(int(cases["count"])):
        cdf, index, data = cases[f"cdf{i}"], cases[f"index{i}"], cases[f"data{i}"].tobytes()
        handle = tfc.create_range_decoder(data, cdf)
        handle, values = tfc.entropy_decode_index(handle, tf.constant(index), tf.constant(index.shape, tf.int32),
                                                  tf.int32)
        ok = bool(tfc.entropy_decode_finalize(handle))
        print(json.dumps([i, ok, values.numpy().reshape(-1).tolist()]), flush=True)
""")


def tfc_decode_guarded(tmp_path, cases, timeout=45.0) -> dict:
    """TFC's index decoder on each (cdf, index, data) in a child process → {case: (values, ok)} for those that ended.

    A case that spins stops the child; it is killed at ``timeout`` and the cases after it are missing.
    """
    arrays = {"count": len(cases)}
    for i, (cdf, index, data) in enumerate(cases):
        arrays[f"cdf{i}"], arrays[f"index{i}"] = np.asarray(cdf, np.int32), np.asarray(index, np.int32)
        arrays[f"data{i}"] = np.frombuffer(data, np.uint8)
    path = tmp_path / "cases.npz"
    np.savez(path, **arrays)
    child = subprocess.Popen([sys.executable, "-c", WORKER, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
    results = {}
    for line in out.splitlines():
        i, ok, values = json.loads(line)
        results[i] = (np.array(values, np.int32), ok)
    return results
