"""Class-conditional coding: send the digit's class first, then only its style. An experiment, not a codec.

At low rates the shipped variable-rate codec (``models/vr-300-520``) often
decodes a digit of another class (a 4 comes back as a 9). Here the class is
coded as an explicit first symbol (log2(10) = 3.32 bits, a uniform table) and
the rest of the codec is conditioned on it:

* the analysis transform is the project's (``mnistzip.transforms.AnalysisTransform``),
  unchanged: it sees the digit, not its class;
* the synthesis transform is the project's, built for 32 + 10 inputs: the
  latents (divided by their level's gain) with the class's one-hot vector
  concatenated, before its first dense layer;
* the prior is one deep factorized density per (level, class, latent):
  ``tfc.NoisyDeepFactorized(batch_shape=(levels, 10, latent_dims))``, and a
  digit's rate is taken under its class's densities.

Everything else is the recipe of ``models/vr-300-520``
(``mnistzip train --lmbda 300 --lmbda 360 --lmbda 430 --lmbda 520 --prior deep
--distortion mse --latent-dims 32 --epochs 80 --lr-schedule cosine``, as
``mnistzip.trainer.CompressionTrainer`` and ``mnistzip.train._step_functions``):
width 500, the seed decoder, per-level gains (initialised as there), uniform
noise in training, a batch split evenly between the 4 levels, loss = mean over
levels of log(rate + λ·MSE), Adam 1e-3 cosine-decayed to 0 over the run, batch
128, seed 0. Training uses the TRUE labels of the training split; its rate is
the latent bits only (the class symbol costs the same for every digit).

Evaluation, on the MNIST test split, at every level:

* the encoder does not see the true label: the class is the one the project's
  guard classifier reads (``mnistzip.classify.load("guard")``), and the
  decoder receives that class;
* latent bits: the latents scaled by the level's gain are rounded as TFC's
  ``ContinuousBatchedEntropyModel.quantize`` rounds them (to the integers
  shifted by ``tfc.distributions.helpers.quantization_offset`` of the prior,
  here of the digit's class's densities), and counted as
  -log2 ``prior.log_prob`` of the rounded latents: what
  ``ContinuousBatchedEntropyModel(prior, coding_rank=2, compression=False)(y, training=False)``
  returns, i.e. -log2 of the probability mass of the rounded latents. Total
  bits = latent bits + log2(10) for the class (a table fitted to the class
  frequencies would save ~0.01 bit; the entropy of the guard's classes is printed);
* PSNR of the mean MSE (``mnistzip.metrics.psnr_of_mean_mse``) on uint8
  reconstructions (clip(round(255·x̂)), as the codec does);
* class kept by the reference and by the second classifier (``classify.kept``);
* for reference: the same with the TRUE label given to the prior and decoder
  (an upper bound), and the guard's accuracy.

The baseline (``models/vr-300-520``, unchanged, NumPy runtime through
``mnistzip.codec.Codec``) is measured on the same digits: bits on disk in one
archive, its entropy bits, PSNR and class kept at each of its levels. The
class-conditional figures are compared with it at equal rate, interpolating the
baseline's PSNR and class kept linearly in log(bits) between its levels (entropy
bits against entropy bits; extrapolated from the nearest two levels outside its
range, and marked so).

Weights are checkpointed every epoch under ``--out`` (default
``runs/class-conditional/``, one folder per run size), so a rerun resumes or, when
done, only evaluates. Results go to ``results.json`` in that folder.

Reproduce (from the repository root, with the project's venv):

    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/class_conditional.py --epochs 40              # the measured run
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/class_conditional.py                          # 80 epochs, as the baseline
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/class_conditional.py --epochs 1 --limit 2000  # smoke run

The measured run has 40 epochs (cosine over 40), not the baseline's 80: on the 2 shared
cores an epoch took 40-150 s, so 80 would have taken ~2 h; it took 3389 s (56 min) for 40.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "models" / "vr-300-520"
LMBDAS = (300.0, 360.0, 430.0, 520.0)
LATENT_DIMS = 32
CLASSES = 10
CLASS_BITS = math.log2(CLASSES)


def gathered_noisy_log_prob(prior, y, channel):
    """``tfc.NoisyDeepFactorized.log_prob`` of values ``y`` (M,), each under its own channel (M,) of the flattened
    batch shape: TFC's ``DeepFactorized._logits_cumulative`` and ``UniformNoiseAdapter._log_prob_with_logsf_and_logcdf``
    with the parameters gathered per value instead of broadcast over every channel."""
    import tensorflow as tf

    base = prior.base
    logits = tf.stack([y + 0.5, y - 0.5], axis=-1)[:, None, :]  # (M, 1, 2)
    layers = len(base.num_filters) + 1
    for i in range(layers):
        logits = tf.linalg.matmul(tf.nn.softplus(tf.gather(base._matrices[i], channel)), logits)
        logits += tf.gather(base._biases[i], channel)
        if i < layers - 1:
            logits += tf.math.tanh(tf.gather(base._factors[i], channel)) * tf.math.tanh(logits)
    plus, minus = logits[:, 0, 0], logits[:, 0, 1]
    logsf_plus, logsf_minus = tf.math.log_sigmoid(-plus), tf.math.log_sigmoid(-minus)
    logcdf_plus, logcdf_minus = tf.math.log_sigmoid(plus), tf.math.log_sigmoid(minus)
    condition = logsf_plus < logcdf_plus
    big = tf.where(condition, logsf_minus, logcdf_plus)
    small = tf.where(condition, logsf_plus, logcdf_minus)
    return tf.where(tf.math.is_inf(big), big, tf.math.log1p(-tf.exp(small - big)) + big)


def check_gathered_log_prob(model, seed: int = 1) -> float:
    """Largest |difference| between ``gathered_noisy_log_prob`` and TFC's own ``prior.log_prob`` on random latents."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    n, q, dims = 256, model.levels, model.latent_dims
    z = tf.constant(rng.normal(0, 4, (n, q, dims)), tf.float32)
    cls = rng.integers(0, CLASSES, n)
    level = rng.integers(0, q, n)
    dense = model.prior.log_prob(z[:, :, None, :]).numpy()[np.arange(n), :, cls][np.arange(n), level]  # (n, L)
    z_level = z.numpy()[np.arange(n), level]
    channel = ((level * CLASSES + cls) * dims)[:, None] + np.arange(dims)
    gathered = gathered_noisy_log_prob(model.prior, tf.constant(z_level.reshape(-1)), tf.constant(channel.reshape(-1)))
    return float(np.abs(dense - gathered.numpy().reshape(n, dims)).max())


def build_model(levels: int = len(LMBDAS), latent_dims: int = LATENT_DIMS):
    """The class-conditional trainer (a Keras model): ``call(x, cls, training)``."""
    import tensorflow as tf
    import tensorflow_compression as tfc

    from mnistzip.container import SIDE
    from mnistzip.transforms import WIDTH, AnalysisTransform, SynthesisTransform, to_unit

    class ClassConditionalTrainer(tf.keras.Model):
        """``CompressionTrainer`` with the deep prior, the class given to the decoder and to the prior."""

        def __init__(self, lmbdas):
            super().__init__()
            self.lmbdas = tuple(float(v) for v in lmbdas)
            self.latent_dims = latent_dims
            self.analysis_transform = AnalysisTransform(latent_dims, WIDTH)
            self.synthesis_transform = SynthesisTransform(WIDTH, "seed")
            log_lmbdas = np.log(np.asarray(self.lmbdas))
            start = np.repeat((0.5 * (log_lmbdas - log_lmbdas.mean()))[:, None], latent_dims, axis=1)
            self.log_gains = tf.Variable(start.astype(np.float32), trainable=levels > 1, name="log_gains")
            self.prior = tfc.NoisyDeepFactorized(batch_shape=(levels, CLASSES, latent_dims))
            self.analysis_transform.build((None, SIDE, SIDE, 1))
            self.synthesis_transform.build((None, latent_dims + CLASSES))

        @property
        def levels(self) -> int:
            return len(self.lmbdas)

        offsets = None  # (Q, 10, L), set by ``run_eval`` once per evaluation (the tails search is slow)

        def quantization_offsets(self):
            """What TFC rounds each density to (``helpers.quantization_offset``: the median, less its rounding)."""
            return tfc.distributions.helpers.quantization_offset(self.prior)

        @property
        def gains(self):
            return tf.exp(self.log_gains)

        def decode(self, y_unscaled, cls):
            """Decoder: latents (divided by the gain) and class → digit in [0, 1] (before rounding)."""
            onehot = tf.one_hot(tf.cast(cls, tf.int32), CLASSES)
            return self.synthesis_transform(tf.concat([y_unscaled, onehot], axis=-1))

        def noisy_bits(self, z, level, cls):
            """Training: ``z`` (N, L) scaled latents of each digit at its training level ``level`` (N,) plus uniform
            noise, and their bits (N,) under the noisy density of (level, class, dimension). The same value and
            gradient as ``self.prior.log_prob`` of the latents broadcast to (N, Q, 10, L), then gathered at each
            digit's level and class, in 1/40 of the work (``check_gathered_log_prob`` verifies it)."""
            coded = z + tf.random.uniform(tf.shape(z), -0.5, 0.5)
            channel = ((level * CLASSES + tf.cast(cls, tf.int32)) * self.latent_dims)[:, None] + tf.range(self.latent_dims)
            log_probs = gathered_noisy_log_prob(self.prior, tf.reshape(coded, (-1,)), tf.reshape(channel, (-1,)))
            return coded, tf.reduce_sum(tf.reshape(log_probs, tf.shape(z)), axis=-1) / -tf.math.log(2.0)

        def rounded_bits(self, z, cls):
            """Evaluation: ``z`` (N, Q, L) scaled latents rounded as ``ContinuousBatchedEntropyModel.quantize`` rounds
            them with the digit's class's densities, and their bits (N, Q): -log2 ``prior.log_prob`` of the rounded
            latents (the probability mass of their quantisation bins), as TFC's entropy model with training=False."""
            cls = tf.cast(cls, tf.int32)
            offset = self.offsets if self.offsets is not None else self.quantization_offsets()
            offset = tf.transpose(tf.gather(offset, cls, axis=1), (1, 0, 2))  # (Q, 10, L) → (N, Q, L)
            coded = tf.round(z - offset) + offset
            log_probs = self.prior.log_prob(coded[:, :, None, :])  # (N, Q, 10, L): every class's densities
            log_probs = tf.gather(log_probs, cls, axis=2, batch_dims=1)  # (N, Q, L): the digit's class
            return coded, tf.reduce_sum(log_probs, axis=-1) / -tf.math.log(2.0)

        def call(self, inputs, training=False):
            """As ``CompressionTrainer.call``: per level rate (bits/digit), distortion (MSE on [0, 1]) and
            MSE on 0-255; evaluation also gives each digit's bits (N, Q) and reconstructions (N, Q, 28, 28)."""
            x, cls = inputs
            x = to_unit(x)
            y = self.analysis_transform(x)
            gains = self.gains
            q = self.levels
            axes = (-3, -2, -1)
            if training:
                n = tf.shape(y)[0]
                which = (tf.range(n) * q) // n  # example i trains level which[i], as CompressionTrainer
                level_gains = tf.gather(gains, which)
                y_tilde, bits = self.noisy_bits(y * level_gains, which, cls)
                err = x - self.decode(y_tilde / level_gains, cls)

                def per_level(values):
                    return tf.math.unsorted_segment_mean(values, which, q)

                return dict(rate=per_level(bits), distortion=per_level(tf.reduce_mean(tf.square(err), axis=axes)))
            y_tilde, bits = self.rounded_bits(y[:, None, :] * gains, cls)
            flat = tf.reshape(y_tilde / gains, (-1, self.latent_dims))
            x_tilde = tf.reshape(self.decode(flat, tf.repeat(tf.cast(cls, tf.int32), q)), (-1, q, SIDE, SIDE, 1))
            err = x[:, None] - x_tilde
            return dict(rate=tf.reduce_mean(bits, axis=0),
                        distortion=tf.reduce_mean(tf.square(err), axis=(0, 2, 3, 4)),
                        bits=bits, x_tilde=x_tilde[..., 0])

    return ClassConditionalTrainer(LMBDAS)


def train(args, train_images, train_labels, test_images, test_labels, run_dir: Path):
    """Train (or resume, or load when done) the class-conditional model; its checkpoints live in ``run_dir``."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(args.seed)
    model = build_model()
    print(f"gathered vs TFC's log_prob, at initialisation: max |difference| {check_gathered_log_prob(model):.2e} nats")
    steps = int(np.ceil(len(train_images) / args.batch_size))
    optimizer = tf.keras.optimizers.Adam(
        learning_rate=tf.keras.optimizers.schedules.CosineDecay(args.lr, decay_steps=args.epochs * steps))
    optimizer.build(model.trainable_variables)
    epoch_var = tf.Variable(0, dtype=tf.int64, name="epoch")
    seconds_var = tf.Variable(0.0, dtype=tf.float64, name="train_seconds")
    ckpt = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var, seconds=seconds_var)
    manager = tf.train.CheckpointManager(ckpt, str(run_dir), max_to_keep=1)
    history_path = run_dir / "history.json"
    history = []
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        history = json.loads(history_path.read_text())[: int(epoch_var.numpy())] if history_path.exists() else []
        print(f"restored {manager.latest_checkpoint}: {int(epoch_var.numpy())} of {args.epochs} epochs done")
    lmbdas = tf.constant(LMBDAS, tf.float32)

    @tf.function
    def train_step(x, cls):
        with tf.GradientTape() as tape:
            out = model((x, cls), training=True)
            terms = out["rate"] + lmbdas * out["distortion"]
            loss = tf.reduce_mean(tf.math.log(tf.maximum(terms, 1e-6)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return out

    dataset = (tf.data.Dataset.from_tensor_slices((train_images, train_labels.astype(np.int32)))
               .shuffle(len(train_images), seed=args.seed, reshuffle_each_iteration=True)
               .batch(args.batch_size).prefetch(4))
    while int(epoch_var.numpy()) < args.epochs:
        epoch = int(epoch_var.numpy()) + 1
        started = time.perf_counter()
        rates, dists = [], []
        for x, cls in dataset.take(steps):
            out = train_step(x, cls)
            rates.append(out["rate"].numpy())
            dists.append(out["distortion"].numpy())
        seconds = time.perf_counter() - started
        row = dict(epoch=epoch, seconds=round(seconds, 1), train_rate=np.mean(rates, 0).round(3).tolist(),
                   train_psnr=(10 * np.log10(1.0 / np.mean(dists, 0))).round(3).tolist())
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            figures = run_eval(model, test_images, test_labels)  # true labels: monitoring only
            row.update(test_rate=figures["latent_bits"], test_psnr=figures["psnr"])
        seconds_var.assign_add(seconds)
        epoch_var.assign(epoch)
        history.append(row)
        history_path.write_text(json.dumps(history))
        manager.save()
        print(json.dumps(row), flush=True)
    return model, float(seconds_var.numpy()), history


def run_eval(model, images: np.ndarray, cls: np.ndarray, batch: int = 1000) -> dict:
    """Per level: mean latent bits, PSNR of the mean MSE on uint8 reconstructions, and the reconstructions."""
    from mnistzip.metrics import psnr_of_mean_mse

    bits, recon = [], []
    model.offsets = model.quantization_offsets()
    for i in range(0, len(images), batch):
        out = model((images[i : i + batch], cls[i : i + batch].astype(np.int32)), training=False)
        bits.append(out["bits"].numpy())
        recon.append(np.clip(np.round(255.0 * out["x_tilde"].numpy()), 0, 255).astype(np.uint8))
    model.offsets = None
    bits, recon = np.concatenate(bits), np.concatenate(recon)  # (N, Q), (N, Q, 28, 28)
    levels = bits.shape[1]
    return dict(latent_bits=[round(float(bits[:, q].mean()), 3) for q in range(levels)],
                psnr=[round(psnr_of_mean_mse(images, recon[:, q]), 3) for q in range(levels)],
                recon=[recon[:, q] for q in range(levels)])


def measure_baseline(images: np.ndarray, labels: np.ndarray, judges: dict, cache: Path) -> list[dict]:
    """The shipped ``vr-300-520`` on the same digits (NumPy runtime): bits on disk, entropy bits, PSNR, class kept."""
    if cache.exists():
        rows = json.loads(cache.read_text())
        if rows and rows[0]["digits"] == len(images):
            return rows
    from mnistzip import classify, container, metrics
    from mnistzip.codec import Codec

    codec = Codec.load(BASELINE)
    rows = []
    for level in range(1, len(LMBDAS) + 1):
        c = codec.at_level(level)
        payload, bits = c.encode(images)
        recon = c.decode(payload, len(images))
        archive = container.MzFile(model_id=c.id, count=len(images), payload=payload)
        rows.append(dict(level=level, lmbda=LMBDAS[level - 1], digits=len(images),
                         bits_archive=round(metrics.bits_per_digit(archive.size, len(images)), 3),
                         bits_entropy=round(float(np.mean(bits)), 3),
                         psnr=round(metrics.psnr_of_mean_mse(images, recon), 3),
                         kept_reference=round(classify.kept(judges["reference"], labels, recon), 2),
                         kept_second=round(classify.kept(judges["second"], labels, recon), 2)))
    cache.write_text(json.dumps(rows, indent=1))
    return rows


def interpolate(rows: list[dict], rate_key: str, key: str, rate: float) -> tuple[float, bool]:
    """The baseline's ``key`` at ``rate``, linear in log(rate) between its levels; True if extrapolated."""
    r = np.log([row[rate_key] for row in rows])
    v = np.array([row[key] for row in rows], float)
    order = np.argsort(r)
    r, v = r[order], v[order]
    x = math.log(rate)
    if r[0] <= x <= r[-1]:
        return float(np.interp(x, r, v)), False
    i = 0 if x < r[0] else len(r) - 2
    return float(v[i] + (v[i + 1] - v[i]) * (x - r[i]) / (r[i + 1] - r[i])), True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N training digits (smoke runs)")
    parser.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test digits")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=10, help="epochs between test-split checks in training")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "class-conditional")
    args = parser.parse_args()

    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    from mnistzip import classify, data

    train_images = data.load_mnist("train")[: args.limit]
    train_labels = data.load_labels("train")[: args.limit]
    test_images = data.load_mnist("test")[: args.test_limit]
    test_labels = data.load_labels("test")[: args.test_limit]
    run_dir = args.out / (f"e{args.epochs}" + (f"-n{args.limit}" if args.limit else ""))
    run_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    model, train_seconds, history = train(args, train_images, train_labels, test_images, test_labels, run_dir)
    print(f"gathered vs TFC's log_prob, trained: max |difference| {check_gathered_log_prob(model):.2e} nats")
    print(f"training: {train_seconds:.0f} s over {args.epochs} epochs (this call: {time.perf_counter() - started:.0f} s)")

    judges = {role: classify.load(role) for role in ("reference", "second")}
    guard = classify.load("guard")
    guess = guard.predict(test_images)
    guard_acc = float(100 * (guess == test_labels).mean())
    freq = np.bincount(guess, minlength=CLASSES) / len(guess)
    class_entropy = float(-(freq[freq > 0] * np.log2(freq[freq > 0])).sum())

    with_guard = run_eval(model, test_images, guess)
    with_truth = run_eval(model, test_images, test_labels)
    levels = []
    for q, lmbda in enumerate(LMBDAS):
        levels.append(dict(
            level=q + 1, lmbda=lmbda,
            latent_bits=with_guard["latent_bits"][q],
            total_bits=round(with_guard["latent_bits"][q] + CLASS_BITS, 3),
            psnr=with_guard["psnr"][q],
            kept_reference=round(classify.kept(judges["reference"], test_labels, with_guard["recon"][q]), 2),
            kept_second=round(classify.kept(judges["second"], test_labels, with_guard["recon"][q]), 2),
            true_label=dict(
                latent_bits=with_truth["latent_bits"][q], psnr=with_truth["psnr"][q],
                kept_reference=round(classify.kept(judges["reference"], test_labels, with_truth["recon"][q]), 2),
                kept_second=round(classify.kept(judges["second"], test_labels, with_truth["recon"][q]), 2)),
        ))

    baseline = measure_baseline(test_images, test_labels, judges, run_dir / "baseline.json")
    for row in levels:
        cmp = {}
        for key in ("psnr", "kept_reference", "kept_second"):
            value, extrapolated = interpolate(baseline, "bits_entropy", key, row["total_bits"])
            cmp[key] = round(value, 3)
            cmp["extrapolated"] = extrapolated
        row["baseline_at_equal_rate"] = cmp
        row["gain"] = {k: round(row[k] - cmp[k], 3) for k in ("psnr", "kept_reference", "kept_second")}

    results = dict(
        command="python benchmarks/class_conditional.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out" and v is not None),
        digits=len(test_images), training_seconds=round(train_seconds, 1), epochs=args.epochs,
        train_digits=len(train_images), class_bits=round(CLASS_BITS, 4),
        guard_accuracy=round(guard_acc, 2), guard_class_entropy_bits=round(class_entropy, 4),
        levels=levels, baseline=baseline, history=history,
    )
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))

    print(f"\nguard accuracy {guard_acc:.2f}%; entropy of its classes {class_entropy:.4f} bits "
          f"(uniform table: {CLASS_BITS:.4f})")
    print("\nclass-conditional (encoder and decoder given the guard's class):")
    print("  λ     latent  total   PSNR   kept ref  kept 2nd | true label: latent  PSNR   kept ref  kept 2nd")
    for r in levels:
        t = r["true_label"]
        print(f"  {r['lmbda']:<5g} {r['latent_bits']:6.3f} {r['total_bits']:6.3f} {r['psnr']:6.3f} "
              f"{r['kept_reference']:8.2f} {r['kept_second']:9.2f} | {t['latent_bits']:17.3f} {t['psnr']:6.3f} "
              f"{t['kept_reference']:8.2f} {t['kept_second']:9.2f}")
    print("\nbaseline vr-300-520 on the same digits:")
    print("  λ     on disk entropy PSNR   kept ref  kept 2nd")
    for b in baseline:
        print(f"  {b['lmbda']:<5g} {b['bits_archive']:7.3f} {b['bits_entropy']:7.3f} {b['psnr']:6.3f} "
              f"{b['kept_reference']:8.2f} {b['kept_second']:9.2f}")
    print("\nat equal rate (baseline interpolated in log(entropy bits)):")
    print("  total bits  ΔPSNR dB  Δkept ref  Δkept 2nd")
    for r in levels:
        g = r["gain"]
        note = "  (baseline extrapolated)" if r["baseline_at_equal_rate"]["extrapolated"] else ""
        print(f"  {r['total_bits']:10.3f} {g['psnr']:+9.3f} {g['kept_reference']:+10.2f} {g['kept_second']:+10.2f}{note}")
    print(f"\nwritten: {run_dir / 'results.json'}")


if __name__ == "__main__":
    main()
