"""Bits on disk against the entropy estimate, for one-digit files and whole-split archives.

Run:  python benchmarks/format_overhead.py [--model NAME] [--split test] [--limit N]
Prints the figures quoted in docs/format.md.
"""

from __future__ import annotations

import argparse
import time

import machine  # benchmarks/machine.py
from mnistzip.blas import one_thread

machine.unset_forced()
one_thread()  # before NumPy loads, as the command line does

import numpy as np  # noqa: E402

from mnistzip import container, mnist, zoo  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=machine.count, help="the split's first N digits")
    args = parser.parse_args()

    codec = zoo.load(args.model)
    digits = mnist.images(args.split)[: args.limit]
    n = len(digits)
    started = time.perf_counter()
    payload, bits = codec.encode(digits)
    seconds = time.perf_counter() - started
    archive = container.MzFile(codec.id, n, payload)
    entropy = float(bits.sum())
    each = np.array([len(s) for s in codec.encode_each(digits)])
    one = container.MzFile(codec.id, 1, b"")

    print(f"model {codec.name} ({codec.id}), MNIST {args.split}: {n} digits; {machine.describe()}")
    print(f"entropy estimate            {entropy / n:8.3f} bits/digit")
    print(f"one archive on disk         {8 * archive.size / n:8.3f} bits/digit ({archive.size} bytes, "
          f"{archive.overhead_bytes} of them header + checksum)")
    print(f"  over the estimate         {(8 * archive.size - entropy) / n:8.3f} bits/digit "
          f"(budget: 0.1 bit/digit + 64 bytes = {0.1 + 512 / n:.3f})")
    print(f"one-digit files             {8 * (each.mean() + one.overhead_bytes):8.3f} bits/digit "
          f"(payload {each.mean():.2f} bytes + {one.overhead_bytes} bytes overhead; "
          f"payload min {each.min()}, max {each.max()} bytes)")
    print(f"  range coder per string    {(8 * each.sum() - entropy) / n:8.3f} bits/digit over the estimate")
    print(f"compress speed (archive)    {n / seconds:8.0f} digits/s")


if __name__ == "__main__":
    main()
