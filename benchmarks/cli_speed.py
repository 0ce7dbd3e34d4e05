"""Whole mnistzip processes, timed from start to file written, against Python's own start-up with NumPy.

Each case is a fresh ``python -m mnistzip`` process (imports, model loading
and all), paired in every round with ``python -c "import numpy"`` run by the
same interpreter, so that a ratio is measured under the same load as its
parts: the figure to read is the median of the rounds' ratios (at least 7),
beside the median absolute times and the largest peak RSS. The whole-split
cases run on the TensorFlow reference engine too when it is installed.

This machine's environment forces ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which slow a current NumPy: they are unset here, as on
a user's machine, and the BLAS kernel that ran is printed.

Run:  python benchmarks/cli_speed.py [--repeat 7] [--python .venv313/bin/python] [--json out.json]
Prints the figures quoted in the README and docs/speed.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine  # benchmarks/machine.py

# A small Python that runs one command and reports its peak RSS: a child forked straight from this
# process would count this process's own RSS at the fork in its peak (Linux keeps it across exec).
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")
BASELINE = ["-c", "import numpy"]
# A 280 x 280 RGBA drawing, as a drawing app or a web canvas saves a digit (too large for mnistzip's own PNG
# reader: Pillow reads it)
DRAWING = ("from PIL import Image, ImageDraw; image = Image.new('RGBA', (280, 280), (0, 0, 0, 0)); "
           "ImageDraw.Draw(image).line([(90, 60), (190, 60), (120, 230)], fill=(0, 0, 0, 255), width=18); "
           "image.save('drawing.png')")
# Issue 29's targets; the drawing has none (Pillow reads it, and importing Pillow alone costs ~0.3x): it shows
# what a larger image costs
TARGETS = {"--help": 1.5, "models": 1.5, "compress one digit (mnist:test:7)": 2.0, "compress one digit --fast": 2.0,
           "compress one digit (28x28 PNG)": 2.0, "decompress one digit (PNG)": 2.0}
MAX_PEAK_MB = 100


def one_digit_cases() -> list[tuple[str, list[str]]]:
    """(name, mnistzip arguments): what a new user runs first; each may read what an earlier one wrote."""
    return [
        ("--help", ["--help"]),
        ("models", ["models"]),
        ("compress one digit (mnist:test:7)", ["compress", "mnist:test:7", "-o", "one.mz", "--force"]),
        ("compress one digit --fast", ["compress", "mnist:test:7", "-o", "fast.mz", "--force", "--fast"]),
        ("compress one digit (28x28 PNG)", ["compress", "digit.png", "-o", "png.mz", "--force"]),
        ("compress one digit (280x280 drawing)", ["compress", "drawing.png", "-o", "drawing.mz", "--force"]),
        ("decompress one digit (PNG)", ["decompress", "one.mz", "-o", "one.png", "--force"]),
    ]


def split_cases(split: str) -> list[tuple[str, list[str], int]]:
    count = 10_000 if split == "mnist:test" else _count(split)
    return [(f"compress {split}", ["compress", split, "-o", "all.mz", "--force"], count),
            (f"compress {split} --fast", ["compress", split, "-o", "fast.mz", "--force", "--fast"], count),
            (f"decompress {split} (.npy)", ["decompress", "all.mz", "-o", "all.npy", "--force"], count)]


def _count(reference: str) -> int:
    first, _, last = reference.rsplit(":", 1)[1].partition("-")
    return int(last or first) - int(first) + 1


def environment(engine: str = "numpy") -> dict:
    env = machine.user_environment()
    env["MNISTZIP_ENGINE"] = engine
    env.pop("MNISTZIP_DATA_DIR", None)  # the shipped test split, as on a fresh install
    return env


def run_once(python: str, args: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one process; a failure stops the benchmark with its message."""
    started = time.perf_counter()
    proc = subprocess.run([python, "-c", MEASURE, python, *args], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    *err, peak_kb = proc.stderr.strip().splitlines()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {err[-1] if err else proc.returncode}")
    return seconds, int(peak_kb) / 1024


def paired(python: str, repeat: int, cwd: Path) -> list[dict]:
    """Each one-digit case against ``import numpy``, paired in every round: median times and ratio, peak RSS."""
    env, rows = environment(), []
    for name, args in one_digit_cases():
        runs = [(run_once(python, BASELINE, cwd, env), run_once(python, ["-m", "mnistzip", *args], cwd, env))
                for _ in range(repeat)]
        row = dict(case=name, numpy_s=round(statistics.median(b[0] for b, _ in runs), 3),
                   seconds=round(statistics.median(c[0] for _, c in runs), 3),
                   ratio=round(statistics.median(c[0] / b[0] for b, c in runs), 2),
                   peak_rss_mb=round(max(c[1] for _, c in runs)), target=TARGETS.get(name))
        rows.append(row)
        met = (row["target"] is None or row["ratio"] <= row["target"]) and row["peak_rss_mb"] <= MAX_PEAK_MB
        target = f"target {row['target']}x" if row["target"] else "no target"
        print(f"  {name:36} {row['seconds']:6.3f} s  (import numpy {row['numpy_s']:.3f} s)  {row['ratio']:4.2f}x "
              f"({target})  {row['peak_rss_mb']:4d} MB  {'ok' if met else 'MISSED'}", flush=True)
    return rows


def whole_split(python: str, engine: str, split: str, repeat: int, cwd: Path) -> list[dict]:
    env, rows = environment(engine), []
    for name, args, digits in split_cases(split):
        runs = [run_once(python, ["-m", "mnistzip", *args], cwd, env) for _ in range(repeat)]
        wall = statistics.median(r[0] for r in runs)
        rows.append(dict(case=name, engine=engine, seconds=round(wall, 3), peak_rss_mb=round(max(r[1] for r in runs)),
                         digits_per_s=round(digits / wall)))
        print(f"  {engine:5} {name:34} {wall:7.3f} s  {rows[-1]['peak_rss_mb']:5d} MB  "
              f"{rows[-1]['digits_per_s']:,} digits/s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose mnistzip runs")
    parser.add_argument("--repeat", type=int, default=7, help="rounds per case (median; at least 7 for the README)")
    parser.add_argument("--split", default="mnist:test", help="the whole-split cases' digits (mnist:test:0-999, ...)")
    parser.add_argument("--engines", default="numpy,tf", help="engines for the whole-split cases (tf: if installed)")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()

    version = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    has_tf = subprocess.run([args.python, "-c", "import tensorflow"], capture_output=True).returncode == 0
    kernel = machine.blas_of(args.python)
    print(f"{args.python}: Python {version}; BLAS: {kernel}; {', '.join(machine.FORCED)} unset; "
          f"median of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        subprocess.run([args.python, "-m", "mnistzip", "decompress", "-", "-o", "digit.png"], cwd=cwd, env=environment(),
                       input=subprocess.run([args.python, "-m", "mnistzip", "compress", "mnist:test:3", "-o", "-"],
                                            env=environment(), capture_output=True, check=True).stdout, check=True)
        subprocess.run([args.python, "-c", DRAWING], cwd=cwd, check=True)
        rows = paired(args.python, args.repeat, cwd)
        splits = []
        for engine in args.engines.split(","):
            if engine == "tf" and not has_tf:
                print("  tf    (skipped: TensorFlow is not installed for this interpreter)")
                continue
            splits += whole_split(args.python, engine, args.split, args.repeat, cwd)
    if args.json:
        args.json.write_text(json.dumps(dict(python=version, blas=kernel, repeat=args.repeat, one_digit=rows,
                                             whole_split=splits), indent=2) + "\n")


if __name__ == "__main__":
    main()
