"""The trainer's quantisation in training; model exports: the decoder-only re-save that keeps a retired
model's files decoding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnistzip import data
from mnistzip.codec import Codec
from mnistzip.errors import ModelError
from mnistzip.model import CompressionTrainer, export_decoder


@pytest.mark.parametrize("prior", ["deep", "conditional"])
def test_mixed_quantization_trains_the_decoder_on_rounded_latents_straight_through(prior):
    """With "mixed", the decoder trains on the latents the codec would decode (noise only for the rate)."""
    import tensorflow as tf

    tf.random.set_seed(1)
    z = tf.random.normal((50, 2, 6)) * 3  # (digits, qualities, latents), in the coded domain
    seen = {}
    for quantization in ("noise", "mixed"):
        trainer = CompressionTrainer(6, prior, "mse", (300, 3000), width=16, quantization=quantization)
        if prior == "conditional":  # predictions that do not move with the noise: loc 0 for every dimension
            for v in trainer.conditional_net.variables:
                v.assign(tf.zeros_like(v))
        with tf.GradientTape() as tape:
            tape.watch(z)
            seen[quantization], bits = trainer._perturb(z, training=True)
        assert bits.shape == (50, 2)
        np.testing.assert_allclose(tape.gradient(seen[quantization], z), np.ones(z.shape))  # the encoder still learns
    decoded = trainer._perturb(z, training=False)[0]
    np.testing.assert_allclose(seen["mixed"], decoded, atol=1e-6)
    assert np.abs(seen["noise"] - decoded).max() > 0.1


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


@pytest.mark.parametrize("fixture", ["vr_model", "deep_model"])
def test_a_float16_decoder_gives_the_same_latents_and_digits_within_a_grey_level(fixture, request, tmp_path):
    source = request.getfixturevalue(fixture)
    meta = export_decoder(source, tmp_path / "dec", note="retired", half=True)
    assert meta["weights_dtype"] == "float16" and meta["decode_only"] is True
    full, decoder = Codec.load(source), Codec.load(tmp_path / "dec")  # loading checks the tables' digests
    digits = data.load_mnist("test")[:200]
    mz = full.compress(digits)
    assert decoder.id == full.id
    np.testing.assert_array_equal(decoder.decode_latents(mz.payload, mz.count), full.decode_latents(mz.payload, mz.count))
    ours, theirs = decoder.decompress(mz).astype(int), full.decompress(mz).astype(int)
    assert np.abs(ours - theirs).max() <= 1 and np.mean(ours != theirs) < 0.02
    ours, theirs = decoder.sample(20, seed=1).astype(int), full.sample(20, seed=1).astype(int)
    assert np.abs(ours - theirs).max() <= 1
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())  # noqa: E731
    assert size(tmp_path / "dec") < 0.35 * size(source)


def test_a_decoder_export_never_clobbers_unless_forced_and_can_replace_its_source(vr_model, tmp_path):
    import shutil

    from mnistzip.errors import OutputError

    model = tmp_path / "m"
    shutil.copytree(vr_model, model)
    with pytest.raises(OutputError, match="already exists; pass --force to overwrite it"):
        export_decoder(model, model, note="retired", half=True)
    assert "decode_only" not in json.loads((model / "model.json").read_text())  # untouched
    export_decoder(model, model, note="retired", half=True, force=True)
    assert json.loads((model / "model.json").read_text())["decode_only"] is True
    assert Codec.load(model).id == Codec.load(vr_model).id
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary left behind


def test_a_float16_decoder_needs_a_float32_factorized_model(cond_model, tmp_path):
    with pytest.raises(ValueError, match="from a float32 factorized-prior model, not from float32 weights with the "
                                         "conditional prior"):
        export_decoder(cond_model, tmp_path / "dec", note="retired", half=True)


@pytest.mark.parametrize("synthesis", ["seed", "conv3"])
def test_a_half_precision_export_is_half_the_size_and_codes_the_same_way(tmp_path, mnist_dir, synthesis):
    from mnistzip.train import TrainConfig, train

    config = TrainConfig(lmbda=[300, 3000], latent_dims=12, distortion="mse", prior="conditional", epochs=1,
                         steps_per_epoch=5, train_limit=640, test_limit=100, seed=6, synthesis=synthesis)
    full = train(config, tmp_path / "full", data_dir=mnist_dir)
    half = train(config, tmp_path / "half", data_dir=mnist_dir, half=True)
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())  # noqa: E731
    assert size(tmp_path / "half") < 0.6 * size(tmp_path / "full")
    assert half.meta["weights_dtype"] == "float16" and full.meta["weights_dtype"] == "float32"
    for a, b in zip(full.meta["qualities"], half.meta["qualities"]):
        assert b["test"]["psnr_of_mean_mse"] == pytest.approx(a["test"]["psnr_of_mean_mse"], abs=0.05)
    codec = Codec.load(tmp_path / "half", quality=2)
    digits = data.load_mnist("test")[:30]
    np.testing.assert_array_equal(codec.decompress(codec.compress(digits)),
                                  codec.synthesize(codec.quantize(codec.latents(digits))))


@pytest.mark.parametrize("choice, message", [
    (dict(prior="flat"), "prior must be one of logistic, normal, deep, conditional, not 'flat'"),
    (dict(distortion="l3"), "distortion must be one of mae, mse, not 'l3'"),
    (dict(quantization="soft"), "quantization must be one of noise, mixed, not 'soft'"),
    (dict(synthesis="gdn"), "synthesis must be one of seed, conv3, not 'gdn'"),
])
def test_a_python_caller_is_told_the_choices(choice, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        CompressionTrainer(latent_dims=4, **choice)


def test_an_older_card_describes_the_seed_decoder():
    from mnistzip.model import SynthesisTransform

    def layers(recipe):
        decoder = SynthesisTransform.of(recipe)
        decoder.build((None, 8))
        return [(layer.name, layer.weights[0].shape[-1] if layer.weights else None) for layer in decoder.layers]

    seed = layers({})  # a card from before --width and --synthesis existed
    assert seed[0] == ("fc_1", 500) and [n for n, _ in seed][-2:] == ["conv_1", "conv_2"]
    conv3 = layers(dict(width=250, synthesis="conv3"))
    assert conv3[0] == ("fc_1", 250) and conv3[-1][0] == "conv_3"
