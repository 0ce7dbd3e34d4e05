"""Does a digit stay the same digit? Class kept along the quality ladder, on MNIST and on printed digits.

    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/identity.py                  # every rung; docs/results/identity.*
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/identity.py --levers         # and encode-time refinement
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/identity.py --update-cards   # and the shipped cards' class kept
    MNISTZIP_DATA_DIR=../shared/mnist python benchmarks/identity.py --rung 1 --limit 300 --out /tmp/id
    python benchmarks/identity.py --render docs/results/identity.json      # the page and plots again, no measuring

Every chosen rung is measured (``mnistzip.evaluate.measure`` on the NumPy
runtime) on the MNIST test split and on the shipped printed digits
(``eval --split fonts``): bits per digit on disk in one archive, PSNR of the
mean MSE, and class kept by the reference classifier and by the second one
(``mnistzip.classify``), against the targets of ``TARGETS``: the best class
kept among the rungs at or under each rate.

``--levers`` also measures encode-time refinement on the rungs of
``LEVER_RUNGS`` (the largest at or under each target's rate), plain and with
the guard classifier (``refine.refine(guard=...)``: steps that change the
class the guard reads are rejected, steps that restore it kept).

``--update-cards`` writes the test split's class kept into the shipped
models' cards (``mnistzip models --json`` reads them there); only with the
whole split.

Writes ``identity.md``, ``identity.json``, ``identity.png`` (class kept
against bits, MNIST) and ``identity-fonts.png`` (the printed digits) to
``--out`` (default docs/results).
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

import numpy as np  # noqa: E402

from mnistzip import catalogue, classify, zoo  # noqa: E402
from mnistzip.card import add_test_figures  # noqa: E402
from mnistzip.evaluate import eval_digits, measure  # noqa: E402

RESULTS = ROOT / "docs" / "results"
TARGETS = ((8.0, 95.0), (16.0, 97.5), (25.0, 98.3))  # (at most this many bits per digit, class kept %)
KEPT = tuple(classify.FIGURES.values())
SPLITS = ("test", "fonts")


def rung_rows(numbers: list[int], digits: dict, progress=print) -> list[dict]:
    """One row per rung: its figures on each split (``test_*``, ``fonts_*``)."""
    rungs = [catalogue.by_rung(n) for n in numbers]
    rows = []
    for rung, codec in zip(rungs, zoo.rung_codecs(rungs)):
        row = dict(rung=rung.number, id=rung.id, model=rung.card.name, level=rung.level.number, lmbda=rung.level.lmbda)
        for split, (images, judge) in digits.items():
            m = measure(codec, images, judge=judge, fast=True)  # rounding, as identity.md reports it
            row.update({f"{split}_{k}": m[k] for k in ("bits_archive", "psnr_of_mean_mse", *KEPT)})
        progress(f"q{rung.number}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k.startswith("test_")))
        rows.append(row)
    return rows


def targets(rows: list[dict], levers: list[dict] = ()) -> list[dict]:
    """For each target, on the largest rung at or under its rate (the ladder at that rate, as ``lever_rows``
    picks it), the configuration (plain, or with a refinement lever) that keeps the most classes within the
    rate, and its PSNR against the ladder's at that rate (None below the ladder's first rung)."""
    candidates = [dict(rung=r["rung"], config=f"q{r['rung']}", bits=r["test_bits_archive"], psnr=r["test_psnr_of_mean_mse"],
                       kept=r["test_class_kept"], second=r["test_class_kept_second"]) for r in rows]
    candidates += [dict(rung=r["rung"], config=f"q{r['rung']} {r['lever']}", bits=r["bits_archive"], psnr=r["psnr_of_mean_mse"],
                        kept=r["class_kept"], second=r["class_kept_second"]) for r in levers]
    out = []
    for bits, wanted in TARGETS:
        under = [r for r in rows if r["test_bits_archive"] <= bits]
        rung = max(under, key=lambda r: r["test_bits_archive"])["rung"] if under else None
        pool = [c for c in candidates if c["rung"] == rung and c["bits"] <= bits]
        best = max(pool, key=lambda c: c["kept"], default=None)
        ladder = ladder_psnr(rows, best["bits"]) if best else None
        out.append(dict(bits=bits, target=wanted, config=best and best["config"], bits_used=best and best["bits"],
                        class_kept=best and best["kept"], second=best and best["second"],
                        psnr_vs_ladder=None if ladder is None else round(best["psnr"] - ladder, 2),
                        met=bool(best and best["kept"] >= wanted and (ladder is None or best["psnr"] - ladder >= -0.3))))
    return out


def ladder_psnr(rows: list[dict], bits: float) -> float | None:
    """The ladder's PSNR at ``bits``, on the line in log-rate between the two rungs around it (None outside)."""
    points = sorted((r["test_bits_archive"], r["test_psnr_of_mean_mse"]) for r in rows)
    for (b0, p0), (b1, p1) in zip(points, points[1:]):
        if b0 <= bits <= b1:
            return p0 + (p1 - p0) * np.log(bits / b0) / np.log(b1 / b0)
    return None


def lever_rows(rows: list[dict], images, judge, progress=print, before: dict | None = None) -> list[dict]:
    """Refinement, plain and guarded, on the largest rung at or under each target's rate. A row of ``before``
    (``measured_before``) with the same model id, lever and digit count is taken as it is: refining 10,000
    digits with the guard takes up to half an hour a rung."""
    from mnistzip.refine import refine

    guard = classify.load(classify.GUARD)
    numbers = sorted({max((r for r in rows if r["test_bits_archive"] <= bits), key=lambda r: r["test_bits_archive"])
                      ["rung"] for bits, _ in TARGETS if any(r["test_bits_archive"] <= bits for r in rows)})
    out = []
    for rung in [catalogue.by_rung(n) for n in numbers]:
        codec = zoo.rung_codecs([rung])[0]
        for name, chosen in (("refine", None), ("refine + guard", guard)):
            cached = (before or {}).get((codec.id, name, len(images)))
            if cached:
                out.append(dict(cached, rung=rung.number))
                progress(f"q{rung.number} {name}: as measured before ({codec.id})")
                continue
            started = time.perf_counter()
            latents = refine(codec, images, rung.level.lmbda, guard=chosen)
            seconds = time.perf_counter() - started
            recon = codec.synthesize(latents)
            from mnistzip import container, metrics

            size = container.MzFile(model_id=codec.id, count=len(images), payload=codec.encode_latents(latents)).size
            row = dict(rung=rung.number, id=codec.id, lever=name, bits_archive=round(metrics.bits_per_digit(size, len(images)), 3),
                       psnr_of_mean_mse=round(metrics.psnr_of_mean_mse(images, recon), 3), **judge(recon),
                       digits_per_s=round(len(images) / seconds, 1))
            progress(f"q{rung.number} {name}: {row}")
            out.append(row)
    return out


def measured_before(path: Path) -> dict:
    """The lever rows of an earlier report, by (model id, lever, digits)."""
    if not path.exists():
        return {}
    report = json.loads(path.read_text())
    return {(r["id"], r["lever"], report["digits"]["test"]): r for r in report.get("levers", []) if "id" in r}


def markdown(report: dict) -> str:
    """docs/results/identity.md."""
    c = report["classifiers"]
    lines = [
        "# Class kept: does a digit stay the same digit?", "",
        "Generated by `benchmarks/identity.py` (" + report["command"] + f") on {report['machine']}, "
        f"{report['date']}. Each rung of the shipped ladder on the MNIST test split ({report['digits']['test']} "
        f"digits) and on the shipped printed digits ({report['digits']['fonts']}, `eval --split fonts`, made by "
        "`benchmarks/font_digits.py`), on the NumPy runtime, each digit's latents rounded as `compress --fast` "
        "codes them (the default's class kept, searched, is in `mnistzip models`).", "",
        "*Class kept*: the share of digits whose reconstruction a classifier reads as the original's label. "
        "The classifiers (`models/identity/`, trained on the training split by `benchmarks/classifier.py`):", "",
        "| role | classifier | kind | parameters | bytes | MNIST test (ceiling) | printed digits (ceiling) |",
        "|---|---|---|---|---|---|---|",
    ]
    for role in classify.ROLES:
        e = c[role]
        lines.append(f"| {role} | {e['name']} | {e['kind']} | {e['parameters']:,} | {e['bytes']:,} | "
                     f"{e['ceiling']['test']:.2f}% | {e['ceiling']['fonts']:.2f}% |")
    lines += ["", "## The ladder", "",
              "| rung | model, level | bits | PSNR (dB) | class kept | 2nd | printed: bits | PSNR | kept | 2nd |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rungs"]:
        lines.append(
            f"| q{r['rung']} | {r['model']} {r['level']} | {r['test_bits_archive']:.1f} | {r['test_psnr_of_mean_mse']:.2f} "
            f"| {r['test_class_kept']:.2f}% | {r['test_class_kept_second']:.2f}% | {r['fonts_bits_archive']:.1f} | "
            f"{r['fonts_psnr_of_mean_mse']:.2f} | {r['fonts_class_kept']:.1f}% | {r['fonts_class_kept_second']:.1f}% |")
    lines += ["", "bits: per digit on disk, all digits in one archive. PSNR: of the mean MSE. 2nd: class kept by the "
              "second classifier.", "", "![class kept against bits](identity.png)", "",
              "![class kept against bits, printed digits](identity-fonts.png)", "",
              "## Targets (MNIST test)", "",
              "On the largest rung at or under each rate, the configuration that keeps the most classes within it "
              "(the rung, or the rung with a refinement lever measured below); PSNR against the ladder's at the "
              "same rate (a line in log-rate between the rungs around it; none below the first rung), which may "
              "not fall more than 0.3 dB.", "",
              "| at most | target | best | bits | class kept | 2nd | PSNR vs ladder | |", "|---|---|---|---|---|---|---|---|"]
    for t in report["targets"]:
        if t["config"] is None:
            lines.append(f"| {t['bits']:g} bits | {t['target']}% | – | | | | | **not met** |")
            continue
        delta = "" if t["psnr_vs_ladder"] is None else f"{t['psnr_vs_ladder']:+.2f} dB"
        lines.append(f"| {t['bits']:g} bits | {t['target']}% | {t['config']} | {t['bits_used']:.2f} | "
                     f"{t['class_kept']:.2f}% | {t['second']:.2f}% | {delta} | {'met' if t['met'] else '**not met**'} |")
    if report.get("levers"):
        lines += ["", "## Encode-time refinement (`--levers`)", "",
                  "| rung | encoder | bits | PSNR (dB) | class kept | 2nd | digits/s |", "|---|---|---|---|---|---|---|"]
        plain = {r["rung"]: r for r in report["rungs"]}
        for r in report["levers"]:
            p = plain[r["rung"]]
            if r["lever"] == "refine":
                lines.append(f"| q{r['rung']} | plain | {p['test_bits_archive']:.2f} | {p['test_psnr_of_mean_mse']:.2f} | "
                             f"{p['test_class_kept']:.2f}% | {p['test_class_kept_second']:.2f}% | |")
            lines.append(f"| q{r['rung']} | {r['lever']} | {r['bits_archive']:.2f} | {r['psnr_of_mean_mse']:.2f} | "
                         f"{r['class_kept']:.2f}% | {r['class_kept_second']:.2f}% | {r['digits_per_s']:.0f} |")
        lines += ["", "refine: `compress --refine` (a greedy search of each digit's latents for fewer bits + λ·MSE, λ "
                  "of the rung's level). refine + guard: `compress --keep-class`, the same search where a step that "
                  "changes the class a third classifier "
                  f"({c.get('guard', {}).get('name', 'guard')}, never one that reports) reads in the original is "
                  "rejected, and one that restores it kept. digits/s: encoding, on a machine shared with training."]
    return "\n".join(lines) + "\n"


def write(report: dict, out: Path) -> None:
    """identity.json, identity.md and the two plots."""
    from mnistzip.report import plot_class_kept

    report["targets"] = targets(report["rungs"], report.get("levers", []))
    out.mkdir(parents=True, exist_ok=True)
    (out / "identity.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "identity.md").write_text(markdown(report))
    for split, name in (("test", "identity.png"), ("fonts", "identity-fonts.png")):
        rows = report["rungs"]
        points = [dict(family="ladder", bits_archive=r[f"{split}_bits_archive"],
                       **{k: r[f"{split}_{k}"] for k in KEPT}) for r in rows]
        if split == "test" and report.get("levers"):
            points += [dict(family=f"ladder {r['lever']}", bits_archive=r["bits_archive"],
                            **{k: r[k] for k in KEPT}) for r in report["levers"]]
        ceilings = {role: dict(name=c["name"], ceiling=c["ceiling"][split])
                    for role, c in report["classifiers"].items() if role in classify.ROLES}
        title = "MNIST test" if split == "test" else "printed digits (not MNIST)"
        plot_class_kept(points, ceilings, out / name, force=True, title=f"{title}, {report['digits'][split]} digits")
    print(f"wrote {out / 'identity.md'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rung", type=int, action="append", help="rungs to measure (default: all)")
    parser.add_argument("--limit", type=machine.count, default=None, help="only the first N digits of each set")
    parser.add_argument("--levers", action="store_true", help="measure encode-time refinement too")
    parser.add_argument("--update-cards", action="store_true", help="write class kept into the shipped cards")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--render", type=Path, help="write the page and plots of a saved identity.json again")
    parser.add_argument("--fresh", action="store_true", help="measure the levers again instead of reusing the rows "
                        "of OUT/identity.json with the same model id")
    args = parser.parse_args(argv)
    if args.render:
        report = json.loads(args.render.read_text())
        write(report, args.out)
        return 0
    if args.update_cards and (args.limit or args.rung):
        parser.error("--update-cards needs every rung and the whole test split")

    digits, ceilings = {}, {}
    for split in SPLITS:
        images, labels, _ = eval_digits(split)
        images, labels = images[: args.limit], labels[: args.limit]
        judge = classify.Judge(labels)
        digits[split] = (images, judge)
        ceilings[split] = judge.ceilings(images)
    entries = {e["name"]: e for e in classify.index()["classifiers"]}
    roles = classify.index()["roles"]
    classifiers = {role: dict(name=name, kind=entries[name]["kind"], parameters=entries[name]["parameters"],
                              bytes=entries[name]["bytes"],
                              ceiling={s: ceilings[s][role]["ceiling"] for s in SPLITS} if role in classify.ROLES else None)
                   for role, name in roles.items()}
    numbers = args.rung or [r.number for r in catalogue.ladder()]
    rows = rung_rows(numbers, digits)
    report = dict(command=" ".join(["python benchmarks/identity.py", *(sys.argv[1:] if argv is None else argv)]),
                  machine=machine.describe(),
                  date=time.strftime("%Y-%m-%d"), digits={s: len(digits[s][0]) for s in SPLITS},
                  classifiers=classifiers, rungs=rows)
    if args.levers:
        before = {} if args.fresh else measured_before(args.out / "identity.json")
        report["levers"] = lever_rows(rows, *digits["test"], before=before)
    if args.update_cards:
        by_model: dict[str, dict] = {}
        for r in rows:
            by_model.setdefault(r["model"], {})[r["level"]] = {k: r[f"test_{k}"] for k in KEPT}
        for name, figures in by_model.items():
            add_test_figures(catalogue.models_dir() / name, figures)
            print(f"{name}: class kept written for levels {sorted(figures)}")

    write(report, args.out)
    for t in report["targets"]:
        print(f"≤ {t['bits']:g} bits: {t['config']} keeps {t['class_kept']}% (target {t['target']}%), "
              f"PSNR {t['psnr_vs_ladder']} dB against the ladder{'' if t['met'] else ': not met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
