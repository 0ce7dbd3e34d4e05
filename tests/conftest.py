"""Shared fixtures: the MNIST directory, the small models kept as test data, a CLI runner in a temp dir."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

# Without mnistzip[train] (the runtime alone, as on Python 3.12+), tests of training code are not collected; the
# models the other tests code with are test data (tests/data/models/), which the runtime runs alone.
HAVE_TF = importlib.util.find_spec("tensorflow") is not None
collect_ignore = [] if HAVE_TF else ["test_trainer.py", "test_transforms.py", "test_train.py", "test_chunked.py",
                                     "test_export.py", "test_conditional.py"]


HAVE_EVAL = importlib.util.find_spec("matplotlib") is not None


def pytest_configure(config):
    config.addinivalue_line("markers", "train: needs mnistzip[train] (TensorFlow); skipped without it")
    config.addinivalue_line("markers", "eval_extra: needs mnistzip[eval] (matplotlib); skipped without it")
    config.addinivalue_line("markers", "user_data: guards a user's files; a skip is a failure, on every Python")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that guards a user's files (and needs no TensorFlow) must run wherever mnistzip runs: its skip is
    reported as a failure."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and item.get_closest_marker("user_data") is not None and item.get_closest_marker("train") is None:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} guards a user's files and was skipped: {report.longrepr}"


def pytest_runtest_setup(item):
    if item.get_closest_marker("train") and not HAVE_TF:
        pytest.skip("needs mnistzip[train]")
    if item.get_closest_marker("eval_extra") and not HAVE_EVAL:
        pytest.skip("needs mnistzip[eval]")


DATA_DIR = Path(  # absolute: tests run commands in other folders
    os.environ.get("MNISTZIP_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "mnist"
).resolve()


@pytest.fixture(scope="session", autouse=True)
def mnist_dir() -> Path:
    """The offline MNIST IDX directory, exported as $MNISTZIP_DATA_DIR for the CLI."""
    if not (DATA_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.exit(f"MNIST IDX files not found in {DATA_DIR}; set MNISTZIP_DATA_DIR", returncode=2)
    os.environ["MNISTZIP_DATA_DIR"] = str(DATA_DIR)
    return DATA_DIR


TEST_MODELS = Path(__file__).parent / "data" / "models"  # made by tests/data/make_test_models.py


def _test_model(tmp_path_factory, name: str) -> Path:
    """A copy, for this session, of one of the small models kept as test data (a test may not alter them)."""
    copy = tmp_path_factory.mktemp("models") / name
    shutil.copytree(TEST_MODELS / name, copy)
    return copy


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small seed-recipe model (factorized logistic prior, 50 latents)."""
    return _test_model(tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def other_model(tmp_path_factory) -> Path:
    """A second one, of other weights (hence another id)."""
    return _test_model(tmp_path_factory, "other")


@pytest.fixture(scope="session")
def vr_model(tmp_path_factory) -> Path:
    """A variable-rate model: three quality levels sharing one pair of transforms."""
    return _test_model(tmp_path_factory, "vr")


@pytest.fixture(scope="session")
def cond_model(tmp_path_factory) -> Path:
    """A two-level model with the conditional prior."""
    return _test_model(tmp_path_factory, "cond")


@pytest.fixture(scope="session")
def deep_model(tmp_path_factory) -> Path:
    """A model with the deep factorized prior (its quantisation offsets are not 0)."""
    return _test_model(tmp_path_factory, "deep")


@pytest.fixture(scope="session")
def class_model(tmp_path_factory) -> Path:
    """A two-level model that codes each digit's class first (deep prior per level and class)."""
    return _test_model(tmp_path_factory, "class")


@pytest.fixture(scope="session")
def cond_codec(cond_model):
    from mnistzip.codec import Codec

    return Codec.load(cond_model, level=2)


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
