"""A training recipe: every choice that shapes a trained model, in words, and the family a recipe belongs to.

Kept apart from the training loop (and free of NumPy and TensorFlow) so that
a model card (``card``) and the command line read a recipe without loading
either. The presets that fill one in are ``presets``.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LMBDA = 2000.0
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
# The choices a card may lack (they came after some models were trained): it was trained with the seed's value.
OPTIONAL_CHOICES = ("code_class",)
CLASS_PRIORS = ("deep",)  # the priors a class-coding model can have (one density per level, class and dimension)


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
