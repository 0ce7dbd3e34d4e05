"""A training recipe: every choice that shapes a trained model, its presets, and the command line's options
assembled into one (``config``).

Kept apart from the training loop (and free of NumPy and TensorFlow) so that
the command line checks a recipe without loading either.

Presets: "seed" is the seed reports' recipe, the reproducible baseline;
"ladder" is the recipe the shipped ladder uses at the λs asked for, read from
the card of the model that trained those rungs (so it follows the ladder); the
default is that recipe cut to about ``DEFAULT_MINUTES`` of training, which gets
most of its quality (docs/results/levers.md, "The default recipe").
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import InputError

DEFAULT_LMBDA = 2000.0
DEFAULT_MINUTES = 15  # what the default recipe trains for, on a 2-core machine like the one the ladder was trained on
LR_SCHEDULES = ("constant", "cosine")
DISTORTIONS = ("mae", "mse")
PRIORS = ("logistic", "normal", "deep", "conditional")  # conditional: each dimension given the ones before
# What the decoder sees in training: the noisy latents the rate is measured on (the seed's), or "mixed":
# the latents rounded as the codec rounds them, with a straight-through gradient (Minnen & Singh, 2020).
QUANTIZATIONS = ("noise", "mixed")
SYNTHESES = ("seed", "conv3")  # decoder architectures (see transforms.SynthesisTransform)
# the options that name one of a few choices, in the order the command line checks them
CHOICES = dict(distortion=DISTORTIONS, lr_schedule=LR_SCHEDULES, prior=PRIORS, quantization=QUANTIZATIONS,
               synthesis=SYNTHESES)
SEED_RECIPE = dict(  # the seed reports' recipe, which every default below follows
    latent_dims=50, width=500, epochs=15, batch_size=128, lr=1e-3, lr_schedule="constant", distortion="mae",
    prior="logistic", quantization="noise", decoder_epochs=0, synthesis="seed", half=False, code_class=False,
)
# Choices added after models had shipped: a card that lacks one was trained with the seed's value.
LATER_CHOICES = ("code_class",)
CLASS_PRIORS = ("deep",)  # the priors a class-coding model can have (one density per level, class and dimension)
PRESETS = ("ladder", "seed")


def check_choice(name: str, value: str, label: str | None = None) -> None:
    """Refuse a ``value`` that is not one of ``CHOICES[name]``, naming them (``label``: what to call the option)."""
    if value not in CHOICES[name]:
        raise ValueError(f"{label or name} must be one of {', '.join(CHOICES[name])}, not {value!r}")


@dataclass
class TrainConfig:
    """Every choice that shapes a trained model (the seed recipe by default; the command line's: see ``config``)."""

    lmbda: float | list[float] = DEFAULT_LMBDA  # several: one model with a level per λ, level 1 = first
    latent_dims: int = SEED_RECIPE["latent_dims"]
    width: int = SEED_RECIPE["width"]  # hidden units of the transforms' fully connected layers: size ~2 x 2450 x width
    epochs: int = SEED_RECIPE["epochs"]
    batch_size: int = SEED_RECIPE["batch_size"]
    lr: float = SEED_RECIPE["lr"]
    lr_schedule: str = SEED_RECIPE["lr_schedule"]  # or "cosine": decay to 0 over the whole run
    distortion: str = SEED_RECIPE["distortion"]
    prior: str = SEED_RECIPE["prior"]
    quantization: str = SEED_RECIPE["quantization"]  # or "mixed": the decoder trains on rounded latents
    decoder_epochs: int = SEED_RECIPE["decoder_epochs"]  # then the decoder alone, on the latents the codec decodes
    synthesis: str = SEED_RECIPE["synthesis"]  # decoder architecture: the seed's, or "conv3" (more convolution)
    half: bool = SEED_RECIPE["half"]  # export the transforms' weights in float16: half the size
    code_class: bool = SEED_RECIPE["code_class"]  # send the digit's class first; the prior and decoder take it
    seed: int = 0
    train_limit: int | None = None  # use only the first N training digits (tests)
    test_limit: int | None = None  # validate on the first N test digits (tests)
    steps_per_epoch: int | None = None  # cap batches per epoch (tests)

    @property
    def lmbdas(self) -> list[float]:
        """The λ of each level (one for a model of one level)."""
        return [float(v) for v in self.lmbda] if isinstance(self.lmbda, (list, tuple)) else [float(self.lmbda)]


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
    import math

    from . import zoo

    cards = {r.card.name: r.card for r in zoo.ladder()}.values()
    exact = [c for c in cards if [lv.lmbda for lv in c.levels] == [float(v) for v in lmbdas]]
    if exact:
        card = exact[0]
    else:
        centre = sum(math.log(v) for v in lmbdas) / len(lmbdas)
        card = min(zoo.ladder(), key=lambda r: abs(math.log(r.level.lmbda) - centre)).card
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
    raise InputError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")


def config(lmbdas: list[float], preset_name: str | None = None, **options) -> TrainConfig:
    """The recipe the command line asks for: ``options`` given (not None) over the preset's, checked.

    ``lmbdas``: one per level, ascending. Options that are not recipe choices
    (seed, data limits) pass through.
    """
    lmbdas = list(lmbdas) or [DEFAULT_LMBDA]
    if any(v <= 0 for v in lmbdas) or sorted(set(lmbdas)) != list(lmbdas):
        raise InputError(f"--lmbda values must be positive and ascending, not {', '.join(f'{v:g}' for v in lmbdas)}")
    recipe = preset(preset_name, lmbdas)
    recipe.update({k: v for k, v in options.items() if v is not None})
    for name in CHOICES:
        try:
            check_choice(name, recipe[name], label="--" + name.replace("_", "-"))
        except ValueError as e:
            raise InputError(str(e)) from None
    if recipe["code_class"] and recipe["prior"] not in CLASS_PRIORS:
        raise InputError(f"--code-class needs --prior {' or '.join(CLASS_PRIORS)}, not {recipe['prior']}")
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(lmbda=lmbdas[0] if len(lmbdas) == 1 else list(lmbdas),
                       **{k: v for k, v in recipe.items() if k in known})


def recipe_family(recipe: dict) -> str:
    """The family of a recipe: models that differ only in λ (and seed or data limits) form one RD curve.

    'seed' for the seed recipe, else e.g. 'mse/deep/L50/cosine/e30' ('.../L32/W200/...' for a width other than 500,
    '.../L32/conv3/...' for another decoder architecture, '.../e30/mixed' for a decoder trained on rounded latents,
    '.../e30/d1' for one epoch of decoder fine-tuning, '.../e80/class' for a model that codes the class).
    Float16 storage is not part of the family: it moves a pixel by a grey level now and then.
    """
    shape = {k: recipe.get(k, SEED_RECIPE[k]) for k in SEED_RECIPE if k != "half"}
    variable = isinstance(recipe.get("lmbda"), (list, tuple))
    if shape == {k: v for k, v in SEED_RECIPE.items() if k != "half"} and not variable:
        return "seed"
    width = [f"W{shape['width']}"] if shape["width"] != SEED_RECIPE["width"] else []
    synthesis = [shape["synthesis"]] if shape["synthesis"] != SEED_RECIPE["synthesis"] else []
    return "/".join([*(["vr"] if variable else []), shape["distortion"], shape["prior"], f"L{shape['latent_dims']}",
                     *width, *synthesis, shape["lr_schedule"], f"e{shape['epochs']}",
                     *([shape["quantization"]] if shape["quantization"] != SEED_RECIPE["quantization"] else []),
                     *([f"d{shape['decoder_epochs']}"] if shape["decoder_epochs"] else []),
                     *(["class"] if shape.get("code_class") else [])])
