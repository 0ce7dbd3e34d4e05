"""The transforms: a small convolutional encoder to a latent vector, and the decoder back to a digit.

The seed architecture (the TFC "learned data compression" tutorial), with the
decoder's width and shape as recipe choices (``recipe.SYNTHESES``).
"""

from __future__ import annotations

import tensorflow as tf

from .container import SIDE
from .recipe import SEED_RECIPE, check_choice

WIDTH = SEED_RECIPE["width"]  # units of the fully connected hidden layer on each side (the seed's)


class AnalysisTransform(tf.keras.Sequential):
    """Encoder: 28x28 digit in [0, 1] → latent vector."""

    def __init__(self, latent_dims: int, width: int = WIDTH):
        super().__init__(name="analysis_transform")
        conv = dict(kernel_size=5, strides=2, padding="same", activation="leaky_relu")
        self.add(tf.keras.layers.Conv2D(20, name="conv_1", **conv))
        self.add(tf.keras.layers.Conv2D(50, name="conv_2", **conv))
        self.add(tf.keras.layers.Flatten())
        self.add(tf.keras.layers.Dense(width, activation="leaky_relu", name="fc_1"))
        self.add(tf.keras.layers.Dense(latent_dims, activation=None, name="fc_2"))


class SynthesisTransform(tf.keras.Sequential):
    """Decoder: latent vector → 28x28 digit in [0, 1] (before rounding).

    "seed": the seed's two transposed convolutions (20 channels, then the digit).
    "conv3": twice the channels at 14x14 (40), a second upsampling to 16
    channels and a 3x3 convolution to the digit: the strokes are drawn by more
    than one channel at full resolution (41 k more weights; decoding ~30% slower,
    measured in docs/results/levers.md).
    """

    def __init__(self, width: int = WIDTH, synthesis: str = SEED_RECIPE["synthesis"]):
        super().__init__(name="synthesis_transform")
        check_choice("synthesis", synthesis)
        conv = dict(kernel_size=5, strides=2, padding="same", activation="leaky_relu")
        self.add(tf.keras.layers.Dense(width, activation="leaky_relu", name="fc_1"))
        self.add(tf.keras.layers.Dense(2450, activation="leaky_relu", name="fc_2"))
        self.add(tf.keras.layers.Reshape((7, 7, 50)))
        if synthesis == "seed":
            self.add(tf.keras.layers.Conv2DTranspose(20, name="conv_1", **conv))
            self.add(tf.keras.layers.Conv2DTranspose(1, name="conv_2", **conv))
        else:
            self.add(tf.keras.layers.Conv2DTranspose(40, name="conv_1", **conv))
            self.add(tf.keras.layers.Conv2DTranspose(16, name="conv_2", **conv))
            self.add(tf.keras.layers.Conv2D(1, 3, padding="same", activation="leaky_relu", name="conv_3"))

    @classmethod
    def of(cls, recipe: dict) -> "SynthesisTransform":
        """The decoder a model card's recipe describes."""
        return cls(recipe["width"], recipe["synthesis"])


def to_unit(x: tf.Tensor) -> tf.Tensor:
    """uint8 digits (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1]."""
    return tf.reshape(tf.cast(x, tf.float32) / 255.0, (-1, SIDE, SIDE, 1))


def to_uint8(x_unit: tf.Tensor) -> tf.Tensor:
    """Decoder output in [0, 1] → uint8 (N, 28, 28), rounded and saturated."""
    return tf.saturate_cast(tf.round(tf.reshape(x_unit, (-1, SIDE, SIDE)) * 255.0), tf.uint8)
