"""Rate, distortion and speed of a codec on a set of digits."""

from __future__ import annotations

import time

import numpy as np

from . import container, metrics
from .refine import refine as search

WARM_UP = 16  # digits coded once before timing: a loaded model's first call sets up its graphs


def measure(codec, images: np.ndarray, refine: float | None = None, progress=None, judge=None, guard=None) -> dict:
    """Every figure ``mnistzip eval`` reports, for one codec on ``images``.

    Bits on disk are counted two ways: all digits in one archive (the header
    and checksum shared) and each digit as its own one-digit file. With
    ``refine=λ`` the latents are refined at encode time (see ``refine.refine``, which
    reports to ``progress``), keeping the class ``guard`` reads if one is given.
    Speeds are of a warm codec: a few digits go through it before the clock starts.
    ``judge`` (a ``classify.Judge`` for these digits' labels) adds class kept.
    """
    n = len(images)
    warm = images[:WARM_UP]
    codec.decode(codec.encode(warm)[0], len(warm))  # the speeds leave out one-time start-up
    started = time.perf_counter()
    if refine is None:
        payload, bits = codec.encode(images)
        latents = None
    else:
        latents = search(codec, images, refine, progress=progress, guard=guard)
        payload = codec.encode_latents(latents)
        bits = codec.latent_bits(latents)
    compress_s = time.perf_counter() - started
    archive = container.MzFile(model_id=codec.id, count=n, payload=payload)
    started = time.perf_counter()
    recon = codec.decode(payload, n)
    decompress_s = time.perf_counter() - started
    single = np.array([len(s) for s in codec.encode_each(images, latents)])
    one_digit_overhead = container.MzFile(model_id=codec.id, count=1, payload=b"").overhead_bytes
    suffix = "" if refine is None else " --refine" if guard is None else " --refine --keep-class"
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


def card_figures(row: dict) -> dict:
    """A ``measure`` row as a level's ``test`` figures in its model card (without what names the codec)."""
    return {k: v for k, v in row.items() if k not in NAMING}


def family_of(codec) -> str:
    """A model's family for curves and BD-rate: its recipe without λ."""
    from .recipe import recipe_family

    return recipe_family(codec.card.recipe)


def rate_of(row: dict) -> float:
    """The rate a curve uses: bits on disk inside one archive for mnistzip models, per-file for classical codecs."""
    return row.get("bits_archive") or row["bits_single_file"]


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


def codecs_to_measure(models: list[str] | None = None, rungs: list[int] | None = None, ladder: bool = False,
                      level: int | None = None):
    """What ``eval`` measures: (codec, on the ladder) for each ``--model`` (at ``level``, if given), each
    ``--quality`` rung, and every rung with ``ladder``; the default rung when nothing is named. Rungs are one
    curve ("ladder")."""
    from . import zoo
    from .errors import UsageError

    if level is not None and not models:
        raise UsageError("--level picks a level of the model given with --model")
    numbers = list(dict.fromkeys([*(rungs or []), *(r.number for r in zoo.ladder() if ladder)]))
    picked = [(zoo.load(m, level=level), False) for m in models or []]
    picked += [(codec, True) for codec in zoo.rung_codecs([zoo.by_rung(n) for n in numbers])]
    return picked or [(zoo.load(), True)]


def check_extras(picked, classical=(), refine: bool = False, plot: bool = False) -> None:
    """Refuse at once, not after the measuring, what needs ``mnistzip[eval]``: a plot (matplotlib), or BD-rates
    between several curves (scipy)."""
    from . import zoo
    from .errors import require

    if plot:
        require("matplotlib", "eval", "eval --plot")
    curves = {zoo.LADDER_FAMILY if on_ladder else family_of(codec) for codec, on_ladder in picked}
    if refine or classical or len(curves) > 1:
        require("scipy", "eval", "BD-rate (eval of several curves)")


SPLITS = ("test", "train", "fonts")  # what eval measures on: MNIST's two splits, and printed digits (classify)


def eval_digits(split: str, data_dir=None) -> tuple[np.ndarray, np.ndarray, list]:
    """(images, labels, the files read) of what ``eval --split`` names."""
    from . import classify, mnist
    from .errors import InputError

    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}: expected {', '.join(SPLITS[:-1])} or {SPLITS[-1]}")
    if split in mnist.IMAGE_FILES:
        read = mnist.files(split, data_dir, with_labels=True)
        return mnist.images(split, data_dir), mnist.labels(split, data_dir), read
    return (*classify.digitset(split), [classify.folder() / classify.digitsets()[split]["file"]])


def evaluate(picked, images: np.ndarray, refine: bool = False, classical=(), track=None, judge=None,
             keep_class: bool = False) -> list[dict]:
    """Rows of figures: each picked codec (and refined at its level's λ with ``refine``; refined keeping the
    class the guard classifier reads with ``keep_class``), then each classical codec at each of its quality
    points (``baselines``); with ``judge``, class kept in each.

    ``track(description, total)``, if given, returns a function the work reports
    its progress to (the fraction done, out of ``total``).
    """
    from . import baselines, classify, zoo

    guard = classify.load(classify.GUARD) if keep_class else None

    def tracked(description, total):
        return track(description, total) if track is not None else (lambda done: None)

    rows = []
    for codec, on_ladder in picked:
        report = tracked(codec.name, 1)
        measured = [measure(codec, images, judge=judge)]
        report(1)
        if refine:
            measured.append(measure(codec, images, refine=codec.level.lmbda,
                                    progress=tracked(f"{codec.name} --refine", 1.0), judge=judge))
        if keep_class:
            measured.append(measure(codec, images, refine=codec.level.lmbda, guard=guard, judge=judge,
                                    progress=tracked(f"{codec.name} --refine --keep-class", 1.0)))
        if on_ladder:  # the ladder is one curve, whichever models its rungs come from
            for row in measured:
                row["family"] = zoo.LADDER_FAMILY + row["family"][len(family_of(codec)):]
        rows += measured
    for c in classical:
        for q in baselines.points(c):
            report, done = tracked(c.name if q is None else f"{c.name} q{q}", len(images)), [0]

            def advance(k, report=report, done=done):
                done[0] += k
                report(done[0])

            rows.append(baselines.measure(c, images, q, advance, judge))
    return rows


def bd_report(rows: list[dict], reference: str | None = None) -> tuple[str, dict]:
    """(the reference family, BD-rate of every other family against it); by default the first row's family."""
    from .errors import InputError

    families = list(dict.fromkeys(r["family"] for r in rows))
    reference = reference or families[0]
    if reference not in families:
        raise InputError(f"--reference {reference!r} is not among the measured families: {', '.join(families)}")
    return reference, bd_rates(rows, reference)
