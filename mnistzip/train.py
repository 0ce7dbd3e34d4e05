"""The training loop: batches, validation each epoch, checkpoints, resume, export.

A run writing ``models/NAME`` keeps its checkpoints in ``models/NAME.training/``
until it finishes; the model directory appears only when complete (written
beside it, then renamed), so an interruption never leaves a half-written model.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import mnist
from .card import HISTORY_FILE, SEARCHED, Card, Level, written_by_mnistzip
from .container import CLASSES
from .errors import InputError, Interrupted, OutputError, UsageError, require
from .recipe import TrainConfig, check_choice

CHECKPOINT_SUFFIX = ".training"
# How a run spreads over devices (not part of the recipe: any strategy trains the same model, within noise).
# "mirrored": tf.distribute.MirroredStrategy, one replica per visible GPU, else per CPU device (see ``distribution``);
# "multiworker": MultiWorkerMirroredStrategy over the processes $TF_CONFIG lists, each running the same command.
STRATEGIES = ("none", "mirrored", "multiworker")
DEFAULT_BITS = 40.0  # a model's default level is the one nearest this many bits per digit


class Reporter:
    """Receives progress; the CLI draws it, the library stays silent."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, rate: float, distortion: float) -> None: ...
    def epoch_end(self, epoch: int, metrics: dict) -> None: ...


def epoch_line(epoch: int, epochs: int, metrics: dict) -> str:
    """An epoch's figures on the test digits, in one line: bits and PSNR (per level), and per device the speed."""
    speed = (f"; {metrics['steps_per_s']:.1f} steps/s, {metrics['digits_per_s_per_device']:,.0f} digits/s "
             f"on each of {metrics['devices']} devices" if metrics.get("devices", 1) > 1 else "")
    if isinstance(metrics["rate"], list):  # several levels: bits → dB per level
        points = "  ".join(f"{r:.1f}→{p:.2f}" for r, p in zip(metrics["rate"], metrics["psnr"]))
        return f"epoch {epoch}/{epochs}: test bits/digit → PSNR dB per level: {points}{speed}"
    return (f"epoch {epoch}/{epochs}: test rate {metrics['rate']:.1f} bits/digit, distortion "
            f"{metrics['distortion']:.4f}, PSNR {metrics['psnr']:.2f} dB{speed}")


@dataclass
class TrainResult:
    """What a finished run produced: the model directory and its card (as written)."""

    path: Path
    card: dict = field(default_factory=dict)
    chief: bool = True  # False for the other workers of a multi-worker run: only the chief writes the model

    @property
    def level(self) -> Level:
        """The model's default level, as its card (read back) says, with its figures on the test digits."""
        return Card.read(self.path).level()


def checkpoint_dir(output: Path) -> Path:
    """Where a run writing ``output`` keeps its resumable state."""
    return output.with_name(output.name + CHECKPOINT_SUFFIX)


def train(
    config: TrainConfig,
    output: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    resume: bool = False,
    force: bool = False,
    reporter: Reporter | None = None,
    command: str | None = None,
    strategy: str = "none",
    cpu_devices: int | None = None,
) -> TrainResult:
    """Train a codec with ``config`` and export it to ``output``; resumable after interruption.

    ``strategy`` (``STRATEGIES``) spreads each batch over devices; ``cpu_devices`` splits the CPU into that many
    logical devices first (for "mirrored" on a machine without GPUs; it must come before TensorFlow's first use
    in the process)."""
    check_strategy(strategy, cpu_devices)
    output = Path(output)
    args = (config, output, data_dir, resume, force, reporter or Reporter(), command, strategy, cpu_devices)
    if is_chief(strategy):
        _check_destination(output, checkpoint_dir(output), resume, force)
        return _train(*args, ckpt_dir=checkpoint_dir(output), chief=True)
    # the other workers write nothing the user sees: their checkpoints go to a folder removed however the run ends
    with tempfile.TemporaryDirectory(prefix="mnistzip-worker-") as tmp:
        return _train(*args, ckpt_dir=Path(tmp), chief=False)


def _train(config: TrainConfig, output: Path, data_dir, resume: bool, force: bool, reporter: Reporter,
           command: str | None, strategy: str, cpu_devices: int | None, ckpt_dir: Path, chief: bool) -> TrainResult:
    """The run itself (see :func:`train`), checkpointing into ``ckpt_dir``; only the ``chief`` exports."""
    train_images = mnist.images("train", data_dir)[: config.train_limit]
    train_labels = mnist.labels("train", data_dir)[: config.train_limit] if config.code_class else None
    test = (mnist.images("test", data_dir)[: config.test_limit], mnist.labels("test", data_dir)[: config.test_limit])

    import tensorflow as tf
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)  # TFC's notes on its tracing ("Computing quantization offsets ...")
    dist = distribution(strategy, cpu_devices)
    tf.keras.utils.set_random_seed(config.seed)
    steps = _steps_per_epoch(len(train_images), config, dist.num_replicas_in_sync)
    with dist.scope():  # every variable is made once per device
        trainer, optimizer, decoder_optimizer = _trainer(config, steps, train_labels)
        state = _RunState(ckpt_dir, trainer, optimizer, config, resume, decoder_optimizer, checkpoint_dir(output))
    train_step, eval_step, decoder_step = _step_functions(trainer, optimizer, config.lmbdas, decoder_optimizer, dist)
    dataset = _dataset(train_images, train_labels, config, steps, dist)
    epochs = config.epochs + config.decoder_epochs
    while state.epochs_done < epochs:
        epoch = state.epochs_done + 1
        started = time.perf_counter()
        reporter.epoch_start(epoch, epochs, steps)
        step = train_step if epoch <= config.epochs else decoder_step
        for x in dataset:
            out = step(x)
            reporter.step(float(np.mean(out["rate"])), float(np.mean(out["distortion"])))
        seconds, devices = time.perf_counter() - started, dist.num_replicas_in_sync
        metrics = evaluate_trainer(eval_step, test[0], test[1] if config.code_class else None)
        metrics.update(devices=devices, steps_per_s=round(steps / seconds, 2),
                       digits_per_s_per_device=round(min(steps * config.batch_size, len(train_images)) / seconds / devices, 1))
        state.finish_epoch(epoch, time.perf_counter() - started, metrics)
        reporter.epoch_end(epoch, metrics)
    if not chief:
        return TrainResult(output, chief=False)
    card = dict(name=output.name, command=command or "", recipe=asdict(config), training_seconds=round(state.seconds, 1),
                training=per_device_figures(state.history, strategy))
    card = _export_atomically(trainer, output, card, force, test, config.half, state.history)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return TrainResult(output, card)


def _steps_per_epoch(digits: int, config: TrainConfig, devices: int) -> int:
    """Batches an epoch takes. Several devices split every batch; a last, partial one would give them unequal
    shares (each divides its mean loss by the device count) or none at all (a mean of nothing: NaN in every
    weight), so it is left out then."""
    steps = digits // config.batch_size if devices > 1 else int(np.ceil(digits / config.batch_size))
    if steps == 0:
        raise InputError(f"{digits} training digits make no whole batch of {config.batch_size} for "
                         f"{devices} devices: lower --batch-size or raise --train-limit")
    return min(steps, config.steps_per_epoch) if config.steps_per_epoch else steps


def _trainer(config: TrainConfig, steps: int, train_labels):
    """(the trainer, its optimizer, the decoder phase's optimizer or None), made in the strategy's scope."""
    import tensorflow as tf

    from .trainer import ClassCodingTrainer, CompressionTrainer

    trainer = (ClassCodingTrainer if config.code_class else CompressionTrainer)(
        config.latent_dims, config.prior, config.distortion, config.lmbdas, config.width, config.quantization,
        config.synthesis)
    if config.code_class:  # the class symbol's table: the training split's class frequencies
        trainer.class_counts.assign(np.bincount(train_labels, minlength=CLASSES))
    optimizer = tf.keras.optimizers.Adam(learning_rate=_learning_rate(config, steps))
    # the last phase's own optimizer: Adam from lr, cosine-decayed to 0 over the decoder epochs
    decoder_optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(
        config.lr, decay_steps=config.decoder_epochs * steps)) if config.decoder_epochs else None
    return trainer, optimizer, decoder_optimizer


def _dataset(train_images: np.ndarray, train_labels, config: TrainConfig, steps: int, dist):
    """The epoch's batches, shuffled (a class-coding model trains on (digits, true classes)); on several devices,
    whole batches only, each split between the devices (of every worker: by data, MNIST is one file)."""
    import tensorflow as tf

    whole = dist.num_replicas_in_sync > 1
    examples = train_images if train_labels is None else (train_images, train_labels.astype(np.int32))
    dataset = (
        tf.data.Dataset.from_tensor_slices(examples)
        .shuffle(len(train_images), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size, drop_remainder=whole)
        .take(steps)
        .prefetch(4)
    )
    if not whole:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dist.experimental_distribute_dataset(dataset.with_options(options))


class _RunState:
    """Checkpointed progress of a run: weights, optimizers, epochs done, seconds spent, history."""

    def __init__(self, ckpt_dir: Path, trainer, optimizer, config: TrainConfig, resume: bool, decoder_optimizer=None,
                 restore_dir: Path | None = None):
        """``restore_dir``: where to resume from, if not ``ckpt_dir`` (a multi-worker run's other workers save to
        a folder of their own and resume from the chief's checkpoint, so that every worker starts alike)."""
        import tensorflow as tf

        self.epoch = tf.Variable(0, dtype=tf.int64, name="epoch")
        self._seconds = tf.Variable(0.0, dtype=tf.float64, name="train_seconds")
        tracked = dict(trainer=trainer, optimizer=optimizer, epoch=self.epoch, seconds=self._seconds)
        optimizer.build(trainer.trainable_variables)  # so a restore fills the moments at once
        if decoder_optimizer is not None:
            decoder_optimizer.build(trainer.synthesis_transform.trainable_variables)
            tracked["decoder_optimizer"] = decoder_optimizer
        ckpt = tf.train.Checkpoint(**tracked)
        self.manager = tf.train.CheckpointManager(ckpt, str(ckpt_dir), max_to_keep=1)
        self.history_path = ckpt_dir / HISTORY_FILE
        self.history: list[dict] = []
        restore_dir = restore_dir or ckpt_dir
        latest = tf.train.latest_checkpoint(str(restore_dir))
        if resume and latest:
            _check_same_config(restore_dir, config)
            ckpt.restore(latest).assert_existing_objects_matched()
            if self.history_path.exists():  # it may be one epoch ahead of the checkpoint
                self.history = json.loads(self.history_path.read_text())[: self.epochs_done]
        else:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            (ckpt_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))

    @property
    def epochs_done(self) -> int:
        return int(self.epoch.numpy())

    @property
    def seconds(self) -> float:
        return float(self._seconds.numpy())

    def finish_epoch(self, epoch: int, seconds: float, metrics: dict) -> None:
        """Record an epoch and checkpoint it (history first: a checkpoint never runs ahead of it)."""
        self._seconds.assign_add(seconds)
        self.epoch.assign(epoch)
        self.history.append(dict(epoch=epoch, seconds=round(seconds, 1), **metrics))
        self.history_path.write_text(json.dumps(self.history))
        self.manager.save()


def command(config: TrainConfig, output, data_dir, resume: bool, force: bool, strategy: str,
            cpu_devices: int | None, reporter: Reporter) -> TrainResult:
    """``mnistzip train``: the options and TensorFlow checked first, the run made (to ``runs/`` unless told), and
    an interruption said in one line that tells how to go on."""
    check_strategy(strategy, cpu_devices)
    for module in ("tensorflow", "tensorflow_compression"):
        require(module, "train", "train")
    try:
        return train(config, output or default_output(config.lmbdas), data_dir, resume=resume, force=force,
                     reporter=reporter, command=command_line(), strategy=strategy, cpu_devices=cpu_devices)
    except KeyboardInterrupt:
        if not is_chief(strategy):  # its checkpoints were temporary; the chief's are what --resume continues
            raise Interrupted("interrupted; rerun the same command with --resume, as the chief does") from None
        raise Interrupted("interrupted; the last finished epoch is saved: rerun the same command with --resume") \
            from None


def check_strategy(name: str, cpu_devices: int | None = None) -> None:
    """Refuse a strategy that is not one of ``STRATEGIES``, and ``cpu_devices`` without the strategy that uses
    them (before anything loads)."""
    if name not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {name!r}")
    if cpu_devices is not None and name != "mirrored":
        raise UsageError(f"--cpu-devices is for --strategy mirrored, not {name}")


def is_chief(strategy: str) -> bool:
    """Whether this process writes the model: always, but in a multi-worker run ($TF_CONFIG) only the chief
    (the "chief" task, else worker 0), as TensorFlow's MultiWorkerMirroredStrategy names it."""
    if strategy != "multiworker" or not os.environ.get("TF_CONFIG"):
        return True
    try:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        cluster, task = tf_config.get("cluster") or {}, tf_config.get("task") or {}
        kind, index = task.get("type"), int(task.get("index", 0))
        has_chief = bool(cluster.get("chief"))
    except (ValueError, TypeError, AttributeError) as e:
        raise InputError(f"$TF_CONFIG is not a TensorFlow cluster description ({type(e).__name__}: {e})") from None
    if not cluster:  # TensorFlow then runs one local worker, its own chief
        return True
    if not kind:
        raise InputError('$TF_CONFIG lists a cluster but not this process\'s task: add "task": {"type": "worker", '
                          '"index": I}')
    return kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


def distribution(name: str, cpu_devices: int | None = None):
    """The tf.distribute strategy a run uses: the default (one device), or MirroredStrategy over the visible
    GPUs, else over the CPU's logical devices (``cpu_devices`` of them if given: set before TensorFlow first runs)."""
    import tensorflow as tf

    if cpu_devices:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        except RuntimeError:  # TensorFlow already runs in this process: its devices are fixed
            if len(tf.config.list_logical_devices("CPU")) != cpu_devices:
                raise InputError(f"--cpu-devices {cpu_devices}: TensorFlow's devices are already set in this process "
                                 "(start a new one)") from None
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
        [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def per_device_figures(history: list[dict], strategy: str) -> dict:
    """The card's training figures: the strategy, its devices, and per device the mean steps/s and digits/s."""
    rows = [h for h in history if "devices" in h]
    if not rows:
        return dict(strategy=strategy)
    return dict(strategy=strategy, devices=rows[-1]["devices"],
                steps_per_s=round(float(np.mean([h["steps_per_s"] for h in rows])), 2),
                digits_per_s_per_device=round(float(np.mean([h["digits_per_s_per_device"] for h in rows])), 1))


def _step_functions(trainer, optimizer, lmbdas: list[float], decoder_optimizer=None, dist=None):
    """The compiled training step, evaluation step and decoder fine-tuning step.

    One level: loss = rate + λ·distortion (the seed recipe). Several: the mean
    of log(rate + λ·distortion) over the qualities, so that each level's
    relative progress counts the same; a plain sum lets the high-λ levels, whose
    losses are an order of magnitude larger, steer the shared transforms (measured:
    1 dB lost at 17 bits against the seed recipe over a 16x λ range).

    The decoder step trains the synthesis transform alone on the latents quantised
    as the codec quantises them (the evaluation pass): training used noise in their
    place, so the decoder meets rounded latents only here (measured: +0.04 to
    +0.08 dB at unchanged bits, docs/results/levers.md). The encoder and the
    entropy model stay as they are, so every digit keeps its bits.

    Under a ``dist`` strategy of several devices, each runs the step on its share of the batch; the
    optimizer sums their gradients, so each device's loss is divided by their number, and the figures
    returned are the devices' mean.
    """
    import tensorflow as tf

    dist = dist or tf.distribute.get_strategy()
    balanced = len(lmbdas) > 1
    lmbdas = tf.constant(lmbdas, tf.float32)
    replicas = dist.num_replicas_in_sync

    def step(x, training: bool, variables, opt):
        with tf.GradientTape() as tape:
            out = trainer(x, training=training)
            terms = out["rate"] + lmbdas * out["distortion"]
            loss = tf.reduce_mean(tf.math.log(tf.maximum(terms, 1e-6)) if balanced else terms) / replicas
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return out

    def on_every_device(x, *args):
        out = dist.run(step, args=(x, *args))
        return {k: dist.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

    @tf.function
    def train_step(x):
        return on_every_device(x, True, trainer.trainable_variables, optimizer)

    @tf.function
    def eval_step(x):
        return trainer(x, training=False)

    @tf.function
    def decoder_step(x):
        return on_every_device(x, False, trainer.synthesis_transform.trainable_variables, decoder_optimizer)

    return train_step, eval_step, decoder_step


def _learning_rate(config: TrainConfig, steps_per_epoch: int):
    """Adam's learning rate: constant (the seed recipe) or cosine-decayed over the run."""
    import tensorflow as tf

    check_choice("lr_schedule", config.lr_schedule)
    if config.lr_schedule == "constant":
        return config.lr
    return tf.keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=config.epochs * steps_per_epoch)


def evaluate_trainer(eval_step, images: np.ndarray, labels: np.ndarray | None = None, batch: int = 1000) -> dict:
    """Validation figures with quantised latents: entropy bits per digit, distortion, PSNR of mean MSE.
    A class-coding model is given ``labels`` (its latent bits: the class symbol is not counted).

    Numbers for a model of one level, lists (one per level) for a model of several.
    """
    sums = {"rate": 0.0, "distortion": 0.0, "mse255": 0.0}
    for i in range(0, len(images), batch):
        x = images[i : i + batch]
        out = eval_step(x if labels is None else (x, labels[i : i + batch].astype(np.int32)))
        n = len(images[i : i + batch])
        sums = {k: v + np.asarray(out[k], np.float64) * n for k, v in sums.items()}
    mean = {k: v / len(images) for k, v in sums.items()}
    figures = dict(
        rate=np.round(mean["rate"], 3),
        distortion=np.round(mean["distortion"], 5),
        psnr=np.round(10 * np.log10(255.0**2 / mean["mse255"]), 3),
    )
    single = figures["rate"].size == 1
    return {k: float(v.reshape(-1)[0]) if single else v.tolist() for k, v in figures.items()}


def _check_destination(output: Path, ckpt_dir: Path, resume: bool, force: bool) -> None:
    """Refuse to clobber a model (``--force`` replaces only one mnistzip wrote) or silently restart a run."""
    from .fileio import check_writable

    if any(c in str(output.absolute()) for c in GLOB_CHARACTERS):
        raise OutputError(f"{output}: TensorFlow reads {' '.join(GLOB_CHARACTERS)} in a model's path as a pattern; "
                          "choose a name without them")
    check_writable(output, force, replaceable=written_by_mnistzip, directory=True)
    if ckpt_dir.exists() and not resume:
        if not force:
            raise OutputError(
                f"{ckpt_dir} holds an interrupted run; pass --resume to continue it or --force to start over"
            )
        if not _only_checkpoints(ckpt_dir):
            raise OutputError(f"{ckpt_dir} holds files mnistzip did not write; remove it yourself to start over")
        shutil.rmtree(ckpt_dir)


GLOB_CHARACTERS = ("[", "]", "*", "?")  # TensorFlow's file functions expand them, so no model can live there
CHECKPOINT_FILES = re.compile(r"config\.json|history\.json|checkpoint|ckpt-\d+\.(index|data-\d+-of-\d+)")


def _only_checkpoints(ckpt_dir: Path) -> bool:
    """Whether ``ckpt_dir`` holds only what a run keeps there (so ``--force`` may remove it)."""
    return ckpt_dir.is_dir() and not ckpt_dir.is_symlink() and all(
        e.is_file(follow_symlinks=False) and CHECKPOINT_FILES.fullmatch(e.name) for e in os.scandir(ckpt_dir)
    )


def _check_same_config(ckpt_dir: Path, config: TrainConfig) -> None:
    """A resumed run must use the options it was started with."""
    saved_path = ckpt_dir / "config.json"
    if not saved_path.exists():
        return
    saved = {**asdict(TrainConfig()), **json.loads(saved_path.read_text())}  # options added since take their default
    diff = {k: (saved[k], v) for k, v in asdict(config).items() if saved[k] != v}
    if diff:
        k, (was, now) = next(iter(diff.items()))
        raise OutputError(f"cannot resume: the run was started with {k}={was}, not {k}={now}")


def _export_atomically(trainer, output: Path, card: dict, force: bool, test: tuple, half: bool,
                       history: list) -> dict:
    """Export and measure the model in a temporary sibling directory, then rename it into place.

    Every level is measured on ``test`` (images, labels) with the exported SavedModel, the reference (``test``
    in its card: its entropy is the trained prior's; class kept by the shipped classifiers), rounded (``--fast``)
    and searched (compress's default); the default level is the one whose searched code is nearest
    ``DEFAULT_BITS`` bits per digit.
    """
    from .classify import Judge
    from .codec import Codec
    from .evaluate import card_figures, measure
    from .export import export, write_card
    from .fileio import atomic_output

    with atomic_output(output, force=force, directory=True, replaceable=written_by_mnistzip) as tmp:
        card = export(trainer, tmp, card, half=half, history=history)
        codec = Codec.load(tmp, verify=False, engine="tf")
        test_images, test_labels = test
        judge = Judge(test_labels)
        for level in card["levels"]:
            at = codec.at_level(level["level"])
            level["test"] = card_figures(measure(at, test_images, judge=judge, fast=True))
            level["test"].update(card_figures(measure(at, test_images, judge=judge), searched=True))
        card["default_level"] = min(card["levels"],
                                    key=lambda lv: abs(lv["test"][SEARCHED + "bits_archive"] - DEFAULT_BITS))["level"]
        write_card(tmp, card)
    return card


RUN_ONLY_OPTIONS = ("--resume", "--force", "-f")  # how to treat an existing output, not part of the recipe


def default_output(lmbdas: list[float]) -> Path:
    """Where a run writes its model unless told: ``runs/lmbda-L``, or ``runs/vr-L1-Ln`` for several λs (never
    among the shipped models of a checkout). ``runs/`` is made if it is not there."""
    runs = Path("runs")
    try:
        runs.mkdir(exist_ok=True)
    except OSError as e:
        raise OutputError(f"{runs}: cannot make the folder for trained models ({e.strerror}); give one with -o") from None
    return runs / (f"lmbda-{lmbdas[0]:g}" if len(lmbdas) == 1 else f"vr-{lmbdas[0]:g}-{lmbdas[-1]:g}")


def command_line() -> str:
    """The command that reproduces the running training, for the model card.

    The running command without --resume and --force (-f): a resumed run records
    the same command as one that never stopped.
    """
    return " ".join(["mnistzip", *(a for a in sys.argv[1:] if a not in RUN_ONLY_OPTIONS)])
