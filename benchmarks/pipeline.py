"""The Beam pipeline against the plain CLI: digits/s with 1 and 2 workers, and what the pipeline costs on top.

Two inputs, each timed as whole processes (imports, model loading, Beam's
start and all), ``--repeat`` times (median wall time):

- ``mnist:train`` (60,000 digits from one IDX file): coding dominates;
- a folder of ``--pngs`` PNG digits written by this script: reading dominates.

Each runs as ``mnistzip compress --fast INPUT -o x.mz`` (one process, one stream)
and as ``python -m mnistzip.pipeline compress`` on the DirectRunner with 1
and with 2 worker processes (``--direct_running_mode multi_processing``),
``--shard-size`` digits per shard. Every run's digits are checked to decode
to the CLI's pixels (the shards, in manifest order, against the CLI's file).

Every job codes with ``--fast`` (rounding, not the default search), so that the
figures show what the pipeline itself costs: the search costs both the same per
digit (``benchmarks/rd.py``).

With ``--large N``, one more job: an ``.npy`` of N digits (the training split
over and over) through the pipeline with 2 workers and the default shard size,
once, for its wall time, the largest resident memory of any of its processes,
and a check that the manifest names every row once.

Run:  python benchmarks/pipeline.py [--repeat 3] [--pngs 10000] [--large 1000000] [--json out.json]
Prints the figures quoted in docs/scale.md ("Batch compression on Apache Beam").
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

import machine  # benchmarks/machine.py

machine.unset_forced()  # before NumPy loads; the timed processes inherit it

import numpy as np  # noqa: E402


# Runs a command and reports the largest peak RSS among the processes it waited for (Beam's workers included).
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def timed(args: list[str], cwd: Path) -> float:
    """Wall seconds of one process; exit 3 (dead letters) would be a failed benchmark too."""
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {(proc.stderr.strip().splitlines() or [proc.returncode])[-1]}")
    return seconds


def write_pngs(folder: Path, count: int) -> None:
    from PIL import Image

    from mnistzip import mnist

    folder.mkdir()
    digits = mnist.images("train")[:count]
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(folder / f"{i:06d}.png")


def same_pixels(prefix: Path, reference: Path) -> bool:
    """The pipeline's shards, in manifest order, decode to the pixels of the CLI's one file."""
    from mnistzip import container, zoo

    codec = zoo.load()
    want = codec.decompress(container.read(reference))
    lines = [json.loads(line) for line in Path(f"{prefix}.manifest.jsonl").read_text().splitlines()]
    shards = {name: codec.decompress(container.read(prefix.parent / name)) for name in {m["shard"] for m in lines}}
    got = np.stack([shards[m["shard"]][m["index"]] for m in lines])
    return got.shape == want.shape and bool((got == want).all())


def measure(label: str, source: str, digits: int, work: Path, args) -> list[dict]:
    rows = []
    python = sys.executable
    cli_times = []
    for k in range(args.repeat):
        cli_times.append(timed([python, "-m", "mnistzip", "compress", "--fast", source, "-o", "cli.mz", "--force"],
                               work))
    cli = statistics.median(cli_times)
    rows.append(dict(input=label, how="mnistzip compress", workers=1, seconds=round(cli, 2),
                     digits_per_s=round(digits / cli)))
    for workers in (1, 2):
        times = []
        for k in range(args.repeat):
            out = work / f"w{workers}-{k}"
            out.mkdir()
            times.append(timed([python, "-m", "mnistzip.pipeline", "compress", "--fast", "--input", source, "--output",
                                str(out / "d"), "--shard-size", str(args.shard_size),
                                f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"], work))
        if not same_pixels(work / f"w{workers}-0" / "d", work / "cli.mz"):
            sys.exit(f"{label}, {workers} workers: the shards do not decode to the CLI's pixels")
        wall = statistics.median(times)
        rows.append(dict(input=label, how="pipeline", workers=workers, seconds=round(wall, 2),
                         digits_per_s=round(digits / wall), overhead_s=round(wall - cli, 2)))
    for row in rows:
        extra = f"  {row['overhead_s']:+.2f} s against the CLI" if "overhead_s" in row else ""
        print(f"  {row['input']:28} {row['how']:18} {row['workers']} worker(s) {row['seconds']:7.2f} s "
              f"{row['digits_per_s']:8,} digits/s{extra}", flush=True)
    return rows


def large(count: int, work: Path) -> dict:
    """One job over an .npy of ``count`` digits: (seconds, peak RSS in MiB, shards, bits/digit)."""
    from mnistzip import mnist

    train = mnist.images("train")
    digits = np.lib.format.open_memmap(work / "large.npy", mode="w+", dtype=np.uint8, shape=(count, 28, 28))
    for start in range(0, count, len(train)):
        digits[start:start + len(train)] = train[: count - start]
    digits.flush()
    del digits
    (work / "large").mkdir()
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "mnistzip.pipeline", "compress",
                           "--fast", "--input", str(work / "large.npy"), "--output", str(work / "large" / "d"),
                           "--direct_num_workers=2", "--direct_running_mode=multi_processing"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    *err, peak_kb = proc.stderr.strip().splitlines()
    if proc.returncode != 0:
        sys.exit(f"the large job failed: {err[-1] if err else proc.returncode}")
    rows = set()
    with open(work / "large" / "d.manifest.jsonl") as f:
        for line in f:
            rows.add(int(json.loads(line)["source"].rsplit(":", 1)[1]))
    if rows != set(range(count)):
        sys.exit(f"the large job's manifest names {len(rows):,} rows of {count:,}")
    summary = json.loads((work / "large" / "d.summary.json").read_text())
    row = dict(input=f".npy of {count:,} digits", how="pipeline", workers=2, seconds=round(seconds, 1),
               digits_per_s=round(count / seconds), peak_rss_mb=round(int(peak_kb) / 1024),
               shards=summary["shards"], bits_per_digit=summary["bits_per_digit"])
    print(f"  {row['input']:28} pipeline           2 worker(s) {seconds:7.1f} s {row['digits_per_s']:8,} digits/s  "
          f"peak RSS {row['peak_rss_mb']:,} MiB, {row['shards']} shards", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    parser.add_argument("--pngs", type=int, default=10_000, help="PNG digits in the folder case (0: skip it)")
    parser.add_argument("--train", type=int, default=60_000, help="digits of mnist:train in the first case")
    parser.add_argument("--shard-size", type=int, default=2_500, help="digits per shard")
    parser.add_argument("--large", type=int, default=0, help="digits in the one large job (0: skip it)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    if not os.environ.get("MNISTZIP_DATA_DIR"):
        sys.exit("set MNISTZIP_DATA_DIR to the MNIST IDX files (../shared/mnist)")
    os.environ["MNISTZIP_DATA_DIR"] = str(Path(os.environ["MNISTZIP_DATA_DIR"]).resolve())  # the runs' cwd is a temp
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"{machine.describe()}; {args.shard_size:,} digits per shard; median of {args.repeat}", flush=True)
        (work / "train").mkdir()
        rows += measure(f"mnist:train ({args.train:,} digits)", f"mnist:train:0-{args.train - 1}", args.train,
                        work / "train", args)
        if args.pngs:
            write_pngs(work / "pngs", args.pngs)
            (work / "png-run").mkdir()
            rows += measure(f"folder of {args.pngs:,} PNGs", str(work / "pngs"), args.pngs, work / "png-run", args)
        if args.large:
            rows.append(large(args.large, work))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
