"""Whole mnistzip processes, timed from start to file written: the runtime against the TensorFlow engine.

Each case is a fresh ``python -m mnistzip`` process (imports, model loading
and all), run ``--repeat`` times (median wall time, largest peak RSS); the
same cases run on the TensorFlow reference engine (``MNISTZIP_ENGINE=tf``)
when TensorFlow is installed, for the ratio. Also the size of the Python
environment mnistzip runs in, with and without its shipped models.

Run:  python benchmarks/cli_speed.py [--repeat 5] [--python .venv313/bin/python] [--json out.json]
Prints the figures quoted in the README ("Speed").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A small Python that runs one command and reports its peak RSS: a child forked straight from this
# process would count this process's own RSS at the fork in its peak (Linux keeps it across exec).
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def cases(split: str) -> list[tuple[str, list[str], int]]:
    """(name, mnistzip arguments, digits) in the order they run: each reads what an earlier one wrote."""
    count = 10_000 if split == "mnist:test" else _count(split)
    return [
        ("--help", ["--help"], 0),
        ("compress one digit", ["compress", "mnist:test:7", "-o", "one.mz", "--force"], 1),
        ("decompress one digit", ["decompress", "one.mz", "-o", "one.png", "--force"], 1),
        (f"compress {split}", ["compress", split, "-o", "all.mz", "--force"], count),
        (f"decompress {split} (.npy)", ["decompress", "all.mz", "-o", "all.npy", "--force"], count),
    ]


def _count(reference: str) -> int:
    first, _, last = reference.rsplit(":", 1)[1].partition("-")
    return int(last or first) - int(first) + 1


def run_once(python: str, args: list[str], cwd: Path, engine: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one process; a failure stops the benchmark with its message."""
    env = dict(os.environ, MNISTZIP_ENGINE=engine)
    started = time.perf_counter()
    proc = subprocess.run([python, "-c", MEASURE, python, "-m", "mnistzip", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    *err, peak_kb = proc.stderr.strip().splitlines()
    if proc.returncode != 0:
        sys.exit(f"mnistzip {' '.join(args)} ({engine}) failed: {err[-1] if err else proc.returncode}")
    return seconds, int(peak_kb) / 1024


def measure(python: str, engine: str, split: str, repeat: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, args, digits in cases(split):
            runs = [run_once(python, args, Path(tmp), engine) for _ in range(repeat)]
            wall = statistics.median(r[0] for r in runs)
            rows.append(dict(case=name, engine=engine, seconds=round(wall, 3),
                             peak_rss_mb=round(max(r[1] for r in runs)),
                             digits_per_s=round(digits / wall) if digits > 1 else None))
            print(f"  {engine:5} {name:34} {wall:7.3f} s  {rows[-1]['peak_rss_mb']:5d} MB"
                  + (f"  {rows[-1]['digits_per_s']:,} digits/s" if rows[-1]["digits_per_s"] else ""), flush=True)
    return rows


def environment(python: str) -> dict:
    """The interpreter's environment on disk: everything, and without mnistzip's shipped models."""
    code = ("import sys, sysconfig, mnistzip.zoo as z; "
            "print(sys.prefix); print(sysconfig.get_paths()['purelib']); print(z.models_dir())")
    prefix, purelib, models = subprocess.run([python, "-c", code], capture_output=True, text=True,
                                             check=True).stdout.split()
    total, models_size = _size(Path(prefix)), _size(Path(models))
    has_tf = subprocess.run([python, "-c", "import tensorflow"], capture_output=True).returncode == 0
    return dict(python=python, prefix=prefix, mb=round(total / 2**20), mb_without_models=round((total - models_size) / 2**20),
                models_mb=round(models_size / 2**20), tensorflow=has_tf)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose mnistzip runs")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median wall time)")
    parser.add_argument("--split", default="mnist:test", help="the whole-split case's digits (mnist:test:0-999, ...)")
    parser.add_argument("--engines", default="numpy,tf", help="engines to time (tf is skipped without TensorFlow)")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()

    env = environment(args.python)
    print(f"{env['python']}: {env['mb']} MB on disk, {env['mb_without_models']} MB without the models "
          f"({env['models_mb']} MB); TensorFlow {'installed' if env['tensorflow'] else 'not installed'}")
    rows = []
    for engine in args.engines.split(","):
        if engine == "tf" and not env["tensorflow"]:
            print("  tf    (skipped: TensorFlow is not installed for this interpreter)")
            continue
        rows += measure(args.python, engine, args.split, args.repeat)
    by = {(r["engine"], r["case"]): r for r in rows}
    for name, _, _ in cases(args.split):
        if ("numpy", name) in by and ("tf", name) in by:
            print(f"  {name:40} the runtime is {by[('tf', name)]['seconds'] / by[('numpy', name)]['seconds']:5.1f}x "
                  "faster than TensorFlow")
    if args.json:
        args.json.write_text(json.dumps(dict(environment=env, runs=rows, repeat=args.repeat), indent=2) + "\n")


if __name__ == "__main__":
    main()
