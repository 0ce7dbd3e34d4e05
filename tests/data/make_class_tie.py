"""``class-tie.npy``: a 28 x 28 digit whose two best class scores, by the class-coding rungs' class reader
(``classify.GUARD``), are within float32's batch-to-batch noise: its float32 class alone differs from its class in
a batch. ``tests/test_codec.py`` checks that a class-coding model still codes it the same way anywhere.

Test digit 0 is blended into the first test digit the reader reads as another class, at the blend where the gap
between the two best scores is least; then single pixels are moved by ±1 and ±5, the move that narrows the gap
most kept, until it is under 2e-6.

    python tests/data/make_class_tie.py          (from the checkout; BLAS on one thread, as the command line)
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from mnistzip import classify, mnist  # noqa: E402

OUT = Path(__file__).parent / "class-tie.npy"


def gap(logits: np.ndarray) -> np.ndarray:
    best = np.sort(logits, axis=1)
    return best[:, -1] - best[:, -2]


def main() -> None:
    reader = classify.load(classify.GUARD)
    x = mnist.images("test", rows=slice(0, 200))
    classes = reader.predict(x)
    a, b = x[0].astype(float), x[np.flatnonzero(classes != classes[0])[0]].astype(float)
    blends = np.round(np.stack([a * (1 - t) + b * t for t in np.linspace(0, 1, 201)])).astype(np.uint8)
    digit = blends[np.argmin(gap(reader.logits(blends)))]
    for _ in range(12):
        moves = []
        for delta in (1, -1, 5, -5):
            moved = np.repeat(digit.reshape(1, -1).astype(int), 784, axis=0)
            moved[np.arange(784), np.arange(784)] += delta
            moves.append(np.clip(moved, 0, 255).astype(np.uint8).reshape(784, 28, 28))
        moves = np.concatenate(moves)
        gaps = gap(reader.logits(moves))
        digit = moves[np.argmin(gaps)]
        if gaps.min() < 2e-6:
            break
    np.save(OUT, digit)
    print(f"{OUT}: the two best scores {gap(reader.logits(digit[None]))[0]:.1e} apart")


if __name__ == "__main__":
    main()
