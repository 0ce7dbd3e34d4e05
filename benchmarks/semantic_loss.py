"""Does a semantic term in the training loss keep more digits' class at the same rate? (the lever, measured)

At low rates the codec often returns a digit of another class (a 4 comes back
as a 9). This trains the recipe of vr-300-520 (the ladder's low end when it was
measured, since replaced by ``models/class-300-520``: the same recipe with
``--code-class``, which this leaves out) with one change to the
loss: each level's term gains β·CE, the cross-entropy (in bits, i.e. nats / ln 2,
mean per digit) of a FROZEN classifier's reading of that level's reconstruction
against the digit's true label:

    loss = mean over levels of log(rate + λ·distortion + β·CE)

(the project's balanced multi-level loss, ``mnistzip.train._step_functions``,
with β·CE added inside each level's term: rate and CE are both bits per digit).
The reconstruction is the one the trainer's distortion is computed on (the
decoder's float output on the noisy latents, ``CompressionTrainer.call``).
Everything else is the same: λ 300/360/430/520, deep prior, MSE, 32 latents,
80 epochs, cosine, --half, seed 0, same batch order; the model is exported by
``mnistzip.train.train`` (card + SavedModel + weights.npz), an ordinary model
directory.

The frozen classifier is NOT one of the reporting classifiers (models/identity/,
a 3x3-conv CNN with max pooling and an MLP): it is 5x5 convolutions with
stride 2 and no pooling (32, 64 channels), a 128-unit dense layer, 10 logits,
trained 4 epochs on the MNIST training split; cached in
``runs/semantic-classifier/`` so reruns skip it.

``measure`` reports for each model and level, on the full test split:
bits/digit (archive), PSNR of mean MSE, and class kept by the project's
reference and second classifiers (``mnistzip.classify``) and by the frozen one;
then, for each semantic model's level, the baseline interpolated (linearly in
log-rate between its levels) to the same rate, and the differences.

Reproduce (from the repository root; runs/ is git-ignored):

    export MNISTZIP_DATA_DIR=../shared/mnist
    .venv/bin/python benchmarks/semantic_loss.py train --beta 8      # -> runs/semantic-b8
    .venv/bin/python benchmarks/semantic_loss.py train --beta 2      # -> runs/semantic-b2
    # the baseline recipe at higher λs, so that the baseline curve reaches the semantic models' rates:
    .venv/bin/python -m mnistzip train --preset seed --lmbda 520 --lmbda 640 --lmbda 780 --lmbda 940 \\
        --prior deep --distortion mse --latent-dims 32 --epochs 80 --lr-schedule cosine --half -o runs/vr-520-940
    .venv/bin/python benchmarks/semantic_loss.py measure runs/semantic-b8 runs/semantic-b2 \\
        --baseline models/vr-300-520 --baseline runs/vr-520-940 --json runs/semantic-measure.json
    # (models/vr-300-520 left mnistzip after commit c92f0e4: `git worktree add ../at-c92f0e4 c92f0e4` has it)

``train --resume`` continues an interrupted run (``mnistzip.train``'s checkpoints).
Nothing under mnistzip/ is edited: the trainer is subclassed here, and
``mnistzip.train`` is given that class, a step function with the new term and
training digits that carry their labels (a 29th row) for the duration of the run.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnistzip import mnist  # noqa: E402

RECIPE_OF = ROOT / "models" / "class-300-520"  # vr-300-520's recipe, plus code_class (dropped here)
CLASSIFIER_DIR = ROOT / "runs" / "semantic-classifier"
CLASSIFIER_FILE = CLASSIFIER_DIR / "classifier.keras"
CLASSIFIER_INFO = CLASSIFIER_DIR / "classifier.json"
CLASSIFIER_EPOCHS = 4
SEED = 0
SIDE = 28


# ---------------------------------------------------------------- the frozen classifier

def classifier_model():
    """5x5 convolutions, stride 2, no pooling: 28 -> 14 -> 7, a dense layer, 10 logits (input in [0, 1])."""
    import tensorflow as tf

    layers = tf.keras.layers
    return tf.keras.Sequential([
        tf.keras.Input((SIDE, SIDE, 1)),
        layers.Conv2D(32, 5, strides=2, padding="same", activation="relu", name="conv_1"),
        layers.Conv2D(64, 5, strides=2, padding="same", activation="relu", name="conv_2"),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(128, activation="relu", name="fc_1"),
        layers.Dense(10, name="logits"),
    ], name="semantic_classifier")


def frozen_classifier():
    """The cached classifier (trained first if missing), frozen; and its card."""
    import tensorflow as tf

    if not CLASSIFIER_FILE.exists():
        tf.keras.utils.set_random_seed(SEED)
        x = mnist.images("train").astype(np.float32)[..., None] / 255.0
        y = mnist.labels("train")
        model = classifier_model()
        model.compile(tf.keras.optimizers.Adam(1e-3),
                      tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        started = time.time()
        model.fit(x, y, batch_size=128, epochs=CLASSIFIER_EPOCHS, verbose=2, shuffle=True)
        seconds = time.time() - started
        xt = mnist.images("test").astype(np.float32)[..., None] / 255.0
        accuracy = float((model.predict(xt, batch_size=1000, verbose=0).argmax(1) == mnist.labels("test")).mean())
        CLASSIFIER_DIR.mkdir(parents=True, exist_ok=True)
        model.save(CLASSIFIER_FILE)
        CLASSIFIER_INFO.write_text(json.dumps(dict(
            architecture="conv 5x5/2 32 relu, conv 5x5/2 64 relu, flatten, dropout 0.3, dense 128 relu, dense 10",
            parameters=int(model.count_params()), epochs=CLASSIFIER_EPOCHS, batch_size=128, lr=1e-3, seed=SEED,
            test_accuracy=round(100 * accuracy, 2), training_seconds=round(seconds, 1)), indent=2))
    model = tf.keras.models.load_model(CLASSIFIER_FILE)
    model.trainable = False
    return model, json.loads(CLASSIFIER_INFO.read_text())


# ---------------------------------------------------------------- training with the semantic term

class _Ref:
    """Holds an object without making it part of the trainer's checkpoints (Keras tracks only trackables)."""

    def __init__(self, value):
        self.value = value


def labelled(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, 29, 28) uint8: each digit with its label in a 29th row (column 0), so that it rides the batches."""
    out = np.zeros((len(images), SIDE + 1, SIDE), np.uint8)
    out[:, :SIDE] = images
    out[:, SIDE, 0] = labels
    return out


def semantic_trainer_class(classifier):
    """``CompressionTrainer`` whose training pass also gives each level's mean CE (bits) of ``classifier``."""
    import tensorflow as tf

    from mnistzip.trainer import CompressionTrainer
    from mnistzip.transforms import to_unit

    class SemanticTrainer(CompressionTrainer):
        def __init__(self, *args, **kwargs):
            self._classifier = _Ref(classifier)
            super().__init__(*args, **kwargs)

        def call(self, x, training=False):
            """Training (digits with labels, see ``labelled``): ``CompressionTrainer.call``'s training branch
            plus ``ce``; evaluation: unchanged."""
            if not training:
                return super().call(x, training=False)
            labels = tf.cast(x[:, SIDE, 0], tf.int32)
            x = to_unit(x[:, :SIDE])
            y = self.analysis_transform(x)
            gains = self.gains
            y_tilde, bits = self._perturb(y[:, None, :] * gains, training)  # (N, Q, L), (N, Q)
            q = self.levels
            n = tf.shape(y)[0]
            which = (tf.range(n) * q) // n  # example i trains level which[i]
            y_tilde = tf.gather(y_tilde, which, batch_dims=1) / tf.gather(gains, which)
            bits = tf.gather(bits, which, batch_dims=1)
            x_tilde = self.synthesis_transform(y_tilde)  # the reconstruction the distortion is computed on
            err = x - x_tilde
            logits = self._classifier.value(x_tilde, training=False)
            ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits) / math.log(2.0)

            def per_level(values):
                return tf.math.unsorted_segment_mean(values, which, q)

            axes = (-3, -2, -1)
            distortion = tf.reduce_mean(tf.abs(err) if self.distortion_name == "mae" else tf.square(err), axis=axes)
            mse255 = tf.reduce_mean(tf.square(err * 255.0), axis=axes)
            return dict(rate=per_level(bits), distortion=per_level(distortion), mse255=per_level(mse255),
                        ce=per_level(ce))

    return SemanticTrainer


def semantic_step_functions(beta: float, ce_log: list):
    """``mnistzip.train._step_functions`` with β·CE added to each level's term (one-level loss too)."""
    import tensorflow as tf

    def _step_functions(trainer, optimizer, lmbdas, decoder_optimizer=None, dist=None):  # one device: dist unused
        balanced = len(lmbdas) > 1
        lmbdas = tf.constant(lmbdas, tf.float32)

        @tf.function
        def train_step(x):
            with tf.GradientTape() as tape:
                out = trainer(x, training=True)
                terms = out["rate"] + lmbdas * out["distortion"] + beta * out["ce"]
                loss = tf.reduce_mean(tf.math.log(tf.maximum(terms, 1e-6)) if balanced else terms)
            variables = trainer.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return out

        @tf.function
        def eval_step(x):
            return trainer(x, training=False)

        def step(x):
            out = train_step(x)
            ce_log.append(out["ce"].numpy())
            return out

        if decoder_optimizer is not None:
            raise SystemExit("decoder epochs are not part of this recipe")
        return step, eval_step, None

    return _step_functions


def run_training(args) -> None:
    import mnistzip.train as mtrain
    import mnistzip.trainer as mtrainer
    from mnistzip.card import Card
    from mnistzip.recipe import TrainConfig

    classifier, info = frozen_classifier()
    print(f"frozen classifier: {info['architecture']}; {info['parameters']} parameters; "
          f"test accuracy {info['test_accuracy']}%", flush=True)
    recipe = dict(Card.read(RECIPE_OF).recipe, code_class=False)
    recipe.update(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, train_limit=args.train_limit)
    config = TrainConfig(**recipe)
    output = args.output or ROOT / "runs" / f"semantic-b{args.beta:g}"
    output.parent.mkdir(parents=True, exist_ok=True)

    ce_log: list = []

    class Reporter(mtrain.Reporter):
        def epoch_start(self, epoch, epochs, steps):
            self.started = time.perf_counter()
            ce_log.clear()

        def epoch_end(self, epoch, metrics):
            ce = np.mean(ce_log, axis=0).round(3).tolist() if ce_log else None
            print(f"epoch {epoch}: {time.perf_counter() - self.started:.0f} s, test rate {metrics['rate']}, "
                  f"psnr {metrics['psnr']}, train CE bits {ce}", flush=True)

    original = (mtrainer.CompressionTrainer, mtrain._step_functions, mnist.images)
    train_images = labelled(mnist.images("train"), mnist.labels("train"))

    def load_mnist(split, data_dir=None):
        return train_images if split == "train" else original[2](split, data_dir)

    mtrainer.CompressionTrainer = semantic_trainer_class(classifier)
    mtrain._step_functions = semantic_step_functions(args.beta, ce_log)
    mnist.images = load_mnist
    try:
        command = "python benchmarks/semantic_loss.py " + shlex.join(
            a for a in sys.argv[1:] if a not in mtrain.RUN_ONLY_OPTIONS)
        started = time.time()
        result = mtrain.train(config, output, resume=args.resume, force=args.force, reporter=Reporter(),
                              command=command)
    finally:
        mtrainer.CompressionTrainer, mtrain._step_functions, mnist.images = original
    print(f"{result.path}: trained in {result.card['training_seconds']} s of epochs "
          f"({time.time() - started:.0f} s wall, with export and measurement)")
    for level in result.card["levels"]:
        t = level["test"]
        print(f"  level {level['level']} λ={level['lmbda']:g}: {t['bits_archive']} bits, {t['psnr_of_mean_mse']} dB")


# ---------------------------------------------------------------- measurement

def measure_models(args) -> None:
    from mnistzip import classify
    from mnistzip.codec import Codec
    from mnistzip.evaluate import measure

    images, labels = mnist.images("test"), mnist.labels("test")
    reference, second = classify.load("reference"), classify.load("second")
    frozen, info = frozen_classifier()
    print(f"reference: {reference.name} ({reference.test_accuracy}% on the originals); "
          f"second: {second.name} ({second.test_accuracy}%); frozen: {info['test_accuracy']}%")
    rows = []
    baseline_names = {Path(p).name for p in args.baseline}
    for path in [*args.baseline, *args.models]:
        codec = Codec.load(path)
        for level in codec.card.levels:
            c = codec.at_level(level.number)
            m = measure(c, images, fast=True)
            recon = c.decompress(c.compress(images))
            frozen_pred = frozen.predict(recon.astype(np.float32)[..., None] / 255.0, batch_size=1000,
                                         verbose=0).argmax(1)
            rows.append(dict(model=Path(path).name, level=level.number, lmbda=level.lmbda,
                             bits=m["bits_archive"], psnr=m["psnr_of_mean_mse"],
                             kept_reference=round(classify.kept(reference, labels, recon), 2),
                             kept_second=round(classify.kept(second, labels, recon), 2),
                             kept_frozen=round(float(100 * (frozen_pred == labels).mean()), 2)))
            print(json.dumps(rows[-1]), flush=True)

    print("\n| model | level | λ | bits/digit | PSNR (dB) | kept ref. (%) | kept second (%) | kept frozen (%) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['level']} | {r['lmbda']:g} | {r['bits']:.3f} | {r['psnr']:.2f} | "
              f"{r['kept_reference']:.2f} | {r['kept_second']:.2f} | {r['kept_frozen']:.2f} |")

    base = sorted((r for r in rows if r["model"] in baseline_names), key=lambda r: r["bits"])
    log_rate = np.log([r["bits"] for r in base])
    comparisons = []
    print(f"\nat equal rate against {' + '.join(sorted(baseline_names))} (one curve, linear in log-rate between "
          "its levels; 'extrapolated' outside them):")
    print("| model | level | bits | ΔPSNR (dB) | Δkept ref. (pts) | Δkept second (pts) | Δkept frozen (pts) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["model"] in baseline_names:
            continue
        x = math.log(r["bits"])

        def at(key):
            # np.interp clamps; extrapolate linearly from the end segments instead
            ys = np.array([b[key] for b in base])
            i = int(np.clip(np.searchsorted(log_rate, x) - 1, 0, len(base) - 2))
            t = (x - log_rate[i]) / (log_rate[i + 1] - log_rate[i])
            return float(ys[i] + t * (ys[i + 1] - ys[i]))

        d = {k: r[k] - at(k) for k in ("psnr", "kept_reference", "kept_second", "kept_frozen")}
        outside = not log_rate[0] <= x <= log_rate[-1]
        comparisons.append(dict(model=r["model"], level=r["level"], bits=r["bits"], extrapolated=outside,
                                **{f"delta_{k}": round(v, 3) for k, v in d.items()}))
        print(f"| {r['model']} | {r['level']} | {r['bits']:.3f}{' (extrapolated)' if outside else ''} | "
              f"{d['psnr']:+.3f} | {d['kept_reference']:+.2f} | {d['kept_second']:+.2f} | {d['kept_frozen']:+.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(classifier=info, rows=rows, equal_rate=comparisons), indent=2))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train vr-300-520's recipe with β·CE added to the loss")
    t.add_argument("--beta", type=float, required=True, help="weight of the CE term (bits per digit)")
    t.add_argument("-o", "--output", type=Path, help="default: runs/semantic-b{β}")
    t.add_argument("--epochs", type=int, default=80)
    t.add_argument("--steps-per-epoch", type=int, default=None, help="cap batches per epoch (smoke tests)")
    t.add_argument("--train-limit", type=int, default=None, help="first N training digits only (smoke tests)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--force", action="store_true")
    m = sub.add_parser("measure", help="bits, PSNR and class kept of each level, and against the baseline")
    m.add_argument("models", nargs="*", type=Path, help="models to compare with the baseline")
    m.add_argument("--baseline", action="append", type=Path,
                   help="a model of the baseline curve (repeat: their levels form one curve); default "
                        "the model of the ladder's first rung")
    m.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.command == "measure" and not args.baseline:
        from mnistzip import catalogue

        args.baseline = [catalogue.ladder()[0].card.path]
    if args.command == "train":
        run_training(args)
    else:
        measure_models(args)


if __name__ == "__main__":
    main()
