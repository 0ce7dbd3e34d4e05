"""The recipes ``mnistzip train`` starts from, and the command line's options assembled over one (``config``).

"seed" is the seed reports' recipe, the reproducible baseline; "ladder" is
the recipe the shipped ladder uses at the λs asked for, read from the card of
the model that trained those rungs (so it follows the ladder); the default is
that recipe cut to about ``DEFAULT_MINUTES`` of training, which gets most of
its quality (docs/results/levers.md, "The default recipe").
"""

from __future__ import annotations

import math
from dataclasses import fields

from . import catalogue
from .errors import UsageError
from .recipe import CHOICES, CLASS_PRIORS, DEFAULT_LMBDA, SEED_RECIPE, TrainConfig, check_choice

DEFAULT_MINUTES = 15  # what the default recipe trains for, on a 2-core machine like the one the ladder was trained on
PRESETS = ("ladder", "seed")


def ladder_recipe(lmbdas: list[float]) -> tuple[dict, float]:
    """The recipe the shipped ladder uses at ``lmbdas``, from the card of the model that trained it, and the
    seconds an epoch of it took (its card's training time over its epochs).

    The ladder's models each cover a range of rates, each with its own recipe
    (fewer latents and narrower transforms at low rates). The model whose
    levels are exactly ``lmbdas`` gives its recipe (so ``--preset ladder``
    with a model's λs reproduces it); otherwise the model of the rung whose λ
    is nearest their geometric mean (on a log scale; the lower rung of two
    with the same λ). λ is a rough guide across models: the same λ gives a
    few bits more or less in each (1400: 19.0, 21.6 and 26.0 bits in three).
    """
    cards = {r.card.name: r.card for r in catalogue.ladder()}.values()
    exact = [c for c in cards if [lv.lmbda for lv in c.levels] == [float(v) for v in lmbdas]]
    if exact:
        card = exact[0]
    else:
        centre = sum(math.log(v) for v in lmbdas) / len(lmbdas)
        card = min(catalogue.ladder(), key=lambda r: abs(math.log(r.level.lmbda) - centre)).card
    recipe = {k: card.recipe[k] for k in SEED_RECIPE}
    return recipe, card.raw["training_seconds"] / (recipe["epochs"] + recipe["decoder_epochs"])


def preset(name: str | None, lmbdas: list[float]) -> dict:
    """A preset's recipe for ``lmbdas``: "seed", "ladder" (see ``ladder_recipe``), or None for the default:
    the ladder's recipe for as many epochs as took ``DEFAULT_MINUTES`` when its model was trained."""
    if name == "seed":
        return dict(SEED_RECIPE)
    if name == "ladder":
        return ladder_recipe(lmbdas)[0]
    if name is None:
        recipe, seconds_per_epoch = ladder_recipe(lmbdas)
        budget = DEFAULT_MINUTES * 60 / seconds_per_epoch - recipe["decoder_epochs"]
        return dict(recipe, epochs=int(min(recipe["epochs"], max(1, round(budget)))))
    raise UsageError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")


def config(lmbdas: list[float], preset_name: str | None = None, **options) -> TrainConfig:
    """The recipe the command line asks for: ``options`` given (not None) over the preset's, checked.

    ``lmbdas``: one per level, ascending. Options that are not recipe choices
    (seed, data limits) pass through.
    """
    lmbdas = list(lmbdas) or [DEFAULT_LMBDA]
    if any(v <= 0 for v in lmbdas) or sorted(set(lmbdas)) != list(lmbdas):
        raise UsageError(f"--lmbda values must be positive and ascending, not {', '.join(f'{v:g}' for v in lmbdas)}")
    recipe = preset(preset_name, lmbdas)
    recipe.update({k: v for k, v in options.items() if v is not None})
    for name in CHOICES:
        try:
            check_choice(name, recipe[name], label="--" + name.replace("_", "-"))
        except ValueError as e:
            raise UsageError(str(e)) from None
    if recipe["code_class"] and recipe["prior"] not in CLASS_PRIORS:
        raise UsageError(f"--code-class needs --prior {' or '.join(CLASS_PRIORS)}, not {recipe['prior']}")
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(lmbda=lmbdas[0] if len(lmbdas) == 1 else list(lmbdas),
                       **{k: v for k, v in recipe.items() if k in known})
