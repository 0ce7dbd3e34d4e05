"""mnistzip.runtime: the shipped models without TensorFlow, and against TensorFlow where it is installed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistzip import catalogue, container, layers, mnist, runtime, zoo
from mnistzip.codec import Codec
from mnistzip.errors import BadMzFile, ModelError, UsageError
from mnistzip.fileio import file_digest

GOLDEN = Path(__file__).parent / "data" / "golden"
SPIN = Path(__file__).parent / "data" / "decoder-spin.mz"
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(not HAVE_TF, reason="needs mnistzip[train] (TensorFlow)")


# --- golden files, no TensorFlow needed ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.mz")))
def test_golden_files_give_tensorflows_symbols_and_pixels(name):
    """The symbols and table rows TensorFlow read from each golden file (make_golden_symbols.py), and its pixels."""
    mz = container.read(GOLDEN / f"{name}.mz")
    codec = zoo.for_file(mz.model_id)
    assert type(codec.engine).__name__ == "Runtime"
    latents = codec.decode_latents(mz.payload, mz.count)
    _, rows, symbols = codec.coding(latents)
    expected = np.load(GOLDEN / "ladder-symbols.npz")
    np.testing.assert_array_equal(rows, expected[f"{name}.rows"])
    np.testing.assert_array_equal(symbols, expected[f"{name}.symbols"])
    np.testing.assert_array_equal(codec.synthesize(latents), np.load(GOLDEN / "ladder-pixels.npz")[name])
    assert codec.encode_latents(latents) == mz.payload


def test_the_runtime_path_imports_no_tensorflow(tmp_path):
    """Every everyday command, in one process: tensorflow never enters sys.modules."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mnistzip.cli import app\n"
        "r = CliRunner()\n"
        "for args in (['compress', 'mnist:test:0-99', '-o', 'a.mz'], ['decompress', 'a.mz', '-o', 'a.npy'],\n"
        "             ['compress', 'mnist:test:0-9', '-o', 'r.mz', '--refine', '-q', '3'],\n"
        "             ['sample', '-n', '4', '-o', 's.png'], ['info', 'a.mz'], ['models'],\n"
        "             ['eval', '--limit', '50']):\n"
        "    res = r.invoke(app, args)\n"
        "    assert res.exit_code == 0, (args, res.output)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorflow_compression', "
        "'tensorflow_datasets', 'keras')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_a_runaway_escape_code_is_refused_at_once():
    """decoder-spin.mz makes TFC's decoder spin forever; the runtime's stops at the 32nd zero."""
    mz = container.read(SPIN)
    codec = zoo.for_file(mz.model_id)
    with pytest.raises(BadMzFile, match="^payload does not decode: the range-coded stream is corrupt$"):
        codec.decompress(mz)


def test_altered_or_missing_portable_weights(tmp_path):
    card = catalogue.ladder()[0].card
    copy = tmp_path / card.path.name
    shutil.copytree(card.path, copy)
    (copy / runtime.WEIGHTS_FILE).write_bytes(b"PK\x03\x04 not weights")
    with pytest.raises(ModelError, match=f"weights.npz does not match its digest in {copy.name}/model.json"):
        Codec.load(copy)
    raw = json.loads((copy / "model.json").read_text())
    raw["portable_sha256"] = file_digest(copy / runtime.WEIGHTS_FILE)  # a card that vouches for junk
    (copy / "model.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="unreadable portable weights"):
        Codec.load(copy)
    with np.load(card.path / runtime.WEIGHTS_FILE) as npz:  # real weights, one kernel of the wrong rank
        arrays = {k: npz[k] for k in npz.files}
    arrays["analysis.conv_2.kernel"] = arrays["analysis.conv_2.kernel"].reshape(-1, 50)
    np.savez(copy / runtime.WEIGHTS_FILE, **arrays)
    raw["portable_sha256"] = file_digest(copy / runtime.WEIGHTS_FILE)
    (copy / "model.json").write_text(json.dumps(raw))
    codec = Codec.load(copy)  # each transform is read when first used: the decoder is intact
    digits = mnist.images("test", rows=slice(0, 4))
    assert codec.decompress(Codec.load(card.path).compress(digits)).shape == digits.shape
    with pytest.raises(ModelError, match=f"^{copy / runtime.WEIGHTS_FILE}: unreadable portable weights "
                                         "\\((IndexError|ValueError)"):
        codec.compress(digits)
    (copy / runtime.WEIGHTS_FILE).unlink()
    with pytest.raises(ModelError, match="no portable weights \\(weights.npz\\) for the NumPy runtime"):
        Codec.load(copy)


def test_an_unknown_engine_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("MNISTZIP_ENGINE", "onnx")
    with pytest.raises(UsageError, match="^unknown engine 'onnx' \\(from MNISTZIP_ENGINE\\): expected numpy or tf$"):
        zoo.load()


def test_transposed_convolution_both_ways_agree():
    """The phase and tap forms of Conv2DTranspose are the same function (the runtime picks the cheaper per layer)."""
    rng = np.random.default_rng(0)
    for in_c, out_c in ((50, 20), (20, 1), (7, 3)):
        kernel = rng.normal(size=(5, 5, out_c, in_c)).astype(np.float32)
        bias = rng.normal(size=out_c).astype(np.float32)
        x = rng.normal(size=(3, 7, 7, in_c)).astype(np.float32)
        phases = layers.ConvTranspose(kernel, bias, 2, phases=True)(x)
        taps = layers.ConvTranspose(kernel, bias, 2, phases=False)(x)
        assert phases.shape == taps.shape == (3, 14, 14, out_c)
        np.testing.assert_allclose(phases, taps, rtol=1e-4, atol=1e-4)


# --- against TensorFlow ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def test_digits():
    return mnist.images("test")[:300]


@needs_tf
@pytest.mark.parametrize("name", ["tiny_model", "deep_model", "vr_model", "cond_model", "class_model"])
def test_a_trained_model_codes_the_same_on_both_engines(request, name, test_digits):
    """What train exports runs on both engines: the same bytes from the same latents, each reading the other's files."""
    path = request.getfixturevalue(name)
    card = Codec.load(path).card
    for level in range(1, len(card.levels) + 1):
        rt, tf_ = Codec.load(path, level=level), Codec.load(path, level=level, engine="tf")
        latents = tf_.latents(test_digits)
        np.testing.assert_allclose(rt.latents(test_digits), latents, rtol=1e-4, atol=1e-4)
        coded = tf_.quantize(latents)
        assert rt.encode_latents(coded) == tf_.encode_latents(coded)
        payload = tf_.compress(test_digits).payload
        ours, theirs = rt.decode_latents(payload, len(test_digits)), tf_.decode_latents(payload, len(test_digits))
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)  # a conditional's loc: float64 → float32
        for a, b in zip(rt.coding(ours), tf_.coding(theirs)):  # the same symbols in the same tables
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        ours = rt.compress(test_digits).payload
        assert np.abs(tf_.decode(ours, len(test_digits)).astype(int) - rt.decode(ours, len(test_digits))).max() <= 1
        assert np.abs(rt.synthesize(coded).astype(int) - tf_.synthesize(coded)).max() <= 1


@needs_tf
def test_the_shipped_default_on_both_engines(test_digits):
    """ladder-q12 on 300 test digits: the runtime's symbols are TensorFlow's, and so are its bytes. The claim is
    that a different summation order moves a latent across a rounding edge on a few digits in ten thousand: on 300,
    one at most."""
    rt = zoo.load()
    tf_ = Codec.open(rt.card, level=rt.level.number, engine="tf")
    _, rows_rt, sym_rt = rt.coding(rt.latents(test_digits))
    _, rows_tf, sym_tf = tf_.coding(tf_.latents(test_digits))
    same = (sym_rt == sym_tf).all(axis=1) & (rows_rt == rows_tf).all(axis=1)
    assert (~same).sum() <= 1
    assert rt.compress(test_digits[same]).payload == tf_.compress(test_digits[same]).payload


@needs_tf
def test_leaky_relu_slope_is_tensorflows_float32_in_float64_too():
    """tf.nn.leaky_relu's 0.2 is a float32 attribute; with an exact 0.2 in float64, the runtime chose table 11
    where TensorFlow chose 10 for this prediction (found by benchmarks/runtime_parity.py on the training split)."""
    card = next(r.card for r in catalogue.ladder() if r.card.name == "cond-500-1400-L16")
    y_hat = np.zeros((1, 16), np.float32)
    y_hat[0, 0] = np.float32(-7.231604)
    for level in range(1, len(card.levels) + 1):
        rt, tf_ = (Codec.open(card, level=level, engine=e) for e in ("numpy", "tf"))
        np.testing.assert_array_equal(rt.engine.predict(y_hat, rt._q)[1], tf_.engine.predict(y_hat, tf_._q)[1])
