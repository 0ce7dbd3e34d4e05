"""mnistzip.chunked: large archives decoded a chunk at a time give exactly the one-shot latents."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnistzip import chunked, container, fuzz, mnist, tfengine
from mnistzip.codec import Codec
from mnistzip.errors import BadMzFile


def on_tf(codec) -> Codec:
    """The same model and level on the TensorFlow engine (the one that decodes in chunks)."""
    return Codec.open(codec.card, level=codec.level.number, engine="tf")


def one_shot(codec, payload: bytes, count: int) -> np.ndarray:
    """The SavedModel's own decoder, in one call."""
    module = codec.engine.module
    return module.decompress_latents(tf.constant(payload), tf.constant(count, tf.int32), np.int32(codec._q)).numpy()


@pytest.mark.parametrize("name", ["tiny_codec", "deep_codec", "vr_codec", "cond_codec", "class_codec"])
@pytest.mark.parametrize("count, chunk", [(1, 64), (65, 64), (300, 64)])
def test_chunked_latents_equal_the_one_shot_decoder(request, monkeypatch, name, count, chunk):
    codec = on_tf(request.getfixturevalue(name))
    monkeypatch.setattr(chunked, "CHUNK", chunk)
    payload = codec.compress(mnist.images("test")[:count]).payload
    latents = chunked.decode_latents(codec.engine, codec._q, payload, count)
    np.testing.assert_array_equal(latents, one_shot(codec, payload, count))


def test_row_ranges_are_aligned_and_never_a_lone_row():
    assert chunked.row_ranges(1, 64) == [(0, 1)]
    assert chunked.row_ranges(65, 64) == [(0, 48), (48, 65)]
    assert chunked.row_ranges(17, 16) == [(0, 17)]
    assert chunked.row_ranges(200, 70) == [(0, 64), (64, 128), (128, 192), (192, 200)]


@pytest.mark.parametrize("name", ["tiny_codec", "cond_codec"])
def test_a_large_archive_decodes_in_chunks_with_progress(request, monkeypatch, name):
    codec = on_tf(request.getfixturevalue(name))
    monkeypatch.setattr(tfengine, "ONE_SHOT_DIGITS", 100)
    monkeypatch.setattr(chunked, "CHUNK", 128)
    digits = mnist.images("test")[:500]
    mz = codec.compress(digits)
    seen = []
    batches = list(codec.decompress_batches(mz, progress=seen.append))
    np.testing.assert_array_equal(np.concatenate(batches), codec.synthesize(one_shot(codec, mz.payload, 500)))
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 4


def test_a_corrupt_large_archive_is_reported(monkeypatch, cond_codec):
    monkeypatch.setattr(tfengine, "ONE_SHOT_DIGITS", 100)
    cond_codec = on_tf(cond_codec)
    mz = cond_codec.compress(mnist.images("test")[:300])
    padded = mz.payload + b"\x00\x01\x02"  # bytes the stream does not account for: TFC's sanity check sees them
    blob = fuzz.with_crc(container.dumps(container.MzFile(mz.model_id, mz.count, padded))[:-2])
    with pytest.raises(BadMzFile, match="payload does not decode"):
        cond_codec.decompress(container.loads(blob))
