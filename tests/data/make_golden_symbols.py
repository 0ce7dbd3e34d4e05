"""Golden files: what TensorFlow reads from each, and new ones for a shipped model's level.

``tests/data/golden/`` holds ``.mz`` files of the first three MNIST test
digits, one per shipped level: ``ladder-qN.mz`` were made at rung N when the
ladder was first declared, later ones are named ``MODEL-levelN.mz``. Beside
them, ``ladder-pixels.npz`` holds the pixels each decodes to (by file stem) and
``ladder-symbols.npz`` what TensorFlow's decoder reads from each:
``STEM.rows`` and ``STEM.symbols`` (int32, (3, coded_dims)), each element's
table row and symbol, from the SavedModel (``MNISTZIP_ENGINE=tf``) and its
``conditionals``. The runtime's tests check that it reads the same from the
same bytes without TensorFlow.

    python tests/data/make_golden_symbols.py                       (from the checkout; needs mnistzip[train])
    python tests/data/make_golden_symbols.py --add MODEL LEVEL     first write MODEL-levelLEVEL.mz and its pixels
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())  # the checkout's mnistzip, not an installed one
GOLDEN = Path(__file__).parent / "golden"
PIXELS = GOLDEN / "ladder-pixels.npz"
DIGITS = 3  # the first test digits


def add(model: str, level: int) -> None:
    """Write ``MODEL-levelLEVEL.mz`` (the first test digits, coded by TensorFlow) and its pixels."""
    from mnistzip import catalogue, container, mnist
    from mnistzip.codec import Codec

    codec = Codec.load(catalogue.models_dir() / model, level=level, engine="tf")
    stem = f"{model}-level{level}"
    mz = codec.compress(mnist.images("test")[:DIGITS])
    container.write(GOLDEN / f"{stem}.mz", mz)
    with np.load(PIXELS) as f:
        pixels = dict(f)
    pixels[stem] = codec.decompress(mz)
    np.savez(PIXELS, **pixels)
    print(f"wrote {stem}.mz ({mz.size} bytes) and its pixels")


def main():
    from mnistzip import container, zoo
    from mnistzip.codec import Codec

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--add", nargs=2, metavar=("MODEL", "LEVEL"))
    args = parser.parse_args()
    if args.add:
        add(args.add[0], int(args.add[1]))
    out = {}
    for path in sorted(GOLDEN.glob("*.mz")):
        mz = container.read(path)
        native = zoo.for_file(mz.model_id)
        codec = Codec.open(native.card, level=native.level.number, engine="tf")
        latents = codec.decode_latents(mz.payload, mz.count)
        _, rows, symbols = codec.coding(latents)
        out[f"{path.stem}.rows"], out[f"{path.stem}.symbols"] = rows.astype(np.int32), symbols.astype(np.int32)
        print(path.name, codec.name, symbols.shape)
    np.savez(GOLDEN / "ladder-symbols.npz", **out)


if __name__ == "__main__":
    main()
