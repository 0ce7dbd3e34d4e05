"""The transforms: a card's recipe describes its decoder."""

from __future__ import annotations

from mnistzip.recipe import SEED_RECIPE
from mnistzip.transforms import SynthesisTransform


def test_a_recipe_describes_its_decoder():
    def layers(recipe):
        decoder = SynthesisTransform.of(recipe)
        decoder.build((None, 8))
        return [(layer.name, layer.weights[0].shape[-1] if layer.weights else None) for layer in decoder.layers]

    seed = layers(SEED_RECIPE)
    assert seed[0] == ("fc_1", 500) and [n for n, _ in seed][-2:] == ["conv_1", "conv_2"]
    conv3 = layers(dict(width=250, synthesis="conv3"))
    assert conv3[0] == ("fc_1", 250) and conv3[-1][0] == "conv_3"
