"""The encoder's search against plain rounding (--fast): what it adds to a one-digit compress, and its speed on
many digits, rung by rung.

- **One digit, cold**: a fresh process loads a rung and codes test digit 7
  once, with ``search.compress`` or ``Codec.compress``, timed from the model
  loaded to the file's contents made (what a one-digit ``compress`` pays on
  top of its start-up); the two alternate, ``--repeat`` times each, and the
  medians and their difference are printed (issue 31's budget: 10 ms).
- **Many digits, warm**: the first ``--limit`` test digits coded both ways in
  one process (BLAS on one thread, batches on both cores, as the command line
  runs them): digits/s and their ratio, measured in the same run.

This machine's environment forces ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which slow a current NumPy: they are unset here, as on
a user's machine, and the BLAS kernel that ran is printed.

Run:  python benchmarks/search_speed.py [--rungs 1,12,18] [--limit 2000] [--repeat 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import machine  # benchmarks/machine.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ONE_DIGIT = """
import sys, time
from mnistzip.blas import one_thread
one_thread()
from mnistzip import mnist, search, zoo
codec = zoo.load(rung=int(sys.argv[1]))
digit = mnist.images("test", rows=slice(7, 8))
started = time.perf_counter()
search.compress(codec, digit) if sys.argv[2] == "search" else codec.compress(digit)
print(time.perf_counter() - started)
"""


def one_digit(python: str, rung: int, repeat: int) -> dict:
    """Median seconds of a cold one-digit code, searched and rounded, alternating in fresh processes."""
    env = machine.user_environment()
    env.pop("MNISTZIP_DATA_DIR", None)
    env["PYTHONPATH"] = str(ROOT)  # this checkout's mnistzip, as in this process
    times = {"search": [], "fast": []}
    for _ in range(repeat):
        for how in times:
            out = subprocess.run([python, "-c", ONE_DIGIT, str(rung), how], env=env, capture_output=True, text=True,
                                 check=True)
            times[how].append(float(out.stdout))
    medians = {how: statistics.median(t) for how, t in times.items()}
    return dict(search_ms=round(1e3 * medians["search"], 1), fast_ms=round(1e3 * medians["fast"], 1),
                added_ms=round(1e3 * (medians["search"] - medians["fast"]), 1))


def many_digits(rung: int, limit: int) -> dict:
    """Digits/s of the search and of rounding on the first ``limit`` test digits, warm, in this process."""
    from mnistzip import mnist, search, zoo

    codec = zoo.load(rung=rung)
    digits = mnist.images("test")[:limit]
    search.compress(codec, digits[:16])  # builds the decoder and the derivatives, as a run's first batch would
    codec.compress(digits[:16])
    started = time.perf_counter()
    search.compress(codec, digits)
    searched = time.perf_counter() - started
    started = time.perf_counter()
    codec.compress(digits)
    rounded = time.perf_counter() - started
    return dict(search_digits_per_s=round(limit / searched), fast_digits_per_s=round(limit / rounded),
                ratio=round(searched / rounded, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rungs", default="1,3,12,18", help="rungs of the quality ladder, comma-separated")
    parser.add_argument("--limit", type=machine.count, default=2000, help="test digits for the many-digit figures")
    parser.add_argument("--repeat", type=int, default=7, help="fresh processes per one-digit figure (median)")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()
    machine.unset_forced()
    from mnistzip.blas import one_thread

    one_thread()  # before NumPy loads, as the command line does
    print(machine.describe(), flush=True)
    rows = []
    for rung in (int(r) for r in args.rungs.split(",")):
        row = dict(rung=rung, **one_digit(sys.executable, rung, args.repeat), **many_digits(rung, args.limit))
        rows.append(row)
        print(f"q{rung}: one digit {row['search_ms']:.1f} ms searched, {row['fast_ms']:.1f} ms rounded "
              f"(+{row['added_ms']:.1f} ms; budget 10); {args.limit:,} digits {row['search_digits_per_s']:,}/s "
              f"searched, {row['fast_digits_per_s']:,}/s rounded ({row['ratio']}x)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(dict(machine=machine.describe(), limit=args.limit, rows=rows), indent=2) + "\n")


if __name__ == "__main__":
    main()
