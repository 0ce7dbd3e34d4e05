"""Training: the model card, refusing to clobber, interruption and --resume."""

from __future__ import annotations

import json

import pytest

from mnistzip.errors import OutputError
from mnistzip.recipe import recipe_family
from mnistzip.train import Reporter, TrainConfig, checkpoint_dir, command_line, train

TINY = dict(lmbda=500, steps_per_epoch=5, train_limit=640, test_limit=100)


def test_model_card(tiny_model):
    """A one-λ model is a model with one level; the history is beside the card, not in it."""
    card = json.loads((tiny_model / "model.json").read_text())
    [level] = card["levels"]
    assert card["default_level"] == level["level"] == 1
    assert len(level["id"]) == 4 and card["weights_sha256"].startswith(level["id"])
    assert card["recipe"]["lmbda"] == 500 and card["recipe"]["latent_dims"] == 50 and card["recipe"]["prior"] == "logistic"
    test = level["test"]
    assert test["digits"] == 200
    assert test["bits_archive"] >= test["bits_entropy"] > 0
    assert 0 < test["psnr_of_mean_mse"] <= test["psnr_mean"]
    assert card["training_seconds"] > 0 and len(json.loads((tiny_model / "history.json").read_text())) == 1


class StopAt(Reporter):
    """Simulates Ctrl-C at the start of an epoch."""

    def __init__(self, epoch):
        self.epoch = epoch

    def epoch_start(self, epoch, epochs, steps):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_interrupted_run_leaves_no_model_and_resumes(tmp_path, mnist_dir):
    out = tmp_path / "m"
    config = TrainConfig(epochs=2, **TINY)
    with pytest.raises(KeyboardInterrupt):
        train(config, out, mnist_dir, reporter=StopAt(2))
    assert not out.exists() and checkpoint_dir(out).is_dir()

    with pytest.raises(OutputError, match="holds an interrupted run; pass --resume to continue it or --force"):
        train(config, out, mnist_dir)
    with pytest.raises(OutputError, match="cannot resume: the run was started with lmbda=500, not lmbda=900"):
        train(TrainConfig(epochs=2, **{**TINY, "lmbda": 900}), out, mnist_dir, resume=True)
    saved = checkpoint_dir(out) / "config.json"  # a run started before an option existed resumes with its default
    saved.write_text(json.dumps({k: v for k, v in json.loads(saved.read_text()).items() if k != "quantization"}))

    result = train(config, out, mnist_dir, resume=True)
    assert [h["epoch"] for h in json.loads((result.path / "history.json").read_text())] == [1, 2]  # 1 from the checkpoint
    assert (out / "model.json").is_file() and not checkpoint_dir(out).exists()
    with pytest.raises(OutputError, match="already exists; pass --force to overwrite it"):
        train(config, out, mnist_dir)


def test_model_card_records_a_resumed_run_as_the_command_that_reproduces_it(monkeypatch):
    argv = ["mnistzip", "train", "--lmbda", "500", "--epochs", "150", "-o", "runs/m"]
    monkeypatch.setattr("sys.argv", argv + ["--resume"])
    assert command_line() == " ".join(argv)
    monkeypatch.setattr("sys.argv", ["/venv/bin/mnistzip", "train", "--force", "--lmbda", "500", "-f"])
    assert command_line() == "mnistzip train --lmbda 500"


def test_learning_rate_schedules():
    from mnistzip.train import _learning_rate

    assert _learning_rate(TrainConfig(lr=0.01), 100) == 0.01
    cosine = _learning_rate(TrainConfig(lr=0.01, epochs=2, lr_schedule="cosine"), 100)
    assert float(cosine(0)) == pytest.approx(0.01)
    assert float(cosine(100)) == pytest.approx(0.005)
    assert float(cosine(200)) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="^lr_schedule must be one of constant, cosine, not 'step'$"):
        _learning_rate(TrainConfig(lr_schedule="step"), 100)


def test_recipe_family_groups_models_that_differ_only_in_lambda():
    from mnistzip.recipe import SEED_RECIPE, recipe_family

    assert recipe_family(dict(SEED_RECIPE, lmbda=300, seed=4, train_limit=10, half=True)) == "seed"
    assert recipe_family(dict(SEED_RECIPE, lmbda=300, distortion="mse")) == "mse/logistic/L50/constant/e15"
    assert recipe_family(dict(SEED_RECIPE, lmbda=[300, 900], width=160)) == "vr/mae/logistic/L50/W160/constant/e15"
    assert recipe_family(dict(SEED_RECIPE, lmbda=300, quantization="mixed")) == "mae/logistic/L50/constant/e15/mixed"
    assert recipe_family(dict(SEED_RECIPE, lmbda=[300, 900], synthesis="conv3")) == "vr/mae/logistic/L50/conv3/constant/e15"
    assert recipe_family(dict(SEED_RECIPE, lmbda=[300, 900], prior="deep", code_class=True)) == \
        "vr/mae/deep/L50/constant/e15/class"
    older = {k: v for k, v in SEED_RECIPE.items() if k != "code_class"}  # a card from before --code-class
    assert recipe_family(dict(older, lmbda=300, distortion="mse")) == "mse/logistic/L50/constant/e15"


def _variables_bytes(model) -> int:
    return sum(f.stat().st_size for f in (model / "variables").iterdir())


def test_width_sets_the_size_of_the_transforms(cond_model, vr_model):
    """--width: the fully connected layers (2 x 2450 x width weights) are most of a model's size."""
    assert json.loads((cond_model / "model.json").read_text())["recipe"]["width"] == 128
    assert json.loads((vr_model / "model.json").read_text())["recipe"]["width"] == 500
    assert _variables_bytes(cond_model) < 0.35 * _variables_bytes(vr_model)


def test_variable_rate_model_card(vr_model):
    card = json.loads((vr_model / "model.json").read_text())
    levels = card["levels"]
    assert [lv["level"] for lv in levels] == [1, 2, 3] and [lv["lmbda"] for lv in levels] == [100, 1000, 10000]
    assert len({lv["id"] for lv in levels}) == 3
    bits = [lv["test"]["bits_archive"] for lv in levels]
    assert bits == sorted(bits)
    default = min(levels, key=lambda lv: abs(lv["test"]["bits_archive"] - 40))
    assert card["default_level"] == default["level"]
    assert recipe_family(card["recipe"]) == "vr/mse/logistic/L16/constant/e1"
    assert "history" not in card and len(json.loads((vr_model / "history.json").read_text())[0]["psnr"]) == 3


@pytest.mark.parametrize("prior", ["deep", "conditional"])
def test_decoder_epochs_keep_every_digits_bits_and_improve_the_digits(tmp_path, mnist_dir, prior):
    """--decoder-epochs: the decoder alone trains on rounded latents; interrupted there, the run resumes."""
    config = TrainConfig(lmbda=[300, 3000], latent_dims=8, width=64, distortion="mse", prior=prior, epochs=1,
                         decoder_epochs=1, steps_per_epoch=20, train_limit=2560, test_limit=200)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "m", mnist_dir, reporter=StopAt(2))
    result = train(config, tmp_path / "m", mnist_dir, resume=True)
    trained, fine_tuned = json.loads((result.path / "history.json").read_text())
    assert fine_tuned["rate"] == trained["rate"]  # the encoder and the entropy model did not move
    assert all(after < before for before, after in zip(trained["distortion"], fine_tuned["distortion"]))
    assert recipe_family(result.card["recipe"]) == f"vr/mse/{prior}/L8/W64/constant/e1/d1"
    assert [lv["test"]["bits_entropy"] for lv in result.card["levels"]] == pytest.approx(trained["rate"], abs=2e-3)


def test_training_leaves_stderr_to_the_user(tmp_path, mnist_dir, capfd):
    """TFC's absl warnings ("Computing quantization offsets using offset heuristic ...") filled stderr during train."""
    config = TrainConfig(epochs=1, **{**TINY, "prior": "deep", "distortion": "mse"})
    train(config, tmp_path / "m", mnist_dir)
    assert "WARNING:absl" not in capfd.readouterr().err


def test_a_model_path_tensorflow_would_glob_is_refused_before_training(tmp_path, mnist_dir):
    """`train -o 'm[1]'` trained, then failed to load its own export (TensorFlow globs the brackets)."""
    with pytest.raises(OutputError, match=r"m\[1\]: TensorFlow reads \[ \] \* \? in a model's path as a pattern"):
        train(TrainConfig(epochs=1, **TINY), tmp_path / "m[1]", mnist_dir)
    assert list(tmp_path.iterdir()) == []
