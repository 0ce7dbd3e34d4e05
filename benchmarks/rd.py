"""Rate–distortion of the quality ladder against the seed recipe and the classical codecs.

    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/rd.py             # the shipped ladder, searched and --fast
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/rd.py --refine    # and with --refine's exhaustive search
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/rd.py --cards     # and record the default's figures in the
                                                                          # shipped model cards (what `models` shows)
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/rd.py --train     # retrain the ladder into runs/ first
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/rd.py --model runs/m   # one model's levels (prints only)

Every rung is measured on the MNIST test split, coded as ``mnistzip compress``
codes by default (the search), with ``--fast`` and, asked, with ``--refine``:
bits on disk inside one archive
of the split, entropy bits, PSNR of the mean MSE and mean per-digit PSNR,
encode and decode digits per second. The BD-rate is taken against the seed
recipe's λ sweep (``benchmarks/seed_experiments.py lambda``, whose figures are
the "seed" rows of docs/results/rd.json, with the classical codecs' rows).
Writes docs/results/rd.md, docs/results/rd.png and docs/results/ladder.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import machine  # noqa: E402  (benchmarks/machine.py)
from mnistzip.blas import one_thread  # noqa: E402

machine.unset_forced()
one_thread()  # before NumPy loads, as the command line does: the speeds are the commands'

from mnistzip import card, catalogue, classify, metrics, mnist, zoo  # noqa: E402
from mnistzip.codec import Codec, engine_name  # noqa: E402
from mnistzip.evaluate import card_figures, measure  # noqa: E402
from mnistzip.fileio import replace_atomic  # noqa: E402
from mnistzip.metrics import rate_of  # noqa: E402

RESULTS = ROOT / "docs" / "results"
REFERENCE = RESULTS / "rd.json"  # seed sweep + classical codecs, from the eval command in the README
ENCODERS = ("search", "fast", "refine")  # compress's default, --fast, --refine: a row's "encoder"
CURVE_NAMES = {"search": "ladder", "fast": "ladder --fast", "refine": "ladder --refine"}
SUFFIX = {"search": "", "fast": " --fast", "refine": " --refine"}
TARGETS = dict(bd_rate=-40.0, psnr_at_25_bits=19.5, psnr_at_8_bits=14.5)


def cache_key(model_id: str, digits: int, search_lmbda: float | None) -> str:
    """What a refined row depends on: a model id names its weights, gains and tables; the search its λ."""
    return f"{model_id}/{digits}/{search_lmbda}"


def measured_before(path: Path) -> dict:
    """The refined rows of the last results (ladder.json), by cache key: a rerun refines only rungs that are new."""
    if not path.exists():
        return {}
    rows = json.loads(path.read_text())["rows"]
    return {cache_key(r["model_id"], r["digits"], float(r["lmbda"])): r for r in rows
            if r.get("encoder", "refine" if r.get("refined") else "fast") == "refine"}


def rungs(args) -> list[Codec]:
    """The rungs to measure: every level of --model, of fresh trainings of the shipped recipes, or the shipped ladder."""
    if args.model:
        codec = Codec.load(args.model)
        return [codec.at_level(level.number) for level in codec.card.levels]
    if not args.train:
        return zoo.rung_codecs(catalogue.ladder())
    from mnistzip.train import TrainConfig, train

    out = []
    for card in {rung.card.name: rung.card for rung in catalogue.ladder()}.values():
        path = ROOT / "runs" / f"{card.name}-retrained"
        if not path.exists():
            print(f"training {path} with: {card.raw['command']}", flush=True)
            train(TrainConfig(**card.recipe), path, resume=True, command=card.raw["command"])
        codec = Codec.load(path)
        out += [codec.at_level(level.number) for level in codec.card.levels]
    return out


def record_in_cards(rows: list[dict]) -> None:
    """Each rung's figures as compress codes by default, in its model card's test figures (``card.SEARCHED``): what
    ``mnistzip models`` shows, and the rate ``--bits`` chooses by (``card.Level.bits``)."""
    by_model: dict = {}
    for rung, row in zip(catalogue.ladder(), [r for r in rows if r["encoder"] == "search"]):
        figures = card_figures(row, searched=True)
        by_model.setdefault(rung.card.path, {})[rung.level.number] = figures
    for path, figures in by_model.items():
        card.add_test_figures(path, figures)
        print(f"recorded the default's figures of {len(figures)} levels in {path}/{card.CARD_FILE}")


def best_psnr_within(rows: list[dict], bits: float) -> float | None:
    """The highest PSNR of the mean MSE among rows using at most ``bits`` per digit."""
    fits = [r["psnr_of_mean_mse"] for r in rows if rate_of(r) <= bits]
    return max(fits) if fits else None


def curve(rows: list[dict]) -> tuple[list[float], list[float]]:
    """(rates, PSNRs) of rows: one curve's arguments to metrics.bd_rate and rate_savings."""
    return [rate_of(r) for r in rows], [r["psnr_of_mean_mse"] for r in rows]


def markdown(rows: list[dict], summary: dict, savings: dict, n: int, ran_on: str) -> str:
    """docs/results/rd.md: how to reproduce, the table, the verdicts, the plot."""
    head = ("| quality | model | id | λ | bits/digit on disk | entropy bits | one-digit file bits | PSNR of mean MSE (dB) "
            "| PSNR avg (dB) | SSIM | enc digits/s | dec digits/s |\n" + "|---" * 12 + "|\n")
    body = "".join(
        f"| {r['quality']}{SUFFIX[r['encoder']]} | {r['model'].removesuffix(SUFFIX[r['encoder']])} "
        f"| {r['model_id']} | {r['lmbda']:g} "
        f"| {r['bits_archive']:.2f} | {r['bits_entropy']:.2f} | {r['bits_single_file']:.1f} "
        f"| {r['psnr_of_mean_mse']:.2f} | {r['psnr_mean']:.2f} | {r['ssim']:.3f} "
        f"| {r['compress_digits_per_s']:,.0f} | {r['decompress_digits_per_s']:,.0f} |\n"
        for r in rows
    )
    curves = [e for e in ENCODERS if any(e in v for v in summary.values())]
    verdicts = "".join(
        f"| {k} | {v['target']} | " + " | ".join(str(v.get(e, "-")) for e in curves) + " |\n"
        for k, v in summary.items()
    )
    profile_rows = "".join(
        f"| {CURVE_NAMES[name]} | " + " | ".join(f"{r:+.0f}%" for _, r in points) + " |\n"
        for name, points in savings.items()
    )
    psnrs = next(iter(savings.values()), [])
    profile = (
        "\nBits against the seed curve at each PSNR of the common range (the BD-rate is their mean in log-rate): "
        "where the ladder gains least is where the next model pays most.\n\n"
        "| curve | " + " | ".join(f"{p:.1f} dB" for p, _ in psnrs) + " |\n" + "|---" * (len(psnrs) + 1) + "|\n"
        + profile_rows
    ) if savings else ""
    return (
        "# Rate–distortion: the quality ladder against the seed recipe\n\n"
        "Reproduce: `MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/rd.py --refine --cards` "
        "(`--train` retrains the ladder from the command in its model.json first).\n"
        f"Measured on {n:,} MNIST test digits (the models never saw them); machine: {ran_on}. "
        "Bits on disk are real `.mz` sizes of one archive holding the whole split (header and CRC included). "
        "PSNR has a 255 peak. Plain rows are `mnistzip compress` as it codes by default: each digit's symbols "
        "searched for fewer bits + λ·MSE, the likeliest moves checked exactly (`mnistzip/search.py`). "
        "`--fast` rows round each latent instead; `--refine` rows try every step of every dimension. "
        "The decoder and the file format are the same for all three; the speeds are each encoder's, on "
        "one process.\n\n"
        + head + body
        + "\n| target | wanted | " + " | ".join(CURVE_NAMES[e] for e in curves) + " |\n"
        + "|---" * (len(curves) + 2) + "|\n" + verdicts + profile
        + "\nThe seed curve is the seed recipe's λ sweep (λ = 300 … 4000, "
        "[seed-lambda.md](seed-lambda.md)); BD-rate integrates over the PSNR range both curves cover. "
        "What each lever gave: [levers.md](levers.md).\n\n"
        "![rate-distortion](rd.png)\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a variable-rate model directory (default: the shipped ladder); "
                        "only prints, docs/results are the ladder's")
    parser.add_argument("--train", action="store_true", help="retrain the shipped ladder's recipe into runs/")
    parser.add_argument("--refine", action="store_true", help="also measure with encode-time refinement (slow)")
    parser.add_argument("--refine-up-to", type=float, default=60.0, metavar="BITS",
                        help="refine only rungs of at most this many bits per digit (where the seed curve is)")
    parser.add_argument("--limit", type=machine.count, help="only the first N test digits")
    parser.add_argument("--cards", action="store_true",
                        help="write the default encoder's figures into the shipped model cards (whole split only)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "rd-cache.json",
                        help="refined figures of this run, by model id and digit count (resumable runs); those of "
                        "the ladder.json in --out are reused too")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="where rd.md, rd.png and ladder.json go (default: docs/results)")
    parser.add_argument("--fresh", action="store_true",
                        help="measure the refined rows again instead of reusing them (after a change to --refine)")
    args = parser.parse_args()
    ran_on = f"{machine.describe()}, the {engine_name()} engine"
    print(ran_on, flush=True)

    digits = mnist.images("test")[: args.limit]
    judge = classify.Judge(mnist.labels("test")[: args.limit])
    reference = json.loads(REFERENCE.read_text())["results"]
    seed = [r for r in reference if r["family"] == "seed"]
    cache = {}
    if not args.fresh:
        cache.update(measured_before(args.out / "ladder.json"))
        cache.update(json.loads(args.cache.read_text()) if args.cache.exists() else {})
    rows: list[dict] = []
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    for rung, codec in enumerate(rungs(args), start=1):
        refining = args.refine and codec.level.bits <= args.refine_up_to
        for encoder in ENCODERS if refining else ENCODERS[:2]:
            started = time.perf_counter()
            key = cache_key(codec.id, len(digits), codec.level.lmbda)
            row = cache.get(key) if encoder == "refine" else None  # only the slow refined rows are kept
            if row is None:
                row = measure(codec, digits, lmbda=codec.level.lmbda if encoder == "refine" else None,
                              fast=encoder == "fast", judge=judge)
                if encoder == "refine":
                    cache[key] = row
                    replace_atomic(args.cache, json.dumps(cache, indent=1).encode())  # an interrupt keeps the rest
            row = dict(row, model=codec.name + SUFFIX[encoder], quality=rung, lmbda=codec.level.lmbda,
                       encoder=encoder, refined=encoder == "refine")
            rows.append(row)
            print(f"q{rung} ({codec.name}){SUFFIX[encoder]}: {row['bits_archive']:.2f} bits/digit, "
                  f"{row['psnr_of_mean_mse']:.2f} dB (avg {row['psnr_mean']:.2f}), "
                  f"{row['compress_digits_per_s']:,.0f} digits/s, {time.perf_counter() - started:.0f} s", flush=True)
    summary, savings = {}, {}
    for name in ENCODERS:
        pick = [r for r in rows if r["encoder"] == name]
        if not pick:
            continue
        figures = dict(bd_rate=round(metrics.bd_rate(*curve(seed), *curve(pick)), 1),
                       psnr_at_25_bits=best_psnr_within(pick, 25.0), psnr_at_8_bits=best_psnr_within(pick, 8.0))
        savings[name] = [(round(p, 2), round(r, 1)) for p, r in metrics.rate_savings(*curve(seed), *curve(pick))]
        print(f"{CURVE_NAMES[name]}: bits against the seed curve at "
              + ", ".join(f"{p:.1f} dB {r:+.0f}%" for p, r in savings[name]))
        for key, value in figures.items():
            summary.setdefault(key, dict(target=("≤ " if key == "bd_rate" else "≥ ") + f"{TARGETS[key]:g}"))
            summary[key][name] = value
    if args.cards and not args.model and not args.train and args.limit is None:
        record_in_cards(rows)
    for key, v in summary.items():
        print(f"{key}: target {v['target']}, " + ", ".join(f"{CURVE_NAMES[e]} {v[e]}" for e in ENCODERS if e in v))
    if args.model:  # one model's levels are not the ladder: docs/results stay as they are
        print(f"docs/results not written: --model measures {args.model} only (its rows are in {args.cache})")
        return

    from mnistzip.report import plot_rd

    ladder = [dict(r, family="mnistzip " + CURVE_NAMES[r["encoder"]]) for r in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    plot_rd(ladder + [dict(r, family="seed recipe" if r["family"] == "seed" else r["family"]) for r in reference],
            args.out / "rd.png", force=True, title=f"MNIST test split, {len(digits):,} digits")
    (args.out / "ladder.json").write_text(
        json.dumps(dict(digits=len(digits), rows=rows, summary=summary, savings=savings), indent=2) + "\n"
    )
    (args.out / "rd.md").write_text(markdown(rows, summary, savings, len(digits), ran_on))
    print(f"wrote {args.out / 'rd.md'}, {args.out / 'rd.png'}, {args.out / 'ladder.json'}")


if __name__ == "__main__":
    main()
