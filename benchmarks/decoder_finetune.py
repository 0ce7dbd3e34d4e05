"""How much a trained model's decoder gains from more training on the latents the codec decodes.

A model is trained with uniform noise standing in for rounding; the codec then
decodes rounded latents. This measures the gap: it freezes the encoder and the
entropy model (so the bits stay exactly the same), fine-tunes a copy of the
decoder on the training split's quantised latents of every quality level, and
prints the PSNR (of the mean MSE, uint8 output) on the test split after each
epoch. Nothing is written: the model's files, ids and decoded digits are unchanged.

Run:  MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/decoder_finetune.py runs/cond-1000-2000-L24 --epochs 6
(a model trained with ``--half``; its card gives the width.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import machine  # benchmarks/machine.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a model directory trained with --half")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam, cosine-decayed to 0 over the epochs")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=machine.count, help="the first N digits of each split (a quick look)")
    args = parser.parse_args()

    import tensorflow as tf

    from mnistzip import mnist
    from mnistzip.codec import Codec
    from mnistzip.metrics import psnr_of_mean_mse
    from mnistzip.export import HalfStoredTransform
    from mnistzip.transforms import SynthesisTransform, to_uint8, to_unit

    card = json.loads((args.model / "model.json").read_text())
    if card.get("weights_dtype") != "float16":
        raise SystemExit(f"{args.model}: trained without --half; this benchmark reads float16-stored decoders")
    codec = Codec.load(args.model)
    saved = tf.saved_model.load(str(args.model))  # the decoder's weights, as the codec computes with them
    gains = saved.gains.numpy()
    train, test = mnist.images("train")[: args.limit], mnist.images("test")[: args.limit]
    started = time.perf_counter()
    levels = [codec.at_level(q) for q in range(1, len(gains) + 1)]
    unit = {split: [c.quantize(c.latents(x)) / g for c, g in zip(levels, gains)] for split, x in
            (("train", train), ("test", test))}  # quantised latents in the decoder's domain (divided by the gain)
    print(f"{args.model.name}: quantised latents of {len(levels)} levels in {time.perf_counter() - started:.0f} s")

    decoder = SynthesisTransform.of(card["recipe"])
    decoder.build((None, gains.shape[1]))
    slots = [(layer, attr) for layer in decoder.layers for attr in HalfStoredTransform.WEIGHTS
             if hasattr(layer, attr)]
    for (layer, attr), half in zip(slots, saved.synthesis_transform.half_weights, strict=True):
        getattr(layer, attr).assign(tf.cast(half, tf.float32))

    def psnrs() -> list[float]:
        """PSNR (of the mean MSE) of each level's test digits, decoded to uint8 as the codec does."""
        return [round(float(psnr_of_mean_mse(test, to_uint8(decoder(y)).numpy())), 3) for y in unit["test"]]

    before = psnrs()
    codec_psnr = [lv["test"]["psnr_of_mean_mse"] for lv in card["levels"]]
    print(f"before: {before} dB (the codec measured {codec_psnr}: same decoder)")
    x_all = np.concatenate(unit["train"])
    target = np.concatenate([to_unit(train).numpy()] * len(levels))
    steps = args.epochs * int(np.ceil(len(x_all) / args.batch_size))
    optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(args.lr, steps))

    @tf.function
    def step(y, x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(decoder(y) - x))
        optimizer.apply_gradients(zip(tape.gradient(loss, decoder.trainable_variables), decoder.trainable_variables))

    batches = tf.data.Dataset.from_tensor_slices((x_all, target)).shuffle(len(x_all), seed=0).batch(args.batch_size)
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        for y, x in batches:
            step(y, x)
        now = psnrs()
        gain = ", ".join(f"{b - a:+.3f}" for a, b in zip(before, now))
        print(f"epoch {epoch}: {now} dB ({gain} dB at the same bits), {time.perf_counter() - started:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
