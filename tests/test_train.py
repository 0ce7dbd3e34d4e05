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


def test_model_card_holds_the_figures_of_both_encoders(tmp_path, mnist_dir):
    """A level's test figures: rounding's (--fast) and the search's (compress's default, ``search_*``), on the same
    digits; the search's code costs less bits + λ·MSE (λ·MSE in [0, 1] pixels), and train prints its figures."""
    result = train(TrainConfig(epochs=1, **TINY), tmp_path / "m", mnist_dir)
    [level] = result.card["levels"]
    test = level["test"]
    assert test["search_bits_archive"] >= test["search_bits_entropy"] > 0
    rounded, searched = (test[f"{how}bits_entropy"] + 500 * 10 ** (-test[f"{how}psnr_of_mean_mse"] / 10)
                         for how in ("", "search_"))
    assert searched < rounded
    assert result.level.bits == test["search_bits_archive"]


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


def test_width_sets_the_size_of_the_transforms(tmp_path, mnist_dir):
    """--width: the fully connected layers (2 x 2450 x width weights) are most of a model's size."""
    for width in (16, 128):
        config = TrainConfig(lmbda=500, width=width, latent_dims=8, epochs=1, steps_per_epoch=2, train_limit=256,
                             test_limit=50)
        train(config, tmp_path / f"w{width}", mnist_dir)
        assert json.loads((tmp_path / f"w{width}" / "model.json").read_text())["recipe"]["width"] == width
    assert _variables_bytes(tmp_path / "w16") < 0.35 * _variables_bytes(tmp_path / "w128")


def test_variable_rate_model_card(vr_model):
    card = json.loads((vr_model / "model.json").read_text())
    levels = card["levels"]
    assert [lv["level"] for lv in levels] == [1, 2, 3] and [lv["lmbda"] for lv in levels] == [100, 1000, 10000]
    assert len({lv["id"] for lv in levels}) == 3
    bits = [lv["test"]["bits_archive"] for lv in levels]
    assert bits == sorted(bits)
    default = min(levels, key=lambda lv: abs(lv["test"].get("search_bits_archive", lv["test"]["bits_archive"]) - 40))
    assert card["default_level"] == default["level"]
    assert recipe_family(card["recipe"]) == "vr/mse/logistic/L16/W32/constant/e1"
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


DISTRIBUTED = """
import json, sys
from mnistzip.train import Reporter, TrainConfig, train
out, data_dir = sys.argv[1], sys.argv[2]
config = TrainConfig(**json.loads(sys.argv[3]))


class StopAfterFirst(Reporter):
    def epoch_end(self, epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt


try:
    train(config, out, data_dir, reporter=StopAfterFirst(), strategy="mirrored", cpu_devices=2)
except KeyboardInterrupt:
    pass
result = train(config, out, data_dir, resume=True, strategy="mirrored", cpu_devices=2)
print(json.dumps(result.card))
"""


DISTRIBUTED_OPTIONS = dict(lmbda=[300, 3000], latent_dims=8, width=64, distortion="mse", prior="deep", epochs=2,
                           steps_per_epoch=10, train_limit=1280, test_limit=100, seed=3)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory, mnist_dir) -> dict:
    """The card of the one-device run the distributed runs are compared with."""
    return train(TrainConfig(**DISTRIBUTED_OPTIONS), tmp_path_factory.mktemp("one") / "one", mnist_dir).card


def _same_model_within_noise(one: dict, other: dict, path, mnist_dir) -> None:
    """The same global batch, split between devices: the same figures within noise, and an ordinary model."""
    from mnistzip import mnist
    from mnistzip.codec import Codec

    for a, b in zip(one["levels"], other["levels"]):
        assert b["test"]["bits_entropy"] == pytest.approx(a["test"]["bits_entropy"], rel=0.05)
        assert abs(b["test"]["psnr_of_mean_mse"] - a["test"]["psnr_of_mean_mse"]) < 0.2
    assert recipe_family(other["recipe"]) == recipe_family(one["recipe"]) and one["training"]["devices"] == 1
    codec = Codec.load(path, level=2)  # the runtime codes with it
    digits = mnist.images("test", mnist_dir)[:20]
    assert codec.decompress(codec.compress(digits)).shape == digits.shape


def test_a_mirrored_run_on_two_cpu_devices_trains_the_same_model_and_resumes(tmp_path, mnist_dir, one_device):
    """tf.distribute.MirroredStrategy over two logical CPU devices (a fresh process: devices are fixed at
    TensorFlow's first use): interrupted after one epoch, resumed from its checkpoint, it reaches the one-device
    run's figures within noise, with the same global batch, and exports the same kind of model."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(tmp_path / "two"), str(mnist_dir),
                        json.dumps(DISTRIBUTED_OPTIONS)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    two = json.loads(r.stdout.strip().splitlines()[-1])
    assert two["training"]["strategy"] == "mirrored" and two["training"]["devices"] == 2
    assert two["training"]["digits_per_s_per_device"] > 0
    history = json.loads((tmp_path / "two" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and all(h["devices"] == 2 for h in history)
    _same_model_within_noise(one_device, two, tmp_path / "two", mnist_dir)


WORKER = """
import json, sys
from mnistzip.train import TrainConfig, train
result = train(TrainConfig(**json.loads(sys.argv[3])), sys.argv[1], sys.argv[2], strategy="multiworker")
print(json.dumps(dict(chief=result.chief, card=result.card)))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_local_workers_train_one_model_written_by_the_chief(tmp_path, mnist_dir, one_device):
    """MultiWorkerMirroredStrategy: two worker processes on localhost ($TF_CONFIG), started and stopped here.
    Each global batch is split between them by data; worker 0, the chief, writes the model; the other leaves
    nothing behind."""
    import os
    import subprocess
    import sys

    cluster = {"worker": [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]}
    out = tmp_path / "mw"
    workers = []
    try:
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                       TMPDIR=str(tmp_path))
            workers.append(subprocess.Popen([sys.executable, "-c", WORKER, str(out), str(mnist_dir),
                                             json.dumps(DISTRIBUTED_OPTIONS)], env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True))
        results = [w.communicate(timeout=600) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in results]
    chief, other = (json.loads(o.strip().splitlines()[-1]) for o, _ in results)
    assert chief["chief"] and not other["chief"] and other["card"] == {}
    assert chief["card"]["training"]["strategy"] == "multiworker" and chief["card"]["training"]["devices"] == 2
    _same_model_within_noise(one_device, chief["card"], out, mnist_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mw"]  # the other worker's checkpoints are gone


@pytest.mark.parametrize("tf_config, chief", [
    ({}, True),  # TensorFlow runs one local worker: its own chief
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_the_chief_is_the_one_tensorflow_names(monkeypatch, tf_config, chief):
    from mnistzip.train import is_chief

    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert is_chief("multiworker") is chief
    assert is_chief("mirrored") is True


def test_a_cluster_without_this_process_task_is_one_line(monkeypatch):
    from mnistzip.errors import InputError
    from mnistzip.train import is_chief

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}}))
    with pytest.raises(InputError) as e:
        is_chief("multiworker")
    assert str(e.value) == ('$TF_CONFIG lists a cluster but not this process\'s task: add "task": {"type": "worker", '
                            '"index": I}')


def test_a_worker_that_fails_leaves_no_temporary_folder(monkeypatch, tmp_path):
    """Another worker than the chief checkpoints into a temporary folder, removed however its run ends."""
    from mnistzip.errors import DataError

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]},
                                                "task": {"type": "worker", "index": 1}}))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    with pytest.raises(DataError):
        train(TrainConfig(epochs=1), tmp_path / "m", data_dir=tmp_path / "no-mnist-here", strategy="multiworker")
    assert list(tmp_path.iterdir()) == []


PARTIAL = """
import json, sys
from mnistzip.train import TrainConfig, train
result = train(TrainConfig(**json.loads(sys.argv[3])), sys.argv[1], sys.argv[2], strategy="mirrored", cpu_devices=2)
print(json.dumps(result.card))
"""


def test_a_partial_last_batch_is_left_out_on_several_devices(tmp_path, mnist_dir):
    """129 digits in batches of 128 on two devices: the last batch, of one digit, would leave a device nothing
    to average (NaN in every weight); it is left out, and the model's figures are numbers."""
    import math
    import subprocess
    import sys

    options = dict(lmbda=500, latent_dims=8, width=32, epochs=1, batch_size=128, train_limit=129, test_limit=50)
    r = subprocess.run([sys.executable, "-c", PARTIAL, str(tmp_path / "m"), str(mnist_dir), json.dumps(options)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    card = json.loads(r.stdout.strip().splitlines()[-1])
    level = card["levels"][0]["test"]
    assert math.isfinite(level["bits_entropy"]) and math.isfinite(level["psnr_of_mean_mse"])
    history = json.loads((tmp_path / "m" / "history.json").read_text())
    assert history[0]["steps_per_s"] > 0 and history[0]["devices"] == 2
    r = subprocess.run([sys.executable, "-c", PARTIAL, str(tmp_path / "n"), str(mnist_dir),
                        json.dumps(dict(options, train_limit=100))], capture_output=True, text=True, timeout=900)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1] == ("mnistzip.errors.InputError: 100 training digits make no whole batch "
                                                 "of 128 for 2 devices: lower --batch-size or raise --train-limit")
