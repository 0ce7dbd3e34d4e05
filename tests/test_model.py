"""Model exports: the decoder-only re-save that keeps a retired model's files decoding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnistzip import data
from mnistzip.codec import Codec
from mnistzip.errors import ModelError
from mnistzip.model import export_decoder


@pytest.mark.parametrize("fixture", ["vr_model", "cond_model"])
def test_a_decoder_only_copy_decodes_the_same_digits_and_refuses_to_encode(fixture, request, tmp_path):
    source = request.getfixturevalue(fixture)
    export_decoder(source, tmp_path / "dec", note="retired")
    digits = data.load_mnist("test")[:40]
    for quality in (1, 2):
        full, decoder = Codec.load(source, quality=quality), Codec.load(tmp_path / "dec", quality=quality)
        mz = full.compress(digits)
        assert decoder.id == full.id
        np.testing.assert_array_equal(decoder.decompress(mz), full.decompress(mz))
        with pytest.raises(ModelError, match="only decodes the files it made"):
            decoder.compress(digits[:1])
    meta = json.loads((tmp_path / "dec" / "model.json").read_text())
    assert meta["decode_only"] is True and meta["note"] == "retired"
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())  # noqa: E731
    assert size(tmp_path / "dec") < 0.7 * size(source)
