"""Shared fixtures: the MNIST directory, tiny trained models, a CLI runner in a temp dir."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# Without mnistzip[train] (the runtime alone, as on Python 3.12+), tests of training code are not
# collected and the fixtures that train tiny models skip the tests that use them.
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
collect_ignore = [] if HAVE_TF else ["test_trainer.py", "test_transforms.py", "test_train.py", "test_chunked.py",
                                     "test_export.py", "test_conditional.py"]


HAVE_EVAL = all(importlib.util.find_spec(m) is not None for m in ("scipy", "matplotlib"))


def pytest_configure(config):
    config.addinivalue_line("markers", "train: needs mnistzip[train] (TensorFlow); skipped without it")
    config.addinivalue_line("markers", "eval_extra: needs mnistzip[eval] (scipy, matplotlib); skipped without it")


def pytest_runtest_setup(item):
    if item.get_closest_marker("train") and not HAVE_TF:
        pytest.skip("needs mnistzip[train]")
    if item.get_closest_marker("eval_extra") and not HAVE_EVAL:
        pytest.skip("needs mnistzip[eval]")


def _needs_training() -> None:
    if not HAVE_TF:
        pytest.skip("trains a model: needs mnistzip[train]")

DATA_DIR = Path(
    os.environ.get("MNISTZIP_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "mnist"
)


@pytest.fixture(scope="session", autouse=True)
def mnist_dir() -> Path:
    """The offline MNIST IDX directory, exported as $MNISTZIP_DATA_DIR for the CLI."""
    if not (DATA_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.exit(f"MNIST IDX files not found in {DATA_DIR}; set MNISTZIP_DATA_DIR", returncode=2)
    os.environ["MNISTZIP_DATA_DIR"] = str(DATA_DIR)
    return DATA_DIR


def _train_tiny(path: Path, seed: int) -> Path:
    """A seed-architecture model trained for a few dozen steps: enough to code, fast to make."""
    _needs_training()
    from mnistzip.train import TrainConfig, train

    config = TrainConfig(lmbda=500, epochs=1, steps_per_epoch=30, train_limit=3840, test_limit=200, seed=seed)
    train(config, path, data_dir=DATA_DIR)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Directory of a tiny trained model."""
    return _train_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=1)


@pytest.fixture(scope="session")
def other_model(tmp_path_factory) -> Path:
    """A second tiny model, different weights (hence a different id)."""
    return _train_tiny(tmp_path_factory.mktemp("models") / "other", seed=2)


@pytest.fixture(scope="session")
def vr_model(tmp_path_factory) -> Path:
    """A tiny variable-rate model: three quality levels sharing one pair of transforms."""
    _needs_training()
    from mnistzip.train import TrainConfig, train

    path = tmp_path_factory.mktemp("models") / "vr"
    config = TrainConfig(lmbda=[100, 1000, 10000], latent_dims=16, distortion="mse", prior="logistic", epochs=1,
                         steps_per_epoch=30, train_limit=3840, test_limit=200, seed=3)
    train(config, path, data_dir=DATA_DIR)
    return path


@pytest.fixture(scope="session")
def cond_model(tmp_path_factory):
    """A tiny variable-rate model with the conditional prior (two quality levels), narrow transforms."""
    _needs_training()
    from mnistzip.train import TrainConfig, train

    path = tmp_path_factory.mktemp("models") / "cond"
    config = TrainConfig(lmbda=[300, 3000], latent_dims=12, width=128, distortion="mse", prior="conditional",
                         epochs=1, steps_per_epoch=40, train_limit=5120, test_limit=200, seed=4)
    train(config, path, data_dir=DATA_DIR)
    return path


@pytest.fixture(scope="session")
def cond_codec(cond_model):
    from mnistzip.codec import Codec

    return Codec.load(cond_model, level=2)


@pytest.fixture(scope="session")
def deep_model(tmp_path_factory) -> Path:
    """A tiny single-rate model with the deep factorized prior (its quantisation offsets are not 0)."""
    _needs_training()
    from mnistzip.train import TrainConfig, train

    path = tmp_path_factory.mktemp("models") / "deep"
    config = TrainConfig(lmbda=1000, latent_dims=16, distortion="mse", prior="deep", epochs=1, steps_per_epoch=30,
                         train_limit=3840, test_limit=100, seed=4)
    train(config, path, data_dir=DATA_DIR)
    return path


@pytest.fixture(scope="session")
def class_model(tmp_path_factory) -> Path:
    """A tiny two-level model that codes each digit's class first (deep prior per level and class)."""
    _needs_training()
    from mnistzip.train import TrainConfig, train

    path = tmp_path_factory.mktemp("models") / "class"
    config = TrainConfig(lmbda=[300, 3000], latent_dims=8, width=128, distortion="mse", prior="deep", code_class=True,
                         epochs=1, steps_per_epoch=30, train_limit=3840, test_limit=200, half=True, seed=5)
    train(config, path, data_dir=DATA_DIR)
    return path


@pytest.fixture(scope="session")
def class_codec(class_model):
    from mnistzip.codec import Codec

    return Codec.load(class_model, level=2)


@pytest.fixture(scope="session")
def deep_codec(deep_model):
    from mnistzip.codec import Codec

    return Codec.load(deep_model)


@pytest.fixture(scope="session")
def vr_codec(vr_model):
    from mnistzip.codec import Codec

    return Codec.load(vr_model)


@pytest.fixture(scope="session")
def tiny_codec(tiny_model):
    from mnistzip.codec import Codec

    return Codec.load(tiny_model)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run the test inside an empty temporary directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(in_tmp):
    """Invoke the mnistzip CLI in a temp dir: ``cli("info", "x.mz")`` → click Result."""
    from typer.testing import CliRunner

    from mnistzip.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


def draw_on_paper(path: Path, digit: str = "2", paper=(205, 190, 165), shade: float = 0.35, shadow: bool = False,
                  size=(400, 300), seed: int = 0) -> Path:
    """A phone photo of a pen digit (``2`` or ``7``) on beige paper, grey 180-220, shaded from one corner (and a hard
    shadow across it with ``shadow``), saved as an RGB JPEG: what a user's own digit looks like."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    yy, xx = np.mgrid[:h, :w]
    light = 1.0 - shade * (0.6 * xx / w + 0.4 * yy / h)
    sheet = np.stack([np.full((h, w), c, float) * light for c in paper], -1)
    sheet += np.random.default_rng(seed).normal(0, 3, sheet.shape)
    img = Image.fromarray(np.clip(sheet, 0, 255).astype(np.uint8), "RGB")
    pen, s, cx, cy = dict(fill=(40, 40, 70), width=max(4, h // 21)), min(w, h) * 0.3, w / 2, h / 2
    draw = ImageDraw.Draw(img)
    if digit == "2":
        draw.arc([cx - 0.6 * s, cy - s, cx + 0.6 * s, cy - 0.1 * s], 180, 30, **pen)
        draw.line([cx + 0.5 * s, cy - 0.35 * s, cx - 0.6 * s, cy + s], **pen)
        draw.line([cx - 0.6 * s, cy + s, cx + 0.65 * s, cy + s], **pen)
    elif digit == "7":
        draw.line([cx - 0.6 * s, cy - s, cx + 0.6 * s, cy - s], **pen)
        draw.line([cx + 0.6 * s, cy - s, cx - 0.1 * s, cy + s], **pen)
    else:
        raise ValueError(f"no drawing of {digit!r}")
    pixels = np.asarray(img.filter(ImageFilter.GaussianBlur(1.2))).astype(float)
    if shadow:
        pixels[(xx + 0.5 * yy) > 0.7 * w] *= 0.6
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, format="JPEG", quality=90)
    return path
