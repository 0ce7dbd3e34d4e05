"""Presets: the ladder's recipe at a λ, presets that reproduce what they name, the options given win."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from mnistzip import catalogue
from mnistzip.errors import UsageError
from mnistzip.presets import DEFAULT_MINUTES, config
from mnistzip.recipe import SEED_RECIPE, recipe_family


def _shape(cfg) -> dict:
    return {k: v for k, v in asdict(cfg).items() if k in SEED_RECIPE}


@pytest.mark.parametrize("name", sorted({r.card.name for r in catalogue.ladder()}))
def test_the_ladder_preset_with_a_models_lambdas_reproduces_it(name):
    card = next(r.card for r in catalogue.ladder() if r.card.name == name)
    cfg = config([lv.lmbda for lv in card.levels], "ladder")
    assert asdict(cfg) == {k: v for k, v in card.recipe.items() if k in asdict(cfg)}  # every choice, λ and seed too


def test_another_lambda_takes_the_recipe_of_the_nearest_rung():
    rungs = catalogue.ladder()
    for rung in rungs:
        if rung.level.lmbda in [r.level.lmbda for r in rungs[: rung.number - 1]]:
            continue  # two models have a level at this λ: the lower rung's recipe is taken
        assert _shape(config([rung.level.lmbda * 1.01], "ladder")) == {k: rung.card.recipe[k] for k in SEED_RECIPE}
    assert _shape(config([10.0], "ladder"))["latent_dims"] == rungs[0].card.recipe["latent_dims"]


def test_the_default_is_the_ladder_recipe_cut_to_a_quarter_hour():
    card = catalogue.by_bits(15).card  # the model of the rungs around λ=500
    default = _shape(config([500]))
    per_epoch = card.raw["training_seconds"] / (card.recipe["epochs"] + card.recipe["decoder_epochs"])
    assert default == dict(_shape(config([500], "ladder")), epochs=default["epochs"])
    assert (default["epochs"] + default["decoder_epochs"]) * per_epoch == pytest.approx(DEFAULT_MINUTES * 60, abs=per_epoch)
    assert default["prior"] == "conditional" and default["half"]


def test_the_seed_preset_is_the_seed_recipe_under_the_options_given():
    cfg = config([2000], "seed", distortion="mse", epochs=None)
    assert _shape(cfg) == dict(SEED_RECIPE, distortion="mse")
    assert recipe_family(asdict(config([2000], "seed"))) == "seed"


@pytest.mark.parametrize("lmbdas, preset, options, message", [
    ([500], "fast", {}, "unknown preset 'fast': expected one of ladder, seed"),
    ([500], None, dict(prior="flat"), "--prior must be one of logistic, normal, deep, conditional, not 'flat'"),
    ([900, 500], None, {}, "--lmbda values must be positive and ascending, not 900, 500"),
    ([0.0], None, {}, "--lmbda values must be positive and ascending, not 0"),
    ([500], "seed", dict(code_class=True), "--code-class needs --prior deep, not logistic"),
])
def test_a_bad_recipe_is_one_line(lmbdas, preset, options, message):
    with pytest.raises(UsageError, match=f"^{message}$"):
        config(lmbdas, preset, **options)
