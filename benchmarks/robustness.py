"""Robustness figures: fuzzed files, bit flips, bad inputs and the messages they get.

    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/robustness.py [--files 100000] [--cli 300]

Prints files fuzzed, uncaught exceptions, runs over 1 s, peak memory, bit flips
detected / tried, and writes docs/robustness.md with every bad input tried and
the message it gets. Uses the shipped default model on the engine mnistzip
would use (the NumPy runtime unless MNISTZIP_ENGINE=tf). Files are decoded
in-process, one after another, with nothing to cut a decode off: a run over
1 s is a finding (the target is none), and each such file, and each that
raised an uncaught exception, is saved for reproduction.
"""

from __future__ import annotations

import argparse
import gzip
import random
import os
import resource
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnistzip import codec as codec_mod  # noqa: E402
from mnistzip import catalogue, container, mnist, zoo  # noqa: E402
from mnistzip import fuzz as fuzz_mod  # noqa: E402
from mnistzip.errors import MnistzipError  # noqa: E402

HANG_SECONDS = 1.0  # a decode slower than this is a finding


def sample_files(codec, count: int = 100) -> list[bytes]:
    """``count`` .mz files: half one-digit, half archives of 2-200 digits."""
    digits = mnist.images("test")
    rng = np.random.default_rng(0)
    files = []
    for k in range(count):
        n = 1 if k % 2 == 0 else int(rng.integers(2, 201))
        start = int(rng.integers(0, len(digits) - n))
        files.append(container.dumps(codec.compress(digits[start : start + n])))
    return files


def decode_all(blobs, codec=None) -> dict:
    """Parse and decode every blob (any iterable) in this process, as ``mnistzip decompress`` would: outcome counts, the
    slowest, and the blobs that took over ``HANG_SECONDS`` or raised an uncaught exception (findings)."""
    codec = codec or zoo.load()
    outcomes, seconds, findings = [], [], []
    for blob in blobs:
        started = time.perf_counter()
        try:
            fuzz_mod.decode(codec, blob)
            outcome = "decoded"
        except MnistzipError as e:
            outcome = type(e).__name__
        except Exception as e:  # noqa: BLE001 - this is what we count
            outcome = "uncaught"
            print(f"  uncaught {type(e).__name__}: {e}", file=sys.stderr)
        elapsed = time.perf_counter() - started
        outcomes.append(outcome)
        seconds.append(elapsed)
        if outcome == "uncaught" or elapsed > HANG_SECONDS:
            findings.append((outcome, elapsed, blob))
            print(f"  finding: {outcome} in {elapsed:.2f} s ({len(blob)} bytes)", file=sys.stderr, flush=True)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return dict(counts=counts, slowest_s=max(seconds), hangs=sum(t > HANG_SECONDS for t in seconds),
                outcomes=outcomes, findings=findings)


def peak_rss_mb() -> float:
    """This process's peak RSS so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save_findings(findings: list, label: str) -> Path | None:
    """Write each finding's file to a fresh folder (printed) for reproduction; None when there are none."""
    if not findings:
        return None
    folder = Path(tempfile.mkdtemp(prefix=f"mnistzip-{label}-findings-"))
    for k, (outcome, seconds, blob) in enumerate(findings):
        (folder / f"{k:03d}-{outcome}-{seconds:.1f}s.mz").write_bytes(blob)
    print(f"  {len(findings)} finding(s) saved in {folder}: reproduce with "
          f"`{sys.executable} -m mnistzip decompress FILE -o out.npy`", flush=True)
    return folder


def fuzz(files: list[bytes], count: int) -> dict:
    """Parse and decode ``count`` mutated files in-process (see :func:`decode_all`)."""
    rng = random.Random(1)
    result = decode_all(fuzz_mod.mutate(rng.choice(files), rng, files) for _ in range(count))
    counts = dict(result["counts"])
    decoded, uncaught = counts.pop("decoded", 0), counts.pop("uncaught", 0)
    return dict(fuzzed=count, uncaught=uncaught, hangs=result["hangs"], slowest_s=result["slowest_s"], decoded=decoded,
                errors=counts, findings=save_findings(result["findings"], "fuzz"))


def bit_flips(files: list[bytes]) -> dict:
    """Every single-bit flip of every file, decoded in-process: how many are reported as corrupt."""
    result = decode_all(bad for blob in files for bad in fuzz_mod.single_bit_flips(blob))
    outcomes = result["outcomes"]
    return dict(detected=sum(o not in ("decoded", "uncaught") for o in outcomes), tried=len(outcomes),
                uncaught=result["counts"].get("uncaught", 0), hangs=result["hangs"], slowest_s=result["slowest_s"],
                findings=save_findings(result["findings"], "bitflip"))


def cli_runs(files: list[bytes], count: int) -> dict:
    """`mnistzip info` as a real process, and `decompress` through the CLI in-process, on mutated files."""
    from typer.testing import CliRunner

    from mnistzip.cli import app

    rng = random.Random(2)
    runner = CliRunner()
    bad_exit = tracebacks = multi_line = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(count):
            path = Path(tmp) / f"f{k}.mz"
            path.write_bytes(fuzz_mod.mutate(rng.choice(files), rng, files))
            if k % 3 == 0:
                proc = subprocess.run([sys.executable, "-m", "mnistzip", "info", str(path)], capture_output=True, text=True)
                code, err = proc.returncode, proc.stderr
            else:
                r = runner.invoke(app, ["decompress", str(path), "-o", str(Path(tmp) / f"f{k}.npy")])
                code, err = r.exit_code, r.stderr
            bad_exit += code not in (0, 4, 5)
            tracebacks += "Traceback" in err
            multi_line += len(err.strip().splitlines()) > 1
    return dict(cli_runs=count, unexpected_exit=bad_exit, tracebacks=tracebacks, multi_line_errors=multi_line)


def tiled_file(codec, count: int) -> bytes:
    """A valid .mz of ``count`` digits (the test split repeated), coded without ``count``-sized activations.

    Each digit's symbols (and, for a conditional prior, table indices) depend on
    that digit alone, so they are computed once for the 10,000 test digits, tiled,
    and range-coded in one stream (``rangecoder``, dimension-major for
    conditional and class-coding models): what ``codec.compress`` of the tiled digits writes
    (checked on the first 10,000).
    """
    from mnistzip import rangecoder

    digits = mnist.images("test")
    _, _, rows, symbols = codec.coding_of(digits)
    values = symbols - codec.tables.cdf_offset[rows]
    reps = -(-count // len(digits))

    def encode(n):
        r, v = np.tile(rows, (reps, 1))[:n], np.tile(values, (reps, 1))[:n]
        if codec.dimension_major:
            return rangecoder.encode(v.T, codec.tables.cdf, index=r.T)
        return rangecoder.encode(v, codec.tables.cdf)

    assert encode(len(digits)) == codec.compress(digits).payload
    return container.dumps(container.MzFile(codec.id, count, encode(count)))


# A small Python that starts mnistzip and reports its peak RSS: a child forked straight from this process
# would count this process's own RSS at the fork in its peak (Linux keeps the high-water mark across exec).
MEASURE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(r.returncode)")


def measured_run(args: list[str], cwd: Path) -> dict:
    """One mnistzip process: exit status, last stderr line, wall seconds, peak RSS (MB)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "mnistzip", *args], cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    *err, peak_kb = proc.stderr.strip().splitlines()
    return dict(args=" ".join(args), exit=proc.returncode, message=err[-1] if err else "",
                seconds=time.perf_counter() - started, peak_rss_mb=int(peak_kb) / 1024)


def large_counts(count: int, folder_count: int) -> list[dict]:
    """The largest files the format allows, decoded by the CLI to every kind of output, in fresh processes."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for label, quality in (("default", None), ("q1", 1)):
            codec = zoo.load(rung=quality)
            (t / f"{label}.mz").write_bytes(tiled_file(codec, count))
            (t / f"{label}-folder.mz").write_bytes(tiled_file(codec, folder_count))
            garbage = np.random.default_rng(0).bytes(codec.min_payload_bytes(count) + 64)
            (t / f"{label}-garbage.mz").write_bytes(container.dumps(container.MzFile(codec.id, count, garbage)))
            crafted = np.random.default_rng(1).bytes(140_000)
            (t / f"{label}-crafted.mz").write_bytes(container.dumps(container.MzFile(codec.id, count, crafted)))
            cases = [
                (f"{label}: {count:,} digits → .npy", ["decompress", f"{label}.mz", "-o", f"{label}.npy"]),
                (f"{label}: {folder_count:,} digits → folder", ["decompress", f"{label}-folder.mz", "-o", f"{label}-d"]),
                (f"{label}: {count:,} digits → grid PNG", ["decompress", f"{label}.mz", "-o", f"{label}.png"]),
                (f"{label}: {count:,} digits of random payload (at the lower bound) → .npy",
                 ["decompress", f"{label}-garbage.mz", "-o", f"{label}-g.npy"]),
                (f"{label}: {count:,} digits in a crafted 140 KB file", ["decompress", f"{label}-crafted.mz", "-o",
                                                                        f"{label}-c.npy"]),
            ]
            for name, args in cases:
                row = dict(case=name, **measured_run(args, t))
                print(f"  {name}: exit {row['exit']}, {row['seconds']:.1f} s, peak RSS {row['peak_rss_mb']:.0f} MB"
                      f"{'  ' + row['message'] if row['message'] else ''}", flush=True)
                rows.append(row)
                for p in t.glob(f"{label}-d"):
                    shutil.rmtree(p)
    return rows


def pixel_bombs() -> list[dict]:
    """Images that cost much to decode for their size, compressed by the CLI in fresh processes."""
    from PIL import Image

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        Image.new("1", (9400, 9400)).save(t / "pixels.png")
        photo = np.full((6000, 8000), 230, np.uint8)
        photo[1500:4500, 3800:4300] = 20  # a dark stroke on paper: a phone photo of a "1"
        Image.fromarray(photo).convert("RGB").save(t / "photo.jpg", quality=90)
        Image.fromarray(photo).save(t / "photo.png")
        for name, file in (("1-bit PNG, 9400x9400 (88 MP)", "pixels.png"), ("JPEG photo 8000x6000 (48 MP)", "photo.jpg"),
                           ("PNG photo 8000x6000 (48 MP)", "photo.png")):
            row = dict(case=name, bytes=(t / file).stat().st_size,
                       **measured_run(["compress", file, "-o", f"{file}.mz"], t))
            print(f"  {name}: exit {row['exit']}, {row['seconds']:.1f} s, peak RSS {row['peak_rss_mb']:.0f} MB"
                  f"{'  ' + row['message'] if row['message'] else ''}", flush=True)
            rows.append(row)
    return rows


def bad_inputs_table() -> list[tuple[str, str, int]]:
    """Run `mnistzip` on each bad input; return (input, message, exit status)."""
    from PIL import Image
    from typer.testing import CliRunner

    from mnistzip.cli import app

    runner = CliRunner()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        digit = np.zeros((40, 30), np.uint8)
        digit[8:32, 12:18] = 255
        Path(t / "empty.png").write_bytes(b"")
        (t / "folder").mkdir()
        (t / "notes.png").write_text("not an image")
        Image.fromarray(digit).save(t / "full.png")
        (t / "truncated.png").write_bytes((t / "full.png").read_bytes()[:50])
        Image.fromarray(np.zeros((1, 1), np.uint8)).save(t / "one-pixel.png")
        Image.fromarray(digit).save(t / "bomb.png")
        blob = bytearray((t / "bomb.png").read_bytes())
        blob[16:24] = struct.pack(">II", 10000, 10000)
        blob[29:33] = struct.pack(">I", zlib.crc32(bytes(blob[12:29])))
        (t / "bomb.png").write_bytes(bytes(blob))
        Image.fromarray(np.zeros((28, 28), np.uint8)).resize((50, 50)).save(t / "blank.png")
        Image.fromarray(digit.astype(np.uint16) * 257).save(t / "sixteen-bit.png")
        Image.fromarray(digit).convert("P").save(t / "palette.png")
        Image.fromarray(digit).convert("CMYK").save(t / "cmyk.jpg")
        frames = [Image.fromarray(digit), Image.fromarray(255 - digit)]
        frames[0].save(t / "animated.gif", save_all=True, append_images=frames[1:])
        (t / "mnist-bad").mkdir()
        (t / "mnist-bad" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + bytes(12)))
        (t / "mnist-short").mkdir()
        (t / "mnist-short" / "t10k-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, 10000, 28, 28) + bytes(99))
        Image.new("1", (9400, 9400)).save(t / "pixels.png")  # 79 KB on disk, 88 megapixels
        (t / "ghost.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
        (t / "mine").mkdir()
        (t / "mine" / "notes.txt").write_text("precious")
        runner.invoke(app, ["compress", str(t / "full.png"), "-o", str(t / "archive.png")])
        default_id = catalogue.default_rung().id
        (t / "big.mz").write_bytes(fuzz_mod.with_crc(b"\x89Z\x01" + bytes.fromhex(default_id) + b"\x80\x80\x40" + bytes(16)))
        (t / "plain").write_text("a file without suffix")
        cases = [
            ("empty file", ["compress", str(t / "empty.png"), "-o", str(t / "o.mz")]),
            ("a directory with no images", ["compress", str(t / "folder"), "-o", str(t / "o.mz")]),
            ("a text file named .png", ["compress", str(t / "notes.png"), "-o", str(t / "o.mz")]),
            ("a truncated PNG", ["compress", str(t / "truncated.png"), "-o", str(t / "o.mz")]),
            ("a 1x1 image", ["compress", str(t / "one-pixel.png"), "-o", str(t / "o.mz")]),
            ("a blank 50x50 image (a blank digit, with a note)", ["compress", str(t / "blank.png"), "-o", str(t / "o0.mz")]),
            ("a PNG claiming 10000x10000 (decompression bomb)", ["compress", str(t / "bomb.png"), "-o", str(t / "o.mz")]),
            ("a 16-bit PNG (accepted)", ["compress", str(t / "sixteen-bit.png"), "-o", str(t / "o1.mz")]),
            ("a palette PNG (accepted)", ["compress", str(t / "palette.png"), "-o", str(t / "o2.mz")]),
            ("a CMYK JPEG (accepted)", ["compress", str(t / "cmyk.jpg"), "-o", str(t / "o3.mz")]),
            ("an animated GIF (first frame used)", ["compress", str(t / "animated.gif"), "-o", str(t / "o4.mz")]),
            ("MNIST index out of range", ["compress", "mnist:test:10000", "-o", str(t / "o.mz")]),
            ("a malformed MNIST reference", ["compress", "mnist:test:9-3", "-o", str(t / "o.mz")]),
            ("a missing data directory", ["compress", "mnist:test:0", "--data-dir", str(t / "nope"), "-o", str(t / "o.mz")]),
            ("a data directory with the wrong IDX magic", ["compress", "mnist:test:0", "--data-dir", str(t / "mnist-bad"), "-o", str(t / "o.mz")]),
            ("a short IDX file", ["compress", "mnist:test:0", "--data-dir", str(t / "mnist-short"), "-o", str(t / "o.mz")]),
            ("an existing output without --force", ["compress", str(t / "full.png"), "-o", str(t / "o1.mz")]),
            ("an output folder that does not exist", ["compress", str(t / "full.png"), "-o", str(t / "no/o.mz")]),
            ("a device as output, with --force", ["compress", str(t / "full.png"), "-o", "/dev/null", "--force"]),
            ("an .mz that is really a PNG", ["decompress", str(t / "full.png")]),
            ("a missing .mz", ["decompress", str(t / "missing.mz")]),
            ("a directory as the .mz", ["info", str(t / "folder")]),
            ("a 1-bit PNG of 9400x9400 pixels (88 MP)", ["compress", str(t / "pixels.png"), "-o", str(t / "o5.mz")]),
            ("an EPS file named .png (no Ghostscript is started)", ["compress", str(t / "ghost.png"), "-o", str(t / "o6.mz")]),
            ("an existing folder as the output, with --force", ["decompress", str(t / "archive.png"), "-o",
                                                                  str(t / "mine"), "--force"]),
            ("the input as the output, with --force", ["compress", str(t / "full.png"), "-o", str(t / "full.png"),
                                                       "--force"]),
            ("an .mz named .png, decompressed onto itself", ["decompress", str(t / "archive.png"), "--force"]),
            ("a grid PNG of 2^20 digits (header alone)", ["decompress", str(t / "big.mz"), "-o", str(t / "g.png")]),
            ("a folder output whose name is a file", ["decompress", str(t / "archive.png"), "-o", str(t / "plain"), "--force"]),
        ]
        for name, args in cases:
            r = runner.invoke(app, args)
            message = (r.stderr.strip() or r.stdout.strip()).replace(tmp + "/", "")
            rows.append((name, message, r.exit_code))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="mutated files to parse and decode in-process")
    parser.add_argument("--cli", type=int, default=300, help="mutated files through the CLI")
    parser.add_argument("--samples", type=int, default=100, help="sample files for the bit-flip run")
    parser.add_argument("--large", type=int, default=container.MAX_DIGITS, help="digits in the largest files decoded")
    parser.add_argument("--folder-count", type=int, default=1 << 18, help="digits decoded into a folder of PNGs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "robustness.md", help="the report to write")
    args = parser.parse_args()

    engine = codec_mod.engine_name()
    engine_text = ("the NumPy runtime (`MNISTZIP_ENGINE` unset)" if engine == "numpy" and not os.environ.get(codec_mod.ENGINE_ENV)
                   else f"`MNISTZIP_ENGINE={engine}`" + (" (TensorFlow, the reference engine)" if engine == "tf" else ""))
    command = "MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/robustness.py" + "".join(
        f" {shlex.quote(a)}" for a in sys.argv[1:])
    print(f"engine: {engine}")
    codec = zoo.load()
    files = sample_files(codec, args.samples)
    started = time.perf_counter()
    f = fuzz(files, args.files)
    fuzz_seconds = time.perf_counter() - started
    fuzz_peak = peak_rss_mb()
    print(f"files fuzzed (in-process parse + decode): {f['fuzzed']}  ({fuzz_seconds:.0f} s)")
    print(f"  uncaught exceptions: {f['uncaught']}, runs over {HANG_SECONDS:.0f} s: {f['hangs']}, "
          f"slowest: {f['slowest_s'] * 1000:.1f} ms")
    print(f"  reported as errors: {f['errors']}; decoded (CRC-valid garbage payloads): {f['decoded']}")
    print(f"  peak RSS of this process: {fuzz_peak:.0f} MB")
    b = bit_flips(files)
    detected, tried = b["detected"], b["tried"]
    print(f"single-bit flips of {len(files)} files: {detected} / {tried} reported as corrupt ({100 * detected / tried:.2f}%); "
          f"uncaught: {b['uncaught']}, runs over {HANG_SECONDS:.0f} s: {b['hangs']}, slowest: {b['slowest_s'] * 1000:.1f} ms")
    c = cli_runs(files, args.cli)
    print(f"CLI runs on mutated files: {c['cli_runs']}, unexpected exit codes: {c['unexpected_exit']}, "
          f"tracebacks: {c['tracebacks']}, multi-line errors: {c['multi_line_errors']}")
    print("the largest files, decoded by the CLI:")
    large = large_counts(args.large, args.folder_count)
    print("pixel bombs, compressed by the CLI:")
    bombs = pixel_bombs()
    processes = large + bombs
    worst = max(processes, key=lambda r: r["peak_rss_mb"])
    longest = max(processes, key=lambda r: r["seconds"])
    print(f"processes: peak RSS at most {worst['peak_rss_mb']:.0f} MB ({worst['case']}); "
          f"longest {longest['seconds']:.0f} s ({longest['case']})")
    rows = bad_inputs_table()
    lines = [
        "# Robustness\n",
        f"Measured on {engine_text}, shipped model {catalogue.default_rung().name}, in one run on a 2-core CPU "
        f"with counts `--files {args.files} --cli {args.cli} --samples {args.samples} --large {args.large} "
        f"--folder-count {args.folder_count}`. Reproduce:\n",
        f"    {command}\n",
        "## Figures\n",
        "| measure | result |",
        "|---|---|",
        f"| mutated files parsed and decoded in-process | {f['fuzzed']:,} |",
        f"| uncaught exceptions | {f['uncaught']} |",
        f"| runs over {HANG_SECONDS:.0f} s (target 0) | {f['hangs']} (slowest {f['slowest_s'] * 1000:.0f} ms)"
        f"{'; files saved in ' + str(f['findings']) if f['findings'] else ''} |",
        f"| peak memory (RSS) of the decoding process (this benchmark, test split loaded) | {fuzz_peak:.0f} MB |",
        f"| reported as errors | {', '.join(f'{k} {v:,}' for k, v in sorted(f['errors'].items()))} |",
        f"| decoded into digits | {f['decoded']:,}: files with a valid checksum (payload changed and the checksum recomputed, or the 1 in 65,536 damage a CRC-16 cannot see) |",
        f"| single-bit flips of {len(files)} files reported as corrupt | {detected:,} / {tried:,} "
        f"({b['uncaught']} uncaught, {b['hangs']} over {HANG_SECONDS:.0f} s, slowest {b['slowest_s'] * 1000:.1f} ms) |",
        f"| CLI runs (`info` as a process, `decompress` in-process) | {c['cli_runs']}: {c['unexpected_exit']} unexpected exit codes, "
        f"{c['tracebacks']} tracebacks, {c['multi_line_errors']} multi-line errors |",
        f"| `mnistzip` processes below (largest files, pixel bombs) | peak RSS at most **{worst['peak_rss_mb']:.0f} MB** "
        f"({worst['case']}); longest run {longest['seconds']:.0f} s ({longest['case']}) |",
        "",
        "Mutations: bit flips, byte changes, truncations, insertions, deletions, spliced headers, huge digit counts "
        "behind a valid checksum, and payload changes behind a recomputed checksum (so the range decoder itself "
        "meets garbage). Files are decoded in this process, one after another, by the engine named above. "
        + ("Nothing cuts a decode off: the runtime has no deadline (its escape decoder stops at the 32nd zero of "
           f"an escape prefix, where TFC's spins), so a run over {HANG_SECONDS:.0f} s is a finding, its file saved "
           "for reproduction, not a cut-off." if engine == "numpy" else
           "TensorFlow's decode runs under a deadline that abandons a spinning TFC op; a run over "
           f"{HANG_SECONDS:.0f} s is still counted here as a finding and its file saved."),
        "",
        "## The largest files\n",
        "Each `mnistzip decompress` is a fresh process on the same engine; peak RSS is the process's own. "
        "Valid files repeat the test split's digits; the random payloads are as long as the lower bound "
        "lets them be (the worst a file can make the decoder do) or the 140 KB of the crafted file first reported.\n",
        "| case | exit | seconds | peak RSS (MB) | message |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['case']} | {r['exit']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{'`' + r['message'] + '`' if r['message'] else ''} |" for r in large]
    lines += [
        "",
        "## Pixel bombs\n",
        "| image | bytes | exit | seconds | peak RSS (MB) | message |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['case']} | {r['bytes']:,} | {r['exit']} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{'`' + r['message'] + '`' if r['message'] else ''} |" for r in bombs]
    lines += [
        "",
        "## Bad inputs and the message each gets\n",
        "| input | exit | message |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {int(code)} | `{msg}` |" for name, msg, code in rows]
    lines.append("\nInterruptions (SIGINT, SIGKILL during `compress` of the test split and during a folder output), "
                 "byte-identical output across processes, two concurrent writers, pipes and a closed pipe are "
                 "exercised by `tests/test_robustness.py` and `tests/test_cli.py`.\n")
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
