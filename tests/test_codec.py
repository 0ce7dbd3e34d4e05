"""The codec on a tiny trained model: round trips, one-digit strings, determinism, wrong models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnistzip import container, metrics, mnist
from mnistzip.codec import Codec
from mnistzip.errors import BadMzFile, InputError, ModelError, UnknownModel

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def digits(mnist_dir):
    return mnist.images("test", mnist_dir)[:64]


def test_decompress_equals_decoder_on_quantised_latents(tiny_codec, digits):
    mz = tiny_codec.compress(digits)
    decoded = tiny_codec.decompress(container.loads(container.dumps(mz)))
    expected = tiny_codec.synthesize(tiny_codec.quantize(tiny_codec.latents(digits)))
    assert decoded.dtype == np.uint8 and decoded.shape == (64, 28, 28)
    np.testing.assert_array_equal(decoded, expected)


def test_one_string_per_digit_matches_a_one_digit_archive(tiny_codec, digits):
    each = tiny_codec.encode_each(digits[:8])
    alone = [tiny_codec.encode(digits[i : i + 1])[0] for i in range(8)]
    assert each == alone


def test_archive_costs_about_its_entropy(tiny_codec, digits):
    payload, bits = tiny_codec.encode(digits)
    assert len(payload) * 8 <= bits.sum() + 16  # one stream: a couple of bytes over the estimate
    assert len(payload) * 8 >= bits.sum() - 16


def test_same_input_same_bytes_and_pixels(tiny_model, digits):
    first, second = Codec.load(tiny_model), Codec.load(tiny_model)
    a, b = first.compress(digits), second.compress(digits)
    assert container.dumps(a) == container.dumps(b)
    np.testing.assert_array_equal(first.decompress(a), second.decompress(b))


def test_model_id_is_written_into_the_file(tiny_codec, digits):
    mz = tiny_codec.compress(digits[:1])
    assert mz.model_id == tiny_codec.id == json.loads((tiny_codec.path / "model.json").read_text())["levels"][0]["id"]


def test_file_from_another_model_is_refused(tiny_codec, other_model, digits):
    other = Codec.load(other_model)
    assert other.id != tiny_codec.id
    mz = other.compress(digits[:3])
    with pytest.raises(UnknownModel, match=f"made with model {other.id}, not with tiny \\({tiny_codec.id}\\)"):
        tiny_codec.decompress(mz)


def test_corrupt_stream_behind_a_valid_header_is_an_error(tiny_codec, digits):
    payload, _ = tiny_codec.encode(digits[:4])
    with pytest.raises(BadMzFile, match="range-coded stream is corrupt"):
        tiny_codec.decode(payload + b"\x01\x02", 4)  # bytes left over after the last digit
    with pytest.raises(BadMzFile, match="range-coded stream is corrupt"):
        tiny_codec.decode_batches(payload + b"\x01\x02", 4)  # at the call, before any output is opened


def test_a_corrupt_stream_writes_nothing_to_standard_output(tmp_path, tiny_model, tiny_codec, digits):
    """Nothing written to a pipe can be taken back: an .npy header for digits that never came was left there."""
    payload, _ = tiny_codec.encode(digits[:4])
    container.write(tmp_path / "bad.mz", container.MzFile(tiny_codec.id, 4, payload + b"\x01\x02"))
    r = subprocess.run([sys.executable, "-m", "mnistzip", "decompress", "bad.mz", "-o", "-", "--format", "npy",
                        "-m", str(tiny_model)], cwd=tmp_path, capture_output=True, timeout=300)
    assert r.returncode == 4 and r.stdout == b""
    assert r.stderr.decode().strip() == "mnistzip: error: payload does not decode: the range-coded stream is corrupt"


def test_sample_is_reproducible(tiny_codec):
    a, b, c = tiny_codec.sample(5, seed=7), tiny_codec.sample(5, seed=7), tiny_codec.sample(5, seed=8)
    assert a.shape == (5, 28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_digit_arrays(tiny_codec):
    with pytest.raises(InputError, match=r"expected digits of shape \(N, 28, 28\), found \(2, 27, 28\)"):
        tiny_codec.compress(np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(InputError, match="expected uint8 digits, found float64"):
        tiny_codec.compress(np.zeros((2, 28, 28)))


def test_altered_tables_are_detected(tiny_model, tmp_path):
    copy = tmp_path / "altered"
    shutil.copytree(tiny_model, copy)
    card = json.loads((copy / "model.json").read_text())
    card["levels"][0]["tables_sha256"] = "0" * 64
    (copy / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="range-coding tables do not match model.json"):
        Codec.load(copy)


def test_not_a_model_directory(tmp_path):
    with pytest.raises(ModelError, match="not a mnistzip model \\(no model.json\\)"):
        Codec.load(tmp_path)


def _flip_a_bit(path):
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))


def test_altered_portable_weights_are_detected_and_named(tiny_model, tmp_path):
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_model, copy)
    _flip_a_bit(copy / "weights.npz")
    with pytest.raises(ModelError, match="weights.npz does not match its digest in tiny/model.json "
                                         "\\(the model tiny was altered\\)"):
        Codec.load(copy)


def test_altered_savedmodel_is_detected_by_the_tensorflow_engine(tiny_model, tmp_path):
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_model, copy)
    _flip_a_bit(next((copy / "variables").glob("*.data-*")))
    with pytest.raises(ModelError, match="model files do not match model.json \\(the model tiny was altered\\)"):
        Codec.load(copy, engine="tf")
    assert Codec.load(copy).engine.__class__.__name__ == "Runtime"  # the runtime reads weights.npz alone


def test_header_claiming_more_digits_than_the_payload_holds(tiny_codec, digits):
    payload, _ = tiny_codec.encode(digits[:4])
    need = tiny_codec.min_payload_bytes(100_000)
    assert need > len(payload)
    with pytest.raises(BadMzFile, match=f"payload too short: 100000 digits need at least {need} bytes"):
        tiny_codec.decode(payload, 100_000)


def test_large_counts_decode_in_batches(tiny_codec):
    """5,000 distinct digits, more than one synthesis batch: decoded a batch at a time, they are what the decoder
    makes of the encoder's own latents, decoded by no range coder."""
    from mnistzip.codec import SYNTHESIS_BATCH

    many = mnist.images("test")[:5000]
    batches = list(tiny_codec.decompress_batches(tiny_codec.compress(many)))
    assert [len(b) for b in batches] == [SYNTHESIS_BATCH, 5000 - SYNTHESIS_BATCH]
    np.testing.assert_array_equal(np.concatenate(batches),
                                  tiny_codec.synthesize(tiny_codec.quantize(tiny_codec.latents(many))))


def test_latent_bits_match_the_coded_size(tiny_codec, digits):
    latents = tiny_codec.quantize(tiny_codec.latents(digits))
    assert len(tiny_codec.encode_latents(latents)) * 8 == pytest.approx(tiny_codec.latent_bits(latents).sum(), abs=24)


def test_levels_trade_bits_for_quality(vr_codec):
    digits = mnist.images("test")[:100]
    bits, errors = [], []
    for q in (1, 2, 3):
        codec = vr_codec.at_level(q)
        mz = codec.compress(digits)
        recon = codec.decompress(mz)
        np.testing.assert_array_equal(recon, codec.synthesize(codec.quantize(codec.latents(digits))))
        bits.append(len(mz.payload))
        errors.append(metrics.psnr_of_mean_mse(digits, recon))
        assert vr_codec.with_id(codec.id).level.number == q
    assert bits == sorted(bits) and bits[0] < bits[-1]
    assert errors[-1] > errors[0]
    assert len({vr_codec.at_level(q).id for q in (1, 2, 3)}) == 3


def test_a_level_cannot_decode_another_levels_file(vr_codec):
    mz = vr_codec.at_level(1).compress(mnist.images("test")[:2])
    with pytest.raises(UnknownModel, match=f"the file was made with model {mz.model_id}, not with vr level 3"):
        vr_codec.at_level(3).decompress(mz)


def test_level_out_of_range(vr_model):
    with pytest.raises(ModelError, match="^vr has levels 1 to 3, not 4$"):
        Codec.load(vr_model, level=4)


def test_symbol_costs_match_the_range_coder_with_a_deep_prior(deep_codec):
    digits = mnist.images("test")[:200]
    latents = deep_codec.quantize(deep_codec.latents(digits))
    assert np.abs(latents - np.round(latents)).max() > 0.01  # offsets: the latents are not integers
    payload, _ = deep_codec.encode(digits)
    assert 8 * len(payload) / 200 == pytest.approx(deep_codec.latent_bits(latents).mean(), abs=0.5)


TRAINING = ("mnistzip.train", "mnistzip.trainer", "mnistzip.export", "mnistzip.transforms")


@pytest.mark.parametrize("how", ["library", "cli"])
def test_decoding_imports_no_training_code(tmp_path, how):
    """The coding path (zoo, codec, chunked) stands apart from training: the step the TF-free runtime builds on."""
    golden = str(Path(__file__).parent / "data" / "golden" / "ladder-q12.mz")
    report = f"print(sorted(set({TRAINING!r}) & set(sys.modules)), file=sys.stderr)"
    if how == "library":
        code = (f"import sys\nfrom mnistzip import container, zoo\nmz = container.read({golden!r})\n"
                f"zoo.for_file(mz.model_id).decompress(mz)\n{report}\n")
    else:
        code = (f"import atexit, sys\natexit.register(lambda: {report})\nfrom mnistzip.cli import run\n"
                f"sys.argv = ['mnistzip', 'decompress', {golden!r}, '-o', 'x.png']\nrun()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr
    assert (tmp_path / "x.png").exists() == (how == "cli")


# --- a model that codes the class ------------------------------------------------------------------------------------


def test_a_class_coding_model_sends_the_class_its_guard_reads(class_codec, digits):
    """The stream holds each digit's class, read by the guard classifier, and the decoder draws that class."""
    mz = class_codec.compress(digits)
    latents = class_codec.decode_latents(mz.payload, mz.count)
    assert latents.shape == (len(digits), class_codec.coded_dims) == (len(digits), 1 + class_codec.latent_dims)
    np.testing.assert_array_equal(latents[:, 0], class_codec.class_reader.predict(digits))
    np.testing.assert_array_equal(class_codec.decompress(mz), class_codec.synthesize(latents))
    other = latents.copy()
    other[:, 0] = (other[:, 0] + 1) % 10  # the same latents, told another class
    assert (class_codec.synthesize(other) != class_codec.synthesize(latents)).any(axis=(1, 2)).mean() > 0.9


def test_a_class_coding_models_bits_include_the_class(class_codec, digits):
    """Its entropy estimate is the tables' cost of the class and the latents, and the archive costs about that."""
    mz = class_codec.compress(digits)
    latents = class_codec.decode_latents(mz.payload, mz.count)
    bits = class_codec.latent_bits(latents)
    class_bits = -np.log2(class_codec.tables.pmfs[0])[latents[:, 0].astype(int)]
    assert (bits > class_bits).all() and 2.5 < class_bits.mean() < 4.5
    np.testing.assert_allclose(class_codec.encode(digits)[1], bits)
    assert abs(8 * len(mz.payload) - bits.sum()) < 24
    assert class_codec.min_digit_bits <= bits.min()


def test_a_class_coding_models_one_digit_strings_are_its_one_digit_archives(class_codec, digits):
    for i, string in enumerate(class_codec.encode_each(digits[:5])):
        assert string == class_codec.compress(digits[i : i + 1]).payload


def test_a_class_outside_0_to_9_is_a_corrupt_stream(class_codec):
    """Only a corrupt stream holds a class of 10 or more (the escape code can say one): it is refused."""
    from mnistzip import rangecoder

    cdf, cdf_offset = class_codec.engine.tables(class_codec._q)
    dims = class_codec.latent_dims
    rows = np.concatenate([[0], 1 + 3 * dims + np.arange(dims)])  # as if the class were 3
    values = np.concatenate([[12], np.zeros(dims, np.int64) - cdf_offset[rows[1:]]])  # but 12 is sent
    payload = rangecoder.encode(values, cdf, index=rows)
    with pytest.raises(BadMzFile, match="^payload does not decode: the range-coded stream is corrupt$"):
        class_codec.decode(payload, 1)


def test_a_class_coding_model_samples_digits(class_codec):
    a, b = class_codec.sample(6, seed=3), class_codec.sample_prior(6, seed=3)
    assert a.shape == b.shape == (6, 28, 28) and a.dtype == b.dtype == np.uint8
    np.testing.assert_array_equal(class_codec.sample_prior(6, seed=3), b)


def test_a_digit_gets_the_same_symbols_alone_and_in_any_batch():
    """Batch invariance. At the shipped default, test digit 6991 has a latent within float32's noise of a
    rounding edge: analysed in float32 alone and in some batches (x[6990:6993], x[6872:7000]) it rounded two ways.
    Alone, and in batches of 2, 3, 7 and 120 at several shifts, each of the 120 digits around it gets one set of
    symbols."""
    from mnistzip import zoo

    codec = zoo.load()
    digits = mnist.images("test", rows=slice(6880, 7000))
    alone = np.stack([codec.coding_of(digits[i : i + 1])[3][0] for i in range(len(digits))])
    for size in (2, 3, 7, 120):
        for shift in range(0, size, max(1, size // 7)):
            starts = [0, *range(shift, len(digits), size)]
            batches = [codec.coding_of(digits[a:b])[3] for a, b in zip(starts, [*starts[1:], len(digits)]) if b > a]
            np.testing.assert_array_equal(np.concatenate(batches), alone, err_msg=f"batches of {size}, shift {shift}")


def test_a_class_coding_model_reads_a_digit_s_class_the_same_in_any_batch(monkeypatch):
    """``class-tie.npy``'s two best class scores are within float32's noise, which moves them with the digit's
    place in a batch (by how much depends on the BLAS: here the noise is played, up to ``CLASS_EDGE``/2, so that
    float32 alone would give the tie one class alone and the other in a batch). The class a class-coding rung
    codes is the same anywhere."""
    from mnistzip import classify, zoo

    codec = zoo.load(rung=1)
    reader = codec.class_reader
    tie = np.load(DATA / "class-tie.npy")[None]
    scores = reader.logits(tie)[0]
    first, runner_up = (int(c) for c in np.argsort(-scores, kind="stable")[:2])  # first: argmax's pick in a tie
    assert scores[first] - scores[runner_up] < classify.CLASS_EDGE / 4
    exact = classify.Classifier.logits

    def noisy(self, images):
        scores = exact(self, images)
        scores[:1, first] += np.float32(classify.CLASS_EDGE / 2)  # first in its batch
        scores[1:, runner_up] += np.float32(classify.CLASS_EDGE / 2)  # anywhere else
        return scores

    monkeypatch.setattr(classify.Classifier, "logits", noisy)
    others = mnist.images("test", rows=slice(0, 40))
    batches = [np.concatenate([others[:at], tie, others[at:]]) for at in (0, 7, 40)]
    alone = codec.coding_of(tie)[3][0]
    assert {int(reader.predict(b)[at]) for b, at in zip(batches, (0, 7, 40))} == {first, runner_up}
    for batch, at in zip(batches, (0, 7, 40)):
        np.testing.assert_array_equal(codec.coding_of(batch)[3][at], alone)
