"""Export: the SavedModel and its card, as every model has them."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from mnistzip import mnist
from mnistzip.card import Card
from mnistzip.codec import Codec
from mnistzip.fileio import tree_digest


def test_the_card_holds_every_level_and_the_digests_cover_every_other_file(vr_model):
    """Every file but the card and the training log is digested: a model with its history removed still loads."""
    card = Card.read(vr_model)
    assert [lv.number for lv in card.levels] == [1, 2, 3] and card.raw["files_sha256"] == tree_digest(
        vr_model, exclude=("model.json", "history.json"))
    assert {p.name for p in vr_model.iterdir()} >= {"model.json", "history.json", "saved_model.pb", "variables"}
    assert card.recipe["lmbda"] == [100, 1000, 10000] and card.raw["weights_dtype"] == "float16"  # (half=True)


def test_a_model_without_its_history_still_loads(tiny_model, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    (copy / "history.json").unlink()
    assert Codec.load(copy).id == Card.read(tiny_model).levels[0].id


@pytest.mark.parametrize("synthesis", ["seed", "conv3"])
def test_a_half_precision_export_is_half_the_size_and_codes_the_same_way(tmp_path, mnist_dir, synthesis):
    from mnistzip.train import TrainConfig, train

    config = TrainConfig(lmbda=[300, 3000], latent_dims=12, distortion="mse", prior="conditional", epochs=1,
                         steps_per_epoch=5, train_limit=640, test_limit=100, seed=6, synthesis=synthesis)
    full = train(config, tmp_path / "full", data_dir=mnist_dir)
    half = train(replace(config, half=True), tmp_path / "half", data_dir=mnist_dir)
    size = lambda d: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())  # noqa: E731
    assert size(tmp_path / "half") < 0.6 * size(tmp_path / "full")
    assert half.card["weights_dtype"] == "float16" and full.card["weights_dtype"] == "float32"
    for a, b in zip(full.card["levels"], half.card["levels"]):
        assert b["test"]["psnr_of_mean_mse"] == pytest.approx(a["test"]["psnr_of_mean_mse"], abs=0.05)
    codec = Codec.load(tmp_path / "half", level=2)
    digits = mnist.images("test")[:30]
    np.testing.assert_array_equal(codec.decompress(codec.compress(digits)),
                                  codec.synthesize(codec.quantize(codec.latents(digits))))
