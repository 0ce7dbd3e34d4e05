"""The small models the tests code with, trained once and kept as test data (``tests/data/models/NAME/``).

Six kinds, each as small as the code path it exercises allows: ``tiny`` and ``other`` (two seed-recipe models,
factorized logistic prior, different ids), ``vr`` (three levels), ``cond`` (the conditional prior, two levels),
``deep`` (the deep factorized prior, whose quantisation offsets are not 0) and ``class`` (a class-coding model).
They are full exports (SavedModel, ``weights.npz``, card), so that the tests run on the NumPy runtime without
TensorFlow and on the TensorFlow engine where it is installed. Their weights are float16 (``half``): half the size.

    python tests/data/make_test_models.py          (from the checkout; needs mnistzip[train] and MNIST's training split)
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())  # the checkout's mnistzip, not an installed one

from mnistzip.recipe import TrainConfig  # noqa: E402
from mnistzip.train import train  # noqa: E402

MODELS = Path(__file__).parent / "models"
SMALL = dict(width=32, epochs=1, train_limit=3840, test_limit=200, half=True)
RECIPES = {
    "tiny": dict(lmbda=500, steps_per_epoch=30, seed=1),
    "other": dict(lmbda=500, steps_per_epoch=30, seed=2),
    "vr": dict(lmbda=[100, 1000, 10000], latent_dims=16, distortion="mse", steps_per_epoch=30, seed=3),
    "cond": dict(lmbda=[300, 3000], latent_dims=12, distortion="mse", prior="conditional", steps_per_epoch=40,
                 train_limit=5120, seed=4),
    "deep": dict(lmbda=1000, latent_dims=16, distortion="mse", prior="deep", steps_per_epoch=30, test_limit=100,
                 seed=4),
    "class": dict(lmbda=[300, 3000], latent_dims=8, distortion="mse", prior="deep", code_class=True,
                  steps_per_epoch=30, seed=5),
}


def main() -> None:
    data_dir = os.environ.get("MNISTZIP_DATA_DIR")
    MODELS.mkdir(exist_ok=True)
    for name, recipe in RECIPES.items():
        target = MODELS / name
        shutil.rmtree(target, ignore_errors=True)
        train(TrainConfig(**{**SMALL, **recipe}), target, data_dir=data_dir)
        print(f"{target}: {sum(p.stat().st_size for p in target.rglob('*') if p.is_file()):,} bytes")


if __name__ == "__main__":
    main()
