"""Where the time goes when the MNIST test split is compressed and decompressed, against the floor BLAS sets.

Each stage of compressing and decompressing the shipped test split (10,000
digits, or ``--limit``) at the default quality (or ``--rung``) is timed on
its own, in this process on the NumPy runtime, as the median of ``--repeat``
runs: start-up (Python with NumPy, then mnistzip's imports, the model and one
digit each way, in fresh processes), reading, the analysis transform, the
prior (quantisation and table choice), the batch-invariance guard (digits
near a rounding edge analysed again in float64), range coding, range
decoding with the prior, the synthesis transform, and writing (the ``.npy``,
and PNGs of 100 digits).

The floor (issue 31): the transforms' multiply-adds, counted from their
layers' matrices, give the GFLOP/s each transform reaches, beside what
OpenBLAS reaches on each layer's product alone (a batch of
``runtime.BATCH`` digits) and on a large square product, the machine's peak
on one thread; and the seconds the transforms would take at either speed.

BLAS runs on one thread, as the command line runs it (``mnistzip.blas``), and
batches run side by side on the cores, as the commands run them
(``blas.map_batches``): the prior, the synthesis and ``coding_of``; the
analysis row is the encoder alone on one thread.
This machine's environment forces ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which slow a current NumPy: they are unset here before
NumPy loads, as on a user's machine, and the kernel that ran is printed.

Run:  python benchmarks/stages.py [--rung N] [--limit 10000] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import machine  # noqa: E402  (benchmarks/machine.py)

machine.unset_forced()
os.environ.pop("MNISTZIP_DATA_DIR", None)  # the shipped test split, as on a fresh install

from mnistzip.blas import one_thread  # noqa: E402

one_thread()  # before NumPy loads, as the command line does

import numpy as np  # noqa: E402

from mnistzip import codec as codecs  # noqa: E402
from mnistzip import blas as threads_of, layers, mnist, output, zoo  # noqa: E402
from mnistzip.runtime import BATCH  # noqa: E402

SPLIT = 10_000
TARGET = 10_000  # digits/s, compress and decompress (issue 31)
PNG_DIGITS = 100
PEAK_SIDE = 1024  # the square product that measures the machine's peak
WORKERS = max(1, threads_of.cores() // threads_of.threads())  # the threads blas.map_batches runs batches on
STAGES = {  # JSON key: what the line says
    "startup_python": "start-up: Python + NumPy",
    "startup_mnistzip": "start-up: mnistzip, model, 1 digit",
    "reading": "reading (shipped test split)",
    "analysis": "analysis (float32, one thread)",
    "prior": "prior (quantisation, tables)",
    "guard": "guard ({near} digits again, float64)",
    "range_coding": "range coding",
    "range_decoding": "range decoding + prior",
    "synthesis": "synthesis (float32, {workers} threads)",
    "writing_npy": "writing .npy",
}
COMPRESS = ("reading", "coding_of", "range_coding")
DECOMPRESS = ("range_decoding", "synthesis", "writing_npy")


# --------------------------------------------------------------------------- the machine


def gflops(work, flops: float) -> float:
    """GFLOP/s of ``work()`` (``flops`` a call): the median of 5 timings of enough calls to take ~20 ms."""
    work()
    start = time.perf_counter()
    work()
    calls = max(1, round(0.02 / max(time.perf_counter() - start, 1e-6)))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            work()
        times.append((time.perf_counter() - start) / calls)
    return flops / statistics.median(times) / 1e9


def peak() -> dict:
    """GFLOP/s of sgemm and dgemm on a large square product: the machine's peak on this BLAS and thread count.
    Measured before and after the stages, the better taken: another process's load lowers it for a while."""
    rng = np.random.default_rng(0)
    found = {}
    for name, dtype in (("sgemm", np.float32), ("dgemm", np.float64)):
        a, b = (rng.random((PEAK_SIDE, PEAK_SIDE)).astype(dtype) for _ in range(2))
        found[name] = gflops(functools.partial(np.matmul, a, b), 2 * PEAK_SIDE**3)
    return found


# --------------------------------------------------------------------------- the stages


def timed(work, repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` calls of ``work()``, and what the last returned."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def startup(rung: int | None, repeat: int) -> tuple[float, float]:
    """(Python with NumPy, what mnistzip adds: its imports, the model read and checked, one digit compressed and
    decompressed), each a fresh process, paired in every round: the medians."""
    first = (f"import numpy as np, mnistzip.zoo; c = mnistzip.zoo.load(rung={rung!r}); "
             "c.decompress(c.compress(np.zeros((1, 28, 28), np.uint8)))")
    rounds = [(_process("import numpy"), _process(first)) for _ in range(repeat)]
    return statistics.median(b for b, _ in rounds), statistics.median(m - b for b, m in rounds)


def _process(code: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{code!r} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start


def read(limit: int):
    """The first ``limit`` digits of the shipped test split, read afresh (its digest checked, inflated, parsed)."""
    mnist._whole.cache_clear()
    mnist._shipped_bytes.cache_clear()
    return mnist.images("test", rows=slice(0, limit))


def near_edge(codec, latents: np.ndarray, coded: np.ndarray) -> np.ndarray:
    """The digits ``coding_of`` analyses again: a float32 latent within ``codec.EDGE`` of a rounding edge."""
    return np.flatnonzero(np.abs(latents.astype(np.float64) - coded).max(axis=1, initial=0) > 0.5 - codecs.EDGE)


def guard(codec, images: np.ndarray, latents: np.ndarray, near: np.ndarray):
    """The guard's own work in ``coding_of``: the digits near an edge analysed in float64, their prior run again."""
    exact = latents[near].copy()
    exact[:, int(codec.codes_class):] = codec.engine.analyse_exact(images[near], codec._q)
    return codec.coding(exact)


def stages(codec, limit: int, repeat: int) -> tuple[dict, int]:
    """Median seconds of each in-process stage (and of ``coding_of``, which holds analysis, prior and guard),
    and how many digits the guard analysed again."""
    engine, q = codec.engine, codec._q
    t = {}
    t["reading"], images = timed(lambda: read(limit), repeat)
    codec.decompress(codec.compress(images[:1]))  # warm: transforms built, tables parsed (start-up's)
    engine.analyse_exact(images[:2], q)  # the guard's float64 transform, built once
    t["analysis"], latents = timed(lambda: codec.latents(images), repeat)
    t["prior"], (coded, _, _) = timed(lambda: codec.coding(latents), repeat)
    near = near_edge(codec, latents, coded)
    t["guard"], _ = timed(lambda: guard(codec, images, latents, near), repeat)
    t["coding_of"], (_, coded, rows, symbols) = timed(lambda: codec.coding_of(images), repeat)
    t["range_coding"], payload = timed(lambda: engine.encode_coded(coded, rows, symbols, q), repeat)
    t["range_decoding"], decoded = timed(lambda: codec.decode_latents(payload, len(images)), repeat)
    t["synthesis"], digits = timed(lambda: codec.synthesize(decoded), repeat)
    t["writing_npy"], _ = timed(lambda: np.save(io.BytesIO(), digits), repeat)
    t["writing_png"], _ = timed(lambda: [output.png_bytes(d) for d in digits[:PNG_DIGITS]], repeat)
    return t, len(near)


# --------------------------------------------------------------------------- the floor


def products(ops, size: int) -> list[tuple[object, int]]:
    """(op, rows per digit of its matrix product) of each layer, as ``layers.run`` runs the transform on
    ``size`` x ``size`` inputs: a convolution's windows, a transposed one's input pixels, a dense layer's one row
    (after which a convolution gets the seed's 7 x 7 map)."""
    found = []
    for op, _ in ops:
        if isinstance(op, layers.Dense):
            rows, size = 1, layers.RESHAPE[0]
        elif isinstance(op, layers.Conv):
            size = -(-size // op.stride)
            rows = size * size
        else:
            rows, size = size * size, size * op.stride
        found.append((op, rows))
    return found


def product_speed(op, rows: int) -> float:
    """GFLOP/s of a layer's matrix product alone, on ``BATCH`` digits, in the orientation the layer runs it."""
    k, n = op.matrix.shape
    x = np.random.default_rng(0).random((BATCH * rows, k)).astype(np.float32)

    def work():
        if isinstance(op, layers.Dense):
            return x @ op.matrix
        if isinstance(op, layers.ConvTranspose) and not op.phases:
            return op.matrix.T @ x.T  # every tap of every input pixel
        return layers._product(x, op.matrix)

    return gflops(work, 2 * BATCH * rows * k * n)


def floor(ops, size: int, seconds: float, digits: int, sgemm: float, threads: int) -> dict:
    """A transform's multiply-adds per digit, the GFLOP/s it reached in ``seconds`` on ``threads`` threads, each
    layer's product alone (one thread), and the seconds the transform would take on those threads at each layer's
    own speed and at the machine's one-thread peak."""
    shown = []
    for op, rows in products(ops, size):
        k, n = op.matrix.shape
        shown.append(dict(layer=type(op).__name__, gemm=f"({rows}N, {k}) @ ({k}, {n})", macs=rows * k * n,
                          gflops=product_speed(op, rows)))
    flops = 2 * digits * sum(s["macs"] for s in shown)
    return dict(macs_per_digit=sum(s["macs"] for s in shown), seconds=seconds, gflops=flops / seconds / 1e9,
                threads=threads, at_layer_speeds_s=sum(2 * digits * s["macs"] / (s["gflops"] * 1e9) for s in shown)
                / threads, at_peak_s=flops / (sgemm * 1e9) / threads, layers=shown)


# --------------------------------------------------------------------------- the report


def report(t: dict, near: int, digits: int) -> None:
    total = sum(t[key] for key in STAGES)
    print(f"\n{'stage':40} {'seconds':>8} {'ms/1000 digits':>15} {'share':>6}")
    for key, label in STAGES.items():
        print(f"  {label.format(near=near, workers=WORKERS):38} {t[key]:8.3f} {t[key] / digits * 1e6:15.1f} {t[key] / total:6.1%}")
    print(f"  {'total':38} {total:8.3f} {total / digits * 1e6:15.1f}")
    png = t["writing_png"]
    print(f"  {f'writing PNG, {PNG_DIGITS} digits (not in total)':38} {png:8.3f} {png / PNG_DIGITS * 1e6:15.1f}")
    print(f"  coding_of (analysis, prior and guard, as compress runs them: batches on {WORKERS} threads) "
          f"{t['coding_of']:.3f} s")


def report_floor(transforms: dict, best: dict, before: dict, after: dict, digits: int) -> None:
    print(f"\npeak on one thread ({PEAK_SIDE}x{PEAK_SIDE} product, the better of before and after the stages): "
          + ", ".join(f"{name} {best[name]:.1f} GFLOP/s ({before[name]:.1f}, {after[name]:.1f})" for name in best))
    for name, f in transforms.items():
        print(f"{name}: {f['macs_per_digit'] / 1e6:.2f} M multiply-adds a digit, {f['gflops']:.1f} GFLOP/s on "
              f"{f['threads']} thread(s) ({f['gflops'] / best['sgemm'] / f['threads']:.0%} of sgemm's peak on as many)")
        for s in f["layers"]:
            print(f"  {s['layer']:14} {s['gemm']:28} {s['macs'] / 1e3:7.0f} k MACs  alone {s['gflops']:6.1f} GFLOP/s")
        print(f"  floor for {digits:,} digits: {f['at_peak_s']:.3f} s at peak, {f['at_layer_speeds_s']:.3f} s "
              f"at the layers' own speeds; measured {f['seconds']:.3f} s ({f['seconds'] / f['at_peak_s']:.1f}x peak)")


def throughput(t: dict, digits: int) -> dict:
    """Digits/s of compress and decompress: the stages in this process, and as one process with its start-up."""
    start = t["startup_python"] + t["startup_mnistzip"]
    rates = {}
    for name, keys in (("compress", COMPRESS), ("decompress", DECOMPRESS)):
        seconds = sum(t[key] for key in keys)
        rates[name] = dict(stages=round(digits / seconds), process=round(digits / (seconds + start)))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rung", type=int, help="a rung of the quality ladder (default: the shipped default)")
    parser.add_argument("--limit", type=machine.count, default=SPLIT, help="the first N digits of the test split")
    parser.add_argument("--repeat", type=int, default=5, help="runs per stage (median)")
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()
    if not 1 <= args.limit <= SPLIT or args.repeat < 1:
        parser.error(f"--limit must be 1 to {SPLIT} and --repeat at least 1")

    codec = zoo.load(rung=args.rung)
    ran_on = dict(python=platform.python_version(), numpy=np.__version__, cpu=machine.cpu(), cores=os.cpu_count(),
                  blas=machine.blas(), openblas_num_threads=os.environ.get("OPENBLAS_NUM_THREADS"))
    print(f"Python {ran_on['python']}, NumPy {ran_on['numpy']}; {ran_on['cpu']}, {ran_on['cores']} cores")
    print(f"BLAS: {ran_on['blas']} (OPENBLAS_NUM_THREADS={ran_on['openblas_num_threads']}); "
          f"{', '.join(machine.FORCED)} unset")
    print(f"{codec.name} ({codec.id}); {args.limit:,} digits of the test split; median of {args.repeat}")

    before = peak()
    t, near = stages(codec, args.limit, args.repeat)
    t["startup_python"], t["startup_mnistzip"] = startup(args.rung, args.repeat)
    report(t, near, args.limit)

    after = peak()
    machine_peak = {name: max(before[name], after[name]) for name in before}
    transforms = {name: floor(ops, size, t[name], args.limit, machine_peak["sgemm"], threads)
                  for name, ops, size, threads in (("analysis", codec.engine._analysis, mnist.SIDE, 1),
                                                   ("synthesis", codec.engine._synthesis, None, WORKERS))}
    report_floor(transforms, machine_peak, before, after, args.limit)

    rates = throughput(t, args.limit)
    print(f"\ndigits/s (target {TARGET:,}): " + "; ".join(
        f"{name} {r['stages']:,} in-process, {r['process']:,} with start-up" for name, r in rates.items()))
    if args.json:
        args.json.write_text(json.dumps(dict(ran_on, model=codec.name, model_id=codec.id, digits=args.limit,
                                             repeat=args.repeat, near_edge=near, seconds=t,
                                             peak=dict(machine_peak, before=before, after=after),
                                             transforms=transforms, digits_per_s=rates, target=TARGET), indent=2)
                             + "\n")


if __name__ == "__main__":
    main()
