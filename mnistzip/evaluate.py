"""``mnistzip eval``: rate, distortion, class kept and speed of codecs on a set of digits, against classical ones.

:func:`run` is the whole command: it checks the options, reads the digits,
checks the outputs, measures (:func:`measure` for each codec, ``baselines``
for Pillow's), and writes the pictures and the JSON it was asked for; it
returns the report the command line prints.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import baselines, catalogue, classify, container, metrics, mnist, report, zoo
from .card import SEARCHED, SEARCHED_FIGURES
from .errors import UsageError, require
from .fileio import STDIO, check_writable, write_atomic
from .metrics import rate_of
from .recipe import recipe_family
from .refine import refine
from .search import Search

WARM_UP = 16  # digits coded once before timing: a loaded model's first call sets up its graphs


def measure(codec, images: np.ndarray, lmbda: float | None = None, progress=None, judge=None, guard=None,
            fast: bool = False) -> dict:
    """Every figure ``mnistzip eval`` reports, for one codec on ``images``, coded as ``mnistzip compress`` codes
    them: searched (``search``, the default), rounded with ``fast``, or, with ``lmbda=λ``, refined (see
    ``refine.refine``, which reports to ``progress``), keeping the class ``guard`` reads if one is given.

    Bits on disk are counted two ways: all digits in one archive (the header
    and checksum shared) and each digit as its own one-digit file.
    Speeds are of a warm codec: a few digits go through it before the clock starts.
    ``judge`` (a ``classify.Judge`` for these digits' labels) adds class kept.
    """
    n = len(images)
    warm = images[:WARM_UP]
    codec.decode(codec.encode(warm)[0], len(warm))  # the speeds leave out one-time start-up
    searcher = None if fast or lmbda is not None else Search(codec)
    if searcher is not None:
        searcher.coding(warm)
    started = time.perf_counter()
    if lmbda is not None:
        latents = refine(codec, images, lmbda, progress=progress, guard=guard)
        payload = codec.encode_latents(latents)
        bits = codec.latent_bits(latents)
    elif fast:
        payload, bits = codec.encode(images)
        latents = None
    else:
        latents, rows, symbols = searcher.coding(images)
        payload, bits = codec.encode_coded(latents, rows, symbols), codec.tables.bits(rows, symbols)
    compress_s = time.perf_counter() - started
    archive = container.MzFile(model_id=codec.id, count=n, payload=payload)
    started = time.perf_counter()
    recon = codec.decode(payload, n)
    decompress_s = time.perf_counter() - started
    single = np.array([len(s) for s in codec.encode_each(images, latents)])
    one_digit_overhead = container.MzFile(model_id=codec.id, count=1, payload=b"").overhead_bytes
    suffix = (" --fast" if fast and lmbda is None else "" if lmbda is None else " --refine" if guard is None
              else " --refine --keep-class")  # see SEARCHES
    return dict(
        model=codec.name + suffix,
        family=family_of(codec) + suffix.replace(" --", " +"),
        model_id=codec.id,
        digits=n,
        archive_bytes=archive.size,
        bits_archive=round(metrics.bits_per_digit(archive.size, n), 3),
        bits_single_file=round(float(8 * (single + one_digit_overhead).mean()), 3),
        bits_entropy=round(float(bits.mean()), 3),
        psnr_mean=round(metrics.psnr_mean(images, recon), 3),
        psnr_of_mean_mse=round(metrics.psnr_of_mean_mse(images, recon), 3),
        mae=round(metrics.mae(images, recon), 3),
        ssim=round(metrics.ssim(images, recon), 4),
        **(judge(recon) if judge is not None else {}),
        compress_digits_per_s=round(n / max(compress_s, 1e-9), 1),
        decompress_digits_per_s=round(n / max(decompress_s, 1e-9), 1),
    )


NAMING = ("model", "family", "model_id")  # what a row says of the codec, which a model card says itself


def card_figures(row: dict, searched: bool = False) -> dict:
    """A ``measure`` row as a level's ``test`` figures in its model card (without what names the codec); with
    ``searched`` (a row of the default encoder), as the card keeps those, under ``card.SEARCHED``."""
    if searched:
        return {SEARCHED + k: row[k] for k in SEARCHED_FIGURES if k in row}
    return {k: v for k, v in row.items() if k not in NAMING}


def family_of(codec) -> str:
    """A model's family for curves and BD-rate: its recipe without λ."""
    return recipe_family(codec.card.recipe)


def bd_rates(rows: list[dict], reference: str) -> dict[str, float]:
    """BD-rate (%) of every family against ``reference``, on (rate, PSNR of mean MSE); lossless points excluded.

    None where the two curves share no PSNR range (BD-rate is undefined there).
    """
    curves: dict[str, tuple[list, list]] = {}
    for r in rows:
        if r.get("lossless"):
            continue
        rates, psnrs = curves.setdefault(r["family"], ([], []))
        rates.append(rate_of(r))
        psnrs.append(r["psnr_of_mean_mse"])
    if reference not in curves:
        return {}
    ref = curves[reference]
    out = {}
    for fam, c in curves.items():
        if fam != reference:
            value = metrics.bd_rate(*ref, *c)
            out[fam] = None if np.isnan(value) else round(value, 2)
    return out


@dataclass
class Request:
    """What ``mnistzip eval`` is asked: its options, as the command line takes them."""

    models: list[str] = field(default_factory=list)  # --model, each
    qualities: list[int] = field(default_factory=list)  # --quality, each: rungs of the ladder
    ladder: bool = False  # every rung
    level: int | None = None
    split: str = "test"
    limit: int | None = None
    codecs: str = ""  # classical codecs, comma-separated
    reference: str | None = None  # the family BD-rates are measured against
    plot: str | None = None
    plot_kept: str | None = None
    grid: str | None = None
    skip: int = 0  # the grid's first digit
    json: str | None = None  # '-': standard output
    fast: bool = False
    refine: bool = False
    keep_class: bool = False
    data_dir: str | None = None
    force: bool = False


SPLITS = ("test", "train", "fonts")  # what eval measures on: MNIST's two splits, and printed digits (classify)
GRID_DIGITS = 8  # the grid's columns
COLUMNS = [  # the table eval prints: (title, the row's key)
    ("model", "model"), ("id", "model_id"), ("bits", "bits_archive"), ("1-file", "bits_single_file"),
    ("entropy", "bits_entropy"), ("PSNR avg", "psnr_mean"), ("PSNR mse", "psnr_of_mean_mse"), ("kept", "class_kept"),
    ("2nd", "class_kept_second"), ("MAE", "mae"), ("SSIM", "ssim"), ("enc/s", "compress_digits_per_s"),
    ("dec/s", "decompress_digits_per_s"),
]


def table(report: dict) -> tuple[list[str], list[list[str]]]:
    """eval's table of a report: (headers, cells); a lossless codec's PSNR says so."""
    return [title for title, _ in COLUMNS], [["lossless" if r.get("lossless") and key.startswith("psnr") else
                                               "" if r.get(key) is None else str(r[key]) for _, key in COLUMNS]
                                              for r in report["results"]]


def legend(report: dict) -> list[str]:
    """What the table's columns mean, then each BD-rate: the paragraphs printed under eval's table."""
    ref, second = report["classifiers"]["reference"], report["classifiers"]["second"]
    bd = report["bd_rate"]
    return [
        "bits: per digit on disk, all the digits in one .mz file; 1-file: each digit in a file of its own; entropy: "
        "the ideal code length. PSNR (255 peak): avg, the mean of each digit's; mse, that of the mean squared error. "
        f"kept: the % of digits whose reconstruction a classifier ({ref['name']}, a {ref['kind']}) reads as the "
        f"original's label; it reads {ref['ceiling']:.2f}% of the originals right. 2nd: the same by another kind of "
        f"classifier ({second['name']}, a {second['kind']}; {second['ceiling']:.2f}%). MAE on 0-255. enc/s, dec/s: "
        "digits per second.",
        *(f"BD-rate of {family} against {bd['reference']}: "
          + ("n/a (no PSNR range in common)" if value is None else f"{value:+.1f}%") for family, value in bd["percent"].items()),
    ]


def run(request: Request, track=None) -> dict:
    """The whole command: options, then digits, then outputs checked; then measured, written and returned as
    ``{"split", "digits", "classifiers", "results": rows, "bd_rate": {"reference", "percent"}}``."""
    classical = baselines.parse_codecs(request.codecs)
    if request.split not in SPLITS:
        raise UsageError(f"--split must be {', '.join(SPLITS[:-1])} or {SPLITS[-1]}, not {request.split!r}")
    if request.level is not None and not request.models:
        raise UsageError("--level picks a level of the model given with --model")
    pictures = {name: getattr(request, name) for name in ("plot", "plot_kept", "grid") if getattr(request, name)}
    for name, path in pictures.items():
        if Path(path).suffix.lower() != ".png":
            raise UsageError(f"--{name.replace('_', '-')} writes a PNG picture: give a name ending in .png, not {path}")
    if request.plot or request.plot_kept:
        require("matplotlib", "eval", "eval --plot" if request.plot else "eval --plot-kept")
    images, labels, read = eval_digits(request.split, request.data_dir)
    writes = [*pictures.values(), *([request.json] if request.json not in (None, STDIO) else [])]
    for path in writes:
        check_writable(path, request.force, read)
    picked = codecs_to_measure(request.models, request.qualities, request.ladder, request.level)
    families = planned_families(picked, classical, request.refine, request.keep_class, request.fast)
    if request.reference is not None and request.reference not in families:
        raise UsageError(f"--reference must be one of the measured families ({', '.join(families)}), "
                         f"not {request.reference!r}")
    judge = classify.Judge(labels[: request.limit])
    rows = evaluate(picked, images[: request.limit], request.refine, classical, track, judge, request.keep_class,
                    request.fast)
    reference = request.reference or families[0]
    result = dict(split=request.split, title=split_title(request.split), digits=len(images[: request.limit]),
                  classifiers=judge.ceilings(images[: request.limit]), results=rows,
                  bd_rate=dict(reference=reference, percent=bd_rates(rows, reference)))
    _pictures(request, picked, images, rows, result)
    if request.json not in (None, STDIO):
        write_atomic(request.json, (json.dumps(result, indent=2) + "\n").encode(), force=request.force, inputs=read)
    return result


def _pictures(request: Request, picked, images: np.ndarray, rows: list[dict], result: dict) -> None:
    """The grid and plots the request asked for."""
    title = f"{result['title']}, {result['digits']} digits"
    if request.grid:
        report.plot_grid([codec for codec, _ in picked], images[request.skip : request.skip + GRID_DIGITS],
                         request.grid, request.force, first=request.skip)
    if request.plot:
        report.plot_rd(rows, request.plot, request.force, title=title)
    if request.plot_kept:
        report.plot_class_kept(rows, result["classifiers"], request.plot_kept, request.force, title=title)


def split_title(split: str) -> str:
    """How a report names the digits measured."""
    return f"MNIST {split}" if split in mnist.IMAGE_FILES else f"{split} (printed digits, not MNIST)"


def codecs_to_measure(models: list[str] | None = None, rungs: list[int] | None = None, ladder: bool = False,
                      level: int | None = None):
    """What ``eval`` measures: (codec, on the ladder) for each ``--model`` (at ``level``, if given), each
    ``--quality`` rung, and every rung with ``ladder``; the default rung when nothing is named. Rungs are one
    curve ("ladder")."""
    numbers = list(dict.fromkeys([*(rungs or []), *(r.number for r in catalogue.ladder() if ladder)]))
    picked = [(zoo.load(m, level=level), False) for m in models or []]
    picked += [(codec, True) for codec in zoo.rung_codecs([catalogue.by_rung(n) for n in numbers])]
    return picked or [(zoo.load(), True)]


SEARCHES = (" +fast", " +refine", " +refine +keep-class")  # what a family's name gains when eval measures it too


def planned_families(picked, classical=(), refine: bool = False, keep_class: bool = False,
                     fast: bool = False) -> list[str]:
    """The families the rows will have, in order, before anything is measured (to check ``--reference``)."""
    suffixes = [""] + [s for s, on in zip(SEARCHES, (fast, refine, keep_class)) if on]
    learned = [(catalogue.LADDER_FAMILY if on_ladder else family_of(codec)) + s for codec, on_ladder in picked
               for s in suffixes]
    return list(dict.fromkeys([*learned, *(c.name for c in classical)]))


def eval_digits(split: str, data_dir=None) -> tuple[np.ndarray, np.ndarray, list]:
    """(images, labels, the files read) of what ``eval --split`` names."""
    if split in mnist.IMAGE_FILES:
        read = mnist.files(split, data_dir, with_labels=True)
        return mnist.images(split, data_dir), mnist.labels(split, data_dir), read
    return (*classify.digitset(split), [classify.folder() / classify.digitsets()[split]["file"]])


def evaluate(picked, images: np.ndarray, refine: bool = False, classical=(), track=None, judge=None,
             keep_class: bool = False, fast: bool = False) -> list[dict]:
    """Rows of figures: each picked codec as compress codes by default (and rounded with ``fast``; refined at
    its level's λ with ``refine``; refined keeping the class the guard classifier reads with ``keep_class``), then
    each classical codec at each of its quality points (``baselines``); with ``judge``, class kept in each.

    ``track(description, total)``, if given, returns a function the work reports
    its progress to (the fraction done, out of ``total``).
    """
    guard = classify.load(classify.GUARD) if keep_class else None

    def tracked(description, total):
        return track(description, total) if track is not None else (lambda done: None)

    rows = []
    for codec, on_ladder in picked:
        report = tracked(codec.name, 1)
        measured = [measure(codec, images, judge=judge)]
        report(1)
        if fast:
            measured.append(measure(codec, images, judge=judge, fast=True))
        if refine:
            measured.append(measure(codec, images, lmbda=codec.level.lmbda,
                                    progress=tracked(f"{codec.name} --refine", 1.0), judge=judge))
        if keep_class:
            measured.append(measure(codec, images, lmbda=codec.level.lmbda, guard=guard, judge=judge,
                                    progress=tracked(f"{codec.name} --refine --keep-class", 1.0)))
        if on_ladder:  # the ladder is one curve, whichever models its rungs come from
            for row in measured:
                row["family"] = catalogue.LADDER_FAMILY + row["family"][len(family_of(codec)):]
        rows += measured
    for c in classical:
        for q in baselines.points(c):
            report, done = tracked(c.name if q is None else f"{c.name} q{q}", len(images)), [0]

            def advance(k, report=report, done=done):
                done[0] += k
                report(done[0])

            rows.append(baselines.measure(c, images, q, advance, judge))
    return rows
