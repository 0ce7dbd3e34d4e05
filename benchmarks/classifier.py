"""Train a reference classifier for "class kept" (``mnistzip.classify``) and ship it.

    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/classifier.py cnn --role reference
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/classifier.py mlp --role second --epochs 30
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/classifier.py guard --role guard
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/classifier.py cnn --epochs 1 --limit 2000 --out /tmp/c

Trains on the MNIST *training* split only (with small random shifts, turns
and zooms, so that a slightly blurred or displaced digit is still read),
writes ``<out>/<name>.npz`` and records the classifier in
``<out>/identity.json`` (layers, digest, parameters, and its accuracy on the
original test digits *as the NumPy runtime computes it*, which is what
``eval`` prints as the ceiling). Needs ``mnistzip[train]`` (Keras).

The kinds (``KINDS``): ``cnn``, a small convolutional network (3x3
convolutions and max pooling, ~100k parameters, float32); ``mlp``, a
fully connected network on the pixels (no convolution, float16 weights);
``guard``, a smaller network of strided convolutions that the encoder may
consult (``refine``), so that what is reported is never what was optimised.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

import machine  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnistzip import classify, mnist  # noqa: E402
from mnistzip.fileio import file_digest, write_atomic  # noqa: E402

KINDS = {
    "cnn": dict(
        kind="convolutional network",
        dtype="float32",
        layers=[dict(kind="conv", units=32, kernel=3), dict(kind="maxpool"),
                dict(kind="conv", units=64, kernel=3), dict(kind="maxpool"),
                dict(kind="conv", units=128, kernel=3), dict(kind="maxpool"),
                dict(kind="dense", units=10, activation=None)],
        dropout=0.3,
    ),
    "mlp": dict(
        kind="fully connected network",
        dtype="float16",
        layers=[dict(kind="dense", units=400), dict(kind="dense", units=200),
                dict(kind="dense", units=10, activation=None)],
        dropout=0.2,
    ),
    "guard": dict(
        kind="strided convolutional network",
        dtype="float32",
        layers=[dict(kind="conv", units=16, kernel=5, stride=2), dict(kind="conv", units=32, kernel=5, stride=2),
                dict(kind="dense", units=64), dict(kind="dense", units=10, activation=None)],
        dropout=0.2,
    ),
}
EPOCHS = 15
BATCH = 128
SEED = 0


def keras_model(spec: dict):
    """The Keras network a spec describes, with augmentation and dropout (training only) in front."""
    import tensorflow as tf

    layers = tf.keras.layers
    inputs = tf.keras.Input((28, 28, 1))
    x = layers.RandomTranslation(0.08, 0.08, fill_mode="constant", seed=SEED)(inputs)
    x = layers.RandomRotation(0.03, fill_mode="constant", seed=SEED + 1)(x)
    x = layers.RandomZoom(0.08, fill_mode="constant", seed=SEED + 2)(x)
    dense_layers = []
    for i, layer in enumerate(spec["layers"]):
        if layer["kind"] == "maxpool":
            x = layers.MaxPool2D()(x)
            continue
        if layer["kind"] == "dense":
            if len(x.shape) == 4:
                x = layers.Flatten()(x)
            x = layers.Dropout(spec["dropout"])(x)
            op = layers.Dense(layer["units"], name=f"layer{i}")
            dense_layers.append(op)
        else:
            op = layers.Conv2D(layer["units"], layer["kernel"], strides=layer.get("stride", 1), padding="same",
                               name=f"layer{i}")
        x = op(x)
        if layer.get("activation", "relu") == "relu":
            x = layers.ReLU()(x)
    return tf.keras.Model(inputs, x)


def train(name: str, epochs: int, limit: int | None, data_dir):
    """Trained weights ({layer{i}.kernel/bias}), the Keras model and the seconds it took."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    spec = KINDS[name]
    images = mnist.images("train", data_dir)[:limit].astype(np.float32)[..., None] / 255.0
    labels = mnist.labels("train", data_dir)[:limit]
    model = keras_model(spec)
    steps = epochs * -(-len(images) // BATCH)
    schedule = tf.keras.optimizers.schedules.CosineDecay(1e-3 * 3, steps)
    model.compile(tf.keras.optimizers.Adam(schedule),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    started = time.time()
    model.fit(images, labels, batch_size=BATCH, epochs=epochs, verbose=2, shuffle=True)
    seconds = time.time() - started
    weights = {}
    for i, layer in enumerate(spec["layers"]):
        if layer["kind"] != "maxpool":
            kernel, bias = model.get_layer(f"layer{i}").get_weights()
            weights[f"layer{i}.kernel"], weights[f"layer{i}.bias"] = kernel, bias
    return {k: v.astype(spec["dtype"]) for k, v in weights.items()}, model, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(KINDS))
    parser.add_argument("--role", choices=classify.ROLES + (classify.GUARD,),
                        help="make it the classifier eval reports in this role, or the encoder's guard")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--limit", type=machine.count, default=None, help="train on the first N training digits only")
    parser.add_argument("--out", type=Path, default=ROOT / "models" / classify.FOLDER,
                        help="folder of identity.json (default: the shipped one)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    weights, model, seconds = train(args.name, args.epochs, args.limit, args.data_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.name}.npz"
    tmp = args.out / f".{args.name}.npz.tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **weights)
    tmp.replace(path)

    spec = KINDS[args.name]
    index_path = args.out / classify.INDEX_FILE
    content = json.loads(index_path.read_text()) if index_path.exists() else dict(roles={}, classifiers=[])
    entry = dict(name=args.name, kind=spec["kind"], file=path.name, sha256=file_digest(path), layers=spec["layers"],
                 weights_dtype=spec["dtype"], parameters=int(sum(v.size for v in weights.values())),
                 bytes=path.stat().st_size, test_accuracy=None, training_seconds=round(seconds),
                 command="python benchmarks/classifier.py " + shlex.join(sys.argv[1:] if argv is None else argv))
    classifier = classify.Classifier.from_entry(dict(entry, test_accuracy=0.0), args.out)
    test, labels = mnist.images("test", args.data_dir), mnist.labels("test", args.data_dir)
    predicted = classifier.predict(test)
    entry["test_accuracy"] = round(100.0 * float((predicted == labels).mean()), 2)
    keras_says = model.predict(test.astype(np.float32)[..., None] / 255.0, verbose=0).argmax(axis=1)
    same = 100.0 * float((keras_says == predicted).mean())
    print(f"the NumPy runtime reads {same:.2f}% of the test digits as Keras does ({spec['dtype']} weights)")
    content["classifiers"] = [c for c in content["classifiers"] if c["name"] != args.name] + [entry]
    content["classifiers"].sort(key=lambda c: c["name"])
    if args.role:
        content["roles"][args.role] = args.name
    write_atomic(index_path, (json.dumps(content, indent=2) + "\n").encode(), force=True)
    print(f"{args.name}: {entry['parameters']} parameters, {entry['bytes']} bytes, "
          f"{entry['test_accuracy']:.2f}% of the MNIST test digits, trained in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
